"""``stem-zoo train --workers``: MultiWorkerMirroredStrategy over a chief and a worker on localhost.

Each process runs the CLI on its own tiny in-memory stand-in for the CBED dataset (as in
tests/test_zoo_train_metrics.py), and the two stand-ins hold different random stacks: weights
that end equal can only come from gradients all-reduced between the processes. Both are
interrupted once and resumed, each from its own backup.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest

from stem_zoo import cli
from stem_zoo.train import TF_CONFIG_EXAMPLE, is_chief, read_tf_config

EPOCHS, INTERRUPT_AT, BATCH, TRAIN_EXAMPLES = 2, 1, 8, 96
KEPT = TRAIN_EXAMPLES // 2  # step positions cycle through -1, 0, 5, 10 and the entry drops 0 and 10

SCRIPT = textwrap.dedent("""
    import dataclasses, json, os, sys, tempfile, types
    from pathlib import Path
    import numpy as np, tensorflow as tf, keras, tensorflow_datasets as tfds
    from stem_zoo import cli, data, registry, train as train_module

    task = json.loads(os.environ["TF_CONFIG"])["task"]["type"]
    seed, n_train, results = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])

    def stacks(n, seed):
        # (4, 16, 16) probe-fraction stacks, a larger disk for intermixed; the same step positions in every process
        # (so the same number of batches), different stacks and labels per seed
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, n)
        r = np.hypot(*np.meshgrid(np.arange(16) - 7.5, np.arange(16) - 7.5))
        x = (r < np.where(y == 1, 4.5, 3.5)[:, None, None, None]) + rng.uniform(0, 0.3, (n, 4, 16, 16))
        return {"cbed": (x / x.sum(axis=(2, 3), keepdims=True)).astype("float32"), "interface": y.astype("int64"),
                "step_position": np.resize(np.array([-1, 0, 5, 10], "int32"), n)}

    splits = {"train": stacks(n_train, seed), "validation": stacks(20, 99)}
    features = {"cbed": tfds.features.Tensor(shape=(4, 16, 16), dtype=np.float32),
                "interface": tfds.features.ClassLabel(names=["rough", "intermixed", "abrupt"]),
                "step_position": tfds.features.Scalar(dtype=np.int32)}
    builder = types.SimpleNamespace(
        name="tiny_cbed", info=types.SimpleNamespace(version="0.0.0", features=features),
        as_dataset=lambda split, shuffle_files=False: tf.data.Dataset.from_tensor_slices(splits[split]))
    real = registry.get_entry("cbed_interface_cnn")
    entry = dataclasses.replace(real, input=dataclasses.replace(real.input, crop_shape=(4, 16, 16), feature="cbed"),
                                outputs=("rough", "intermixed", "abrupt"), label="interface",
                                subset={"step_position": (-1, *range(1, 10))}, label_values=())
    train_module.get_entry = lambda model_id: entry
    data.load_builder = lambda dataset, config, data_dir=None: builder

    class Result(keras.callbacks.Callback):
        # the final weights and what this process left in its temporary folder, outside every run folder
        def on_train_end(self, logs=None):
            np.savez(results / f"{task}.npz", *self.model.get_weights())
            tmp = Path(tempfile.gettempdir())
            (results / f"{task}.json").write_text(json.dumps({
                "iterations": int(self.model.optimizer.iterations.numpy()),
                "temporary": sorted(str(p.relative_to(tmp)) for p in tmp.glob("stem-zoo-*/**/*"))}))

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == int(sys.argv[6]):
                raise SystemExit(3)  # as if the job were killed during this epoch

    real_train = train_module.train
    train_module.train = lambda *args, **kwargs: real_train(*args, verbose=0, callbacks=[Result(), Interrupt()],
                                                            **kwargs)
    # --ensemble 1: the entry records an ensemble of three, which one machine trains alone (refused with --workers)
    sys.exit(cli.main(["train", "cbed_interface_cnn", "--workers", "--config", "tiny", "--out", "run",
                       "--epochs", sys.argv[4], "--batch-size", sys.argv[5], "--ensemble", "1"]))
