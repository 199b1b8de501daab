"""Training with ``tf.distribute.MirroredStrategy`` (or ``MultiWorkerMirroredStrategy`` over
several machines): checkpoints, resume, TensorBoard.

Fit-time validation (``val_loss``, ``val_<metric>``, what ReduceLROnPlateau, checkpoints and
TensorBoard read) is computed by :func:`single_device_validation` on the whole validation
split, the way :func:`_evaluate_saved` scores the saved model, not by Keras' own
``validation_data`` loop. Under ``tf.function`` Keras 3.15 runs one extra "phantom" step at
the end of a dataset of unknown cardinality (the zoo's pipelines filter, so theirs is
unknown); with a static batch size (``drop_remainder=True``) that step adds a full batch to
every metric's count and nothing to its total, which dilutes each epoch's numbers by
n / (n + batch) (keras-team/keras#23084). Monitoring with ``drop_remainder=True`` also left
out the last short batch. The training set is given its known number of batches so that
training never takes the phantom step either (it also advanced the optimizer's step count).

With ``multi_worker=True`` (``stem-zoo train --workers``) the cluster and this machine's task
come from ``TF_CONFIG`` (:func:`read_tf_config`). Every worker runs the same command; the
batch size stays global (split over all replicas of all workers), and every worker reads the
whole pipeline and keeps its share of each batch (``AutoShardPolicy.DATA``: file sharding would
give the workers different numbers of batches). Only the chief writes the run folder; the
others write their checkpoints and backup to a folder of their own under the system's
temporary folder (the same on a restart, so their backup resumes too) and delete it at the end.

Example (CLI):
    $ stem-zoo train tilt_dcnn --config small --epochs 12 --out runs/tilt_dcnn
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from stem_zoo.registry import get_entry
from stem_zoo.task import task_hook


@dataclass(frozen=True)
class TrainSettings:
    """Training hyper-parameters; a zoo model's own are in its entry (:meth:`for_entry`).

    >>> from stem_zoo.registry import get_entry
    >>> s = TrainSettings.for_entry(get_entry("polarization_dcnn"), epochs=3)
    >>> s.epochs, s.batch_size, s.decay_every_epochs, s.huber_delta
    (3, 64, 10, 25.0)
    """

    epochs: int = 12
    batch_size: int = 32  # global batch, split across replicas
    learning_rate: float = 1e-3
    decay_every_epochs: int = 2
    huber_delta: float = 25.0  # in the label's units, for a task whose loss is a Huber loss (polarization: pm)
    steps_per_epoch: int | None = None
    seed: int = 0
    ensemble: int = 1  # members trained with seeds seed, seed + 1, ...; the saved model averages their outputs

    @classmethod
    def for_entry(cls, entry, **overrides) -> "TrainSettings":
        """The settings a zoo model was trained with (its entry's ``training``: ``settings``, else those of the
        ``stem-zoo train`` command line it records as ``trainer``), then ``overrides`` that are not None; the class
        defaults for anything neither names."""
        names = {f.name for f in fields(cls)}
        recorded = dict(entry.training.get("settings") or settings_of_command(entry.training.get("trainer", "")))
        chosen = {**{k: v for k, v in recorded.items() if k in names},
                  **{k: v for k, v in overrides.items() if v is not None}}
        unknown = sorted(set(chosen) - names)
        if unknown:
            raise ValueError(f"unknown training settings {', '.join(unknown)}; known: {', '.join(sorted(names))}.")
        return cls(**chosen)


# command-line flag (argparse dest) -> TrainSettings field
SETTING_FLAGS = {"epochs": "epochs", "batch_size": "batch_size", "steps_per_epoch": "steps_per_epoch",
                 "learning_rate": "learning_rate", "decay_every": "decay_every_epochs", "seed": "seed",
                 "ensemble": "ensemble"}


def add_arguments(parser) -> None:
    """The arguments of ``stem-zoo train``; the settings' defaults are None: the model's own (:meth:`TrainSettings.for_entry`)."""
    parser.add_argument("model")
    parser.add_argument("--config", default=None, help="dataset config (default: the entry's)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None, help="global batch, split across replicas")
    parser.add_argument("--steps-per-epoch", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--decay-every", type=int, default=None, help="halve the learning rate every this many epochs")
    parser.add_argument("--seed", type=int, default=None, help="seed of the weights, shuffling and augmentation")
    parser.add_argument("--ensemble", type=int, default=None,
                        help="train this many members (seeds --seed, --seed + 1, ...) and save their average")
    parser.add_argument("--out", required=True, help="run folder (resumes if it holds a backup)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--workers", action="store_true",
                        help="one of several machines (MultiWorkerMirroredStrategy): the cluster and this machine's "
                             "task from TF_CONFIG; run the same command on each; only the chief writes --out")


def settings_of_command(command: str) -> dict:
    """The settings a ``stem-zoo train ...`` command line sets (text from a ``(`` on is a comment); {} for other text.

    >>> settings_of_command("stem-zoo train tilt_dcnn --epochs 10 --decay-every 3 (stopped early)")
    {'epochs': 10, 'decay_every_epochs': 3}
    """
    import argparse
    import shlex

    words = shlex.split(command.split("(")[0])
    if words[:2] != ["stem-zoo", "train"]:
        return {}
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    args, _ = parser.parse_known_args([*words[2:], "--out", "-"])
    return {field: getattr(args, flag) for flag, field in SETTING_FLAGS.items() if getattr(args, flag) is not None}


def settings_of_args(args, entry) -> TrainSettings:
    """The settings of parsed ``stem-zoo train`` arguments: the entry's own, overridden by the flags given."""
    return TrainSettings.for_entry(entry, **{field: getattr(args, flag) for flag, field in SETTING_FLAGS.items()})


TF_CONFIG_EXAMPLE = ('{"cluster": {"chief": ["host1:12345"], "worker": ["host2:12345"]}, '
                     '"task": {"type": "chief", "index": 0}}')
_TF_CONFIG_HELP = ("TF_CONFIG must be JSON with 'cluster' (job name 'chief' and/or 'worker' -> list of "
                   "'host:port', the same on every machine) and 'task' (this machine's 'type' and 'index' in "
                   f"that list), e.g. TF_CONFIG='{TF_CONFIG_EXAMPLE}' on host1 and the same with "
                   '"task": {"type": "worker", "index": 0} on host2')


def read_tf_config(environ: Mapping[str, str] | None = None) -> dict:
    """The cluster and task of a multi-worker run, from ``TF_CONFIG`` in ``environ`` (default: ``os.environ``).

    Raises ValueError saying what it must hold when it is missing or malformed (TensorFlow
    itself would quietly train on this machine alone).
    """
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not text:
        raise ValueError(f"--workers reads the cluster from the TF_CONFIG environment variable, which is not set. "
                         f"{_TF_CONFIG_HELP}.")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}). {_TF_CONFIG_HELP}.") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ValueError(f"TF_CONFIG has no 'cluster' or no 'task' object. {_TF_CONFIG_HELP}.")
    if not cluster or set(cluster) - {"chief", "worker"}:
        raise ValueError(f"TF_CONFIG's cluster has jobs {sorted(cluster)}; MultiWorkerMirroredStrategy runs 'chief' "
                         f"and 'worker' jobs only. {_TF_CONFIG_HELP}.")
    for job, addresses in cluster.items():
        if (not isinstance(addresses, list) or not addresses
                or not all(isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses)):
            raise ValueError(f"TF_CONFIG's cluster job {job!r} must be a non-empty list of 'host:port' strings, "
                             f"not {addresses!r}. {_TF_CONFIG_HELP}.")
    if len(cluster.get("chief", [])) > 1:
        raise ValueError(f"TF_CONFIG's cluster has {len(cluster['chief'])} chiefs; at most one. {_TF_CONFIG_HELP}.")
    kind, index = task.get("type"), task.get("index")
    if kind not in cluster or type(index) is not int or not 0 <= index < len(cluster[kind]):
        raise ValueError(f"TF_CONFIG's task {task!r} is not in its cluster {cluster!r}: 'type' must name one of its "
                         f"jobs and 'index' a position in that job's list. {_TF_CONFIG_HELP}.")
    return config


