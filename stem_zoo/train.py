"""Training with ``tf.distribute.MirroredStrategy``: checkpoints, resume, TensorBoard.

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
        loss, optimizer, metrics, schedule = entry.architecture().training_setup(settings)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    train_ds = data.train_pipeline(builder, entry, settings.batch_size, settings.seed)
    if settings.steps_per_epoch:
        train_ds = train_ds.repeat()
    else:  # a known length: Keras then takes no phantom step past the end (see the module notes)
        train_ds = train_ds.apply(tf.data.experimental.assert_cardinality(_full_batches(builder, entry, settings.batch_size)))
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
    from stem_zoo.benchmarking import task_metrics

    model = keras.saving.load_model(path, safe_mode=True)
    scorer = getattr(entry.architecture(), "score_split", None)  # a task scored from whole examples (atom columns)
    if scorer is not None:
        return scorer(model, data.examples(builder, "validation", entry), entry, features=builder.info.features)[0]
    true, pred = _predict_split(data.eval_pipeline(builder, "validation", entry, batch_size), model.predict_on_batch)
    return task_metrics(entry, true, pred)


def _build(entry):
    return getattr(entry.architecture(), entry.builder.split(":")[1])(entry.input)


def _hardware(tf) -> str:
    import os
    import platform

    gpus = tf.config.list_physical_devices("GPU")
    names = [tf.config.experimental.get_device_details(g).get("device_name", "GPU") for g in gpus]
    return ", ".join(names) or f"CPU only, {os.cpu_count()} cores ({platform.processor() or platform.machine()})"