""")


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _weights(path) -> list[np.ndarray]:
    with np.load(path) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def _run_cluster(tmp_path, results, interrupt_at: int = -1) -> dict[str, int]:
    """Start a chief and a worker on free localhost ports, each in its own working and temporary folder.

    Returns their exit codes: 0, or 3 when interrupted at the start of epoch ``interrupt_at``.
    """
    ports = _free_ports(2)
    cluster = {"chief": [f"localhost:{ports[0]}"], "worker": [f"localhost:{ports[1]}"]}
    processes = {}
    for seed, task in enumerate(("chief", "worker"), start=1):
        env = {**os.environ, "TMPDIR": str(tmp_path / f"{task}-tmp"), "CUDA_VISIBLE_DEVICES": "",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task, "index": 0}})}
        processes[task] = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(seed), str(TRAIN_EXAMPLES), str(results), str(EPOCHS), str(BATCH),
             str(interrupt_at)],
            cwd=tmp_path / task, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 150  # a hung collective fails the test instead of hanging it
    outputs = {}
    try:
        for task, process in processes.items():
            outputs[task] = process.communicate(timeout=max(1.0, deadline - time.monotonic()))[0]
    except subprocess.TimeoutExpired:
        for process in processes.values():
            process.kill()
        tails = {task: process.communicate()[0][-3000:] for task, process in processes.items()}
        pytest.fail(f"the workers did not finish in time: {tails}")
    codes = {task: process.returncode for task, process in processes.items()}
    assert set(codes.values()) <= {0, 3}, {task: outputs[task][-4000:] for task in codes}
    return codes


@pytest.mark.slow
def test_chief_and_worker_end_with_the_same_weights_and_only_the_chief_writes(tmp_path):
    results = tmp_path / "results"
    for folder in (results, *(tmp_path / f"{task}{tmp}" for task in ("chief", "worker") for tmp in ("", "-tmp"))):
        folder.mkdir()
    run = tmp_path / "chief" / "run"
    assert _run_cluster(tmp_path, results, interrupt_at=INTERRUPT_AT) == {"chief": 3, "worker": 3}
    assert (run / "checkpoints" / f"epoch{INTERRUPT_AT:03d}.keras").is_file() and not (run / "model.keras").exists()
    assert list((tmp_path / "worker-tmp").glob("stem-zoo-worker0-*/backup/*"))  # the worker's own backup
    assert _run_cluster(tmp_path, results) == {"chief": 0, "worker": 0}

    chief, worker = _weights(results / "chief.npz"), _weights(results / "worker.npz")
    assert len(chief) == len(worker) > 0
    difference = max(float(np.max(np.abs(a - b))) for a, b in zip(chief, worker))
    print(f"largest weight difference between the workers: {difference:.3g}")
    assert difference <= 1e-6  # from different data: only all-reduced gradients give equal weights

    steps = EPOCHS * (KEPT // BATCH)  # the global batch: each worker takes half of every batch of 8
    for task in ("chief", "worker"):  # both resumed, optimizer state included
        seen = json.loads((results / f"{task}.json").read_text())
        assert seen["iterations"] == steps, (task, seen)
    record = json.loads((run / "training.json").read_text())
    assert record["replicas"] == 2 and sorted(record["cluster"]) == ["chief", "worker"]
    assert record["epochs_run"] == EPOCHS - INTERRUPT_AT  # resumed, not from scratch
    assert record["validation"]["n"] == 10
    assert (run / "checkpoints" / f"epoch{EPOCHS:03d}.keras").is_file() and list((run / "logs").rglob("*tfevents*"))
    saved = keras.saving.load_model(run / "model.keras").get_weights()
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(saved, chief)) == 0

    assert not any((tmp_path / "worker").iterdir())  # the worker wrote no run folder of its own
    worker_files = json.loads((results / "worker.json").read_text())["temporary"]
    assert any(f.endswith(f"checkpoints/epoch{EPOCHS:03d}.keras") for f in worker_files)  # but in its temporary one
    assert not list((tmp_path / "worker-tmp").glob("stem-zoo-*"))  # which it deleted at the end
    assert json.loads((results / "chief.json").read_text())["temporary"] == []


def test_workers_without_tf_config_fail_with_an_example(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert cli.main(["train", "cbed_step_cnn", "--workers", "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert "TF_CONFIG" in error and "not set" in error and TF_CONFIG_EXAMPLE in error
    assert not (tmp_path / "run").exists()


def test_an_ensemble_across_workers_is_refused_before_anything_runs(tmp_path, capsys):
    # cbed_interface_cnn records --ensemble 3: its members train one after another on one machine
    assert cli.main(["train", "cbed_interface_cnn", "--workers", "--out", str(tmp_path / "run")]) == 2
    assert "drop --workers" in capsys.readouterr().err and not (tmp_path / "run").exists()


@pytest.mark.parametrize("text, says", [
    ("{cluster: chief}", "not valid JSON"),
    ('{"cluster": {"worker": ["a:1", "b:1"]}}', "no 'cluster' or no 'task'"),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:1"]}, "task": {"type": "worker", "index": 0}}', "'chief' and 'worker'"),
    ('{"cluster": {"worker": ["a", "b:1"]}, "task": {"type": "worker", "index": 0}}', "'host:port'"),
    ('{"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": "worker", "index": 1}}', "is not in its"),
    ('{"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": "evaluator", "index": 0}}', "is not"),
    ('{"cluster": {"chief": ["a:1", "b:1"]}, "task": {"type": "chief", "index": 0}}', "2 chiefs"),
])
def test_malformed_tf_config_says_what_it_must_hold(text, says):
    with pytest.raises(ValueError, match="must be JSON with 'cluster'") as error:
        read_tf_config({"TF_CONFIG": text})
    assert says in str(error.value)


def test_the_chief_is_the_chief_task_else_worker_zero():
    two = {"chief": ["a:1"], "worker": ["b:1"]}
    assert is_chief(read_tf_config({"TF_CONFIG": json.dumps({"cluster": two, "task": {"type": "chief", "index": 0}})}))
    assert not is_chief({"cluster": two, "task": {"type": "worker", "index": 0}})
    workers = {"worker": ["a:1", "b:1"]}
    assert is_chief({"cluster": workers, "task": {"type": "worker", "index": 0}})
    assert not is_chief({"cluster": workers, "task": {"type": "worker", "index": 1}})