def is_chief(tf_config: dict) -> bool:
    """Whether this task writes the run folder: the 'chief', else worker 0 of a cluster without one."""
    task = tf_config["task"]
    if "chief" in tf_config["cluster"]:
        return task["type"] == "chief"
    return task["type"] == "worker" and task["index"] == 0


def make_strategy(devices: list[str] | None = None, multi_worker: bool = False):
    """MirroredStrategy over ``devices``, else all visible GPUs, else the CPU.

    ``multi_worker``: MultiWorkerMirroredStrategy over the cluster in ``TF_CONFIG`` (each worker's
    GPUs, else its CPU; ring all-reduce between CPUs). It must come before any other TensorFlow op.
    """
    import tensorflow as tf

    if multi_worker:
        if devices is not None:
            raise ValueError("devices are for one machine; with multi_worker each worker uses its own GPUs or CPU.")
        read_tf_config()
        implementation = tf.distribute.experimental.CommunicationImplementation
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=implementation.AUTO if tf.config.list_physical_devices("GPU") else implementation.RING)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if devices is None:
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or ["/cpu:0"]
    return tf.distribute.MirroredStrategy(devices=devices)


def train(
    model_id: str,
    out_dir: str | Path,
    config: str | None = None,
    settings: TrainSettings | None = None,
    data_dir: str | None = None,
    devices: list[str] | None = None,
    verbose: int = 1,
    callbacks: list | None = None,
    multi_worker: bool = False,
) -> dict:
    """Train a zoo model on its dataset; resumes from ``out_dir`` after an interruption.

    Writes ``model.keras`` (final), ``checkpoints/`` (every epoch), ``backup/`` (resume
    state), ``logs/`` (TensorBoard) and ``training.json`` (settings, timings, validation).
    ``multi_worker``: one of the workers in ``TF_CONFIG`` (see the module notes); only the
    chief writes ``out_dir``, and only its record has ``validation``.
    """
    settings = settings or TrainSettings.for_entry(get_entry(model_id))  # the entry's own hyper-parameters
    if settings.ensemble < 1:
        raise ValueError(f"ensemble must be 1 or more members, not {settings.ensemble}.")
    if settings.ensemble > 1:
        if multi_worker:
            raise ValueError("--ensemble trains its members one after another on one machine; drop --workers.")
        return _train_ensemble(model_id, Path(out_dir), config, settings, data_dir, devices, verbose, callbacks)
    tf_config = read_tf_config() if multi_worker else None  # a clear error before TensorFlow starts
    import keras
    import tensorflow as tf

    from stem_zoo import data

    strategy = make_strategy(devices, multi_worker)  # first: MultiWorkerMirroredStrategy precedes every other op
    chief = tf_config is None or is_chief(tf_config)
    entry = get_entry(model_id)
    out = Path(out_dir) if chief else _worker_dir(Path(out_dir), tf_config["task"])
    out.mkdir(parents=True, exist_ok=True)
    config = config or entry.dataset_config
    keras.utils.set_random_seed(settings.seed)
    builder = data.load_builder(entry.dataset, config, data_dir)

    with strategy.scope():
        model = _build(entry)
        loss, optimizer, metrics, schedule = task_hook(entry, "training_setup", required=True)(settings)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    train_ds = data.train_pipeline(builder, entry, settings.batch_size, settings.seed,
                                   repeat=bool(settings.steps_per_epoch))
    if not settings.steps_per_epoch:  # a known length: Keras then takes no phantom step past the end (see the module notes)
        train_ds = train_ds.apply(tf.data.experimental.assert_cardinality(_full_batches(builder, entry, settings.batch_size)))
    if multi_worker:  # each worker keeps its share of every global batch (the module notes)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        train_ds = train_ds.with_options(options)
        if sum(len(job) for job in tf_config["cluster"].values()) > 1:
            with strategy.scope():
                _fit_across_workers(model, train_ds.element_spec)
    val_ds = data.eval_pipeline(builder, "validation", entry, settings.batch_size)
    callbacks = [
        single_device_validation(val_ds, model.loss, metrics),  # first: the callbacks below read its val_* logs
        keras.callbacks.BackupAndRestore(str(out / "backup")),
        *schedule,
        keras.callbacks.ModelCheckpoint(str(out / "checkpoints" / "epoch{epoch:03d}.keras")),
        keras.callbacks.TensorBoard(str(out / "logs")),
        *(callbacks or []),
    ]
    (out / "checkpoints").mkdir(exist_ok=True)
    start = time.perf_counter()
    history = model.fit(train_ds, epochs=settings.epochs,
                        steps_per_epoch=settings.steps_per_epoch, callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    record = {
        "model": model_id,
        "dataset": f"{entry.dataset}/{config}:{builder.info.version}",
        "settings": settings.__dict__,
        "replicas": strategy.num_replicas_in_sync,
        "devices": [d for d in strategy.extended.worker_devices],
        "hardware": _hardware(tf),
        "train_seconds": round(seconds, 1),
        "epochs_run": len(history.history.get("loss", [])),
    }
    stopper = next((c for c in schedule if isinstance(c, keras.callbacks.EarlyStopping) and c.restore_best_weights), None)
    if stopper is not None:  # the saved weights are those of the best epoch, not the last
        record["selected_epoch"] = int(stopper.best_epoch) + 1
    if tf_config is not None:
        record["cluster"] = tf_config["cluster"]
    if not chief:  # its copy of the run is the chief's: nothing of it is kept
        shutil.rmtree(out, ignore_errors=True)
        return record
    model.save(out / "model.keras")
    record["validation"] = _evaluate_saved(out / "model.keras", builder, entry, settings.batch_size)
    (out / "training.json").write_text(json.dumps(record, indent=1))
    return record


def _train_ensemble(model_id: str, out: Path, config, settings: TrainSettings, data_dir, devices, verbose,
                    callbacks) -> dict:
    """Train ``settings.ensemble`` members into ``out/member<i>`` (seeds ``seed + i``; a finished member is
    kept on a restart), then save ``out/model.keras``: one model whose output is the mean of theirs."""
    from dataclasses import replace

    members = []
    for i in range(settings.ensemble):
        folder = out / f"member{i}"
        if (folder / "training.json").exists() and (folder / "model.keras").exists():
            members.append(json.loads((folder / "training.json").read_text()))
            continue
        members.append(train(model_id, folder, config, replace(settings, ensemble=1, seed=settings.seed + i),
                             data_dir, devices, verbose, callbacks))
    import keras

    from stem_zoo import data

    entry = get_entry(model_id)
    model = average_models([keras.saving.load_model(out / f"member{i}" / "model.keras", compile=False)
                            for i in range(settings.ensemble)], name=model_id)
    model.save(out / "model.keras")
    builder = data.load_builder(entry.dataset, config or entry.dataset_config, data_dir)
    record = {**{k: members[0][k] for k in ("model", "dataset", "replicas", "devices", "hardware")},
              "settings": settings.__dict__, "train_seconds": round(sum(m["train_seconds"] for m in members), 1),
              "members": members}
    record["validation"] = _evaluate_saved(out / "model.keras", builder, entry, settings.batch_size)
    (out / "training.json").write_text(json.dumps(record, indent=1))
    return record


def average_models(members: list, name: str = "ensemble"):
    """One Keras model whose output is the mean of ``members``' outputs (same input; e.g. class probabilities).

    >>> import keras, numpy as np
    >>> def member(w):
    ...     x = keras.Input((2,))
    ...     return keras.Model(x, keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant(w))(x))
    >>> float(average_models([member(1.0), member(3.0)])(np.ones((1, 2)))[0, 0])
    4.0
    """
    import keras

    inputs = keras.Input(members[0].input_shape[1:], name=members[0].inputs[0].name)
    renamed = [keras.Model(m.input, m.output, name=f"member{i}") for i, m in enumerate(members)]
    outputs = keras.layers.Average(name="mean", dtype="float32")([m(inputs) for m in renamed])
    return keras.Model(inputs, outputs, name=name)


def _fit_across_workers(model, element_spec) -> None:
    """Let Keras 3.15's ``fit`` run under MultiWorkerMirroredStrategy (call it in the strategy's scope).

    Across workers its TensorFlow trainer reduces values the strategy cannot reduce
    (keras-team/keras#20585): the first batch, averaged as one nested value to build the model
    ("Attempt to convert a value (PerReplica...) to a Tensor"), and each step's scalar logs,
    averaged along an axis 0 they lack. So the model, loss, metrics and optimizer are built here
    from the batch's shapes, ``fit`` skips building them, and each step returns its logs as
    1-element vectors, whose mean over all replicas is the scalar that one machine would log.
    """
    import tensorflow as tf

    model._symbolic_build(data_batch=element_spec)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    train_step = model.train_step
    model.train_step = lambda data: {name: tf.reshape(value, [1]) for name, value in train_step(data).items()}


def _worker_dir(out: Path, task: dict) -> Path:
    """A non-chief worker's folder for ``out``: under the temporary folder, the same for the same run and task."""
    key = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"stem-zoo-{task['type']}{task['index']}-{key}"


def single_device_validation(dataset, loss, metrics):
    """A callback that sets ``val_loss`` and ``val_<metric>`` of the whole ``dataset`` at each epoch's end, on one device.

    The loss is ``loss`` (the compiled loss object, so a loss that callbacks change, e.g.
    a decaying Huber delta, is read as it is now) plus the model's regularization losses,
    as Keras' ``val_loss`` would be; ``metrics`` (the compiled metric objects) are copied
    fresh. Put it before the callbacks that read these logs.
    """
    import keras
    import tensorflow as tf

    class SingleDeviceValidation(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.metrics = [type(m).from_config(m.get_config()) for m in metrics]
            self._predict = None

        def on_epoch_end(self, epoch, logs=None):
            if self._predict is None:
                self._predict = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)
            true, pred = _predict_split(dataset, self._predict)
            regularization = sum(float(keras.ops.convert_to_numpy(v)) for v in self.model.losses)
            logs = logs if logs is not None else {}
            logs["val_loss"] = float(keras.ops.convert_to_numpy(loss(true, pred))) + regularization
            for metric in self.metrics:
                metric.reset_state()
                metric.update_state(true, pred)
                logs[f"val_{metric.name}"] = float(keras.ops.convert_to_numpy(metric.result()))

    return SingleDeviceValidation()


def _predict_split(dataset, predict):
    """(labels, predictions) of every batch of an (input, label) dataset, as numpy arrays."""
    import numpy as np

    true, pred = [], []
    for inputs, labels in dataset:
        pred.append(np.asarray(predict(inputs)))
        true.append(np.asarray(labels))
    return np.concatenate(true), np.concatenate(pred)


def _full_batches(builder, entry, batch_size: int) -> int:
    """Batches per epoch of :func:`stem_zoo.data.train_pipeline` (full batches of the entry's subset)."""
    import tensorflow as tf

    from stem_zoo import data

    if not entry.subset and not entry.label_values:  # every example: the split's size is in the metadata
        return builder.info.splits["train"].num_examples // batch_size
    count = data.examples(builder, "train", entry).reduce(tf.constant(0, tf.int64), lambda n, _: n + 1)
    return int(count) // batch_size


def _evaluate_saved(path: Path, builder, entry, batch_size: int) -> dict:
    """Metrics of the saved model on the whole validation split, on one device."""
    import keras

    from stem_zoo import data
    from stem_zoo.benchmarking import decode_predictions, task_metrics

    model = keras.saving.load_model(path, safe_mode=True)
    scorer = task_hook(entry, "score_split")  # a task scored from whole examples (atom columns)
    if scorer is not None:
        return scorer(model, data.examples(builder, "validation", entry), entry, features=builder.info.features)[0]
    true, pred = _predict_split(data.eval_pipeline(builder, "validation", entry, batch_size), model.predict_on_batch)
    pred, _ = decode_predictions(entry, pred)  # scored uncalibrated here; the std is calibrated after training
    return task_metrics(entry, true, pred)


def _build(entry):
    return getattr(entry.architecture(), entry.builder.split(":")[1])(entry.input)


def _hardware(tf) -> str:
    import os
    import platform

    gpus = tf.config.list_physical_devices("GPU")
    names = [tf.config.experimental.get_device_details(g).get("device_name", "GPU") for g in gpus]
    return ", ".join(names) or f"CPU only, {os.cpu_count()} cores ({platform.processor() or platform.machine()})"
