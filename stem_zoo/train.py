"""Training with ``tf.distribute.MirroredStrategy``: checkpoints, resume, TensorBoard.

Example (CLI):
    $ stem-zoo train tilt_dcnn --config small --epochs 12 --out runs/tilt_dcnn
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from stem_zoo.registry import get_entry


@dataclass(frozen=True)
class TrainSettings:
    """The paper's hyper-parameters (Fig. S2 caption) unless changed."""

    epochs: int = 12
    batch_size: int = 32  # global batch, split across replicas
    learning_rate: float = 1e-3
    decay_every_epochs: int = 2
    huber_delta: float = 25.0
    steps_per_epoch: int | None = None
    seed: int = 0


def make_strategy(devices: list[str] | None = None):
    """MirroredStrategy over ``devices``, else all visible GPUs, else the CPU."""
    import tensorflow as tf

    if devices is None:
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or ["/cpu:0"]
    return tf.distribute.MirroredStrategy(devices=devices)


def train(
    model_id: str,
    out_dir: str | Path,
    config: str | None = None,
    settings: TrainSettings = TrainSettings(),
    data_dir: str | None = None,
    devices: list[str] | None = None,
    verbose: int = 1,
    callbacks: list | None = None,
) -> dict:
    """Train a zoo model on its dataset; resumes from ``out_dir`` after an interruption.

    Writes ``model.keras`` (final), ``checkpoints/`` (every epoch), ``backup/`` (resume
    state), ``logs/`` (TensorBoard) and ``training.json`` (settings, timings, validation).
    """
    import keras
    import tensorflow as tf

    from stem_zoo import data

    entry = get_entry(model_id)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = config or entry.dataset_config
    keras.utils.set_random_seed(settings.seed)
    builder = data.load_builder(entry.dataset, config, data_dir)

    strategy = make_strategy(devices)
    with strategy.scope():
        model = _build(entry)
        loss, optimizer, metrics, schedule = _module(entry).training_setup(settings)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    train_ds = data.train_pipeline(builder, entry, settings.batch_size, settings.seed)
    val_ds = data.eval_pipeline(builder, "validation", entry, settings.batch_size, drop_remainder=True)
    if settings.steps_per_epoch:
        train_ds = train_ds.repeat()
    callbacks = [
        keras.callbacks.BackupAndRestore(str(out / "backup")),
        *schedule,
        keras.callbacks.ModelCheckpoint(str(out / "checkpoints" / "epoch{epoch:03d}.keras")),
        keras.callbacks.TensorBoard(str(out / "logs")),
        *(callbacks or []),
    ]
    (out / "checkpoints").mkdir(exist_ok=True)
    start = time.perf_counter()
    history = model.fit(train_ds, validation_data=val_ds, epochs=settings.epochs,
                        steps_per_epoch=settings.steps_per_epoch, callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    model.save(out / "model.keras")
    validation = _evaluate_saved(out / "model.keras", builder, entry, settings.batch_size)
    record = {
        "model": model_id,
        "dataset": f"{entry.dataset}/{config}:{builder.info.version}",
        "settings": settings.__dict__,
        "replicas": strategy.num_replicas_in_sync,
        "devices": [d for d in strategy.extended.worker_devices],
        "hardware": _hardware(tf),
        "train_seconds": round(seconds, 1),
        "epochs_run": len(history.history.get("loss", [])),
        "validation": validation,
    }
    (out / "training.json").write_text(json.dumps(record, indent=1))
    return record


def _evaluate_saved(path: Path, builder, entry, batch_size: int) -> dict:
    """Metrics of the saved model on the whole validation split, on one device."""
    import keras
    import numpy as np

    from stem_zoo import data
    from stem_zoo.benchmarking import task_metrics

    model = keras.saving.load_model(path, safe_mode=True)
    true, pred = [], []
    for inputs, labels in data.eval_pipeline(builder, "validation", entry, batch_size):
        pred.append(np.asarray(model.predict_on_batch(inputs)))
        true.append(labels.numpy())
    return task_metrics(entry, np.concatenate(true), np.concatenate(pred))


def _module(entry):
    import importlib

    return importlib.import_module(entry.builder.split(":")[0])


def _build(entry):
    return getattr(_module(entry), entry.builder.split(":")[1])(entry.input)


def _hardware(tf) -> str:
    import os
    import platform

    gpus = tf.config.list_physical_devices("GPU")
    names = [tf.config.experimental.get_device_details(g).get("device_name", "GPU") for g in gpus]
    return ", ".join(names) or f"CPU only, {os.cpu_count()} cores ({platform.processor() or platform.machine()})"
