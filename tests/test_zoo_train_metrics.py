"""Fit-time validation numbers under MirroredStrategy equal the saved model's own evaluation.

Keras 3.15 took one extra step past the end of the zoo's filtered (unknown-length)
pipelines, and with their fixed batch size that step added a whole batch to every metric's
count: val_accuracy and val_loss came out low by n / (n + batch) (keras-team/keras#23084),
and monitoring dropped the last short batch. This fits the CBED classifier through
``stem_zoo.train.train`` on two logical CPU devices, on a tiny in-memory stand-in for the
TFDS builder (the real data path from there: subset filter, augmentation, preprocessing).
"""

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import dataclasses, json, sys, types
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, tensorflow_datasets as tfds
    from stem_zoo import data, registry, train as train_module
    from stem_zoo.train import TrainSettings, train

    def stacks(n, seed):
        # (4, 16, 16) stacks of probe fractions, a disk a little larger for intermixed than for rough;
        # step_position 0 and 10 are left out by the entry's subset (a filter: unknown length)
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, n)
        r = np.hypot(*np.meshgrid(np.arange(16) - 7.5, np.arange(16) - 7.5))
        radius = np.where(y == 1, 4.5, 3.5)[:, None, None, None] + rng.normal(0, 1.0, (n, 1, 1, 1))
        x = (r < radius) + rng.uniform(0, 0.3, (n, 4, 16, 16))
        return {"cbed": (x / x.sum(axis=(2, 3), keepdims=True)).astype("float32"), "interface": y.astype("int64"),
                "step_position": rng.choice(np.array([-1, 0, 5, 10], "int32"), n)}

    splits = {"train": stacks(160, 1), "validation": stacks(60, 2)}
    features = {"cbed": tfds.features.Tensor(shape=(4, 16, 16), dtype=np.float32),
                "interface": tfds.features.ClassLabel(names=["rough", "intermixed", "abrupt"]),
                "step_position": tfds.features.Scalar(dtype=np.int32)}
    builder = types.SimpleNamespace(
        name="tiny_cbed", info=types.SimpleNamespace(version="0.0.0", features=features),
        as_dataset=lambda split, shuffle_files=False: tf.data.Dataset.from_tensor_slices(splits[split]))
    real = registry.get_entry("cbed_interface_cnn")
    entry = dataclasses.replace(real, input=dataclasses.replace(real.input, crop_shape=(4, 16, 16), feature="cbed"),
                                outputs=("rough", "intermixed", "abrupt"), label="interface",
                                subset={"step_position": (-1, *range(1, 10))},
                                **({"label_values": ()} if hasattr(real, "label_values") else {}))
    train_module.get_entry = lambda model_id: entry
    data.load_builder = lambda dataset, config, data_dir=None: builder
    BATCH = 8  # global: 4 per replica

    def evaluate(predict):
        true, pred = [], []
        for x, y in data.eval_pipeline(builder, "validation", entry, BATCH):
            pred.append(np.asarray(predict(x)))
            true.append(y.numpy())
        true, pred = np.concatenate(true), np.concatenate(pred)
        loss = float(keras.losses.SparseCategoricalCrossentropy()(true, pred))
        return {"n": len(true), "correct": int(np.sum(pred.argmax(1) == true)), "loss": loss}

    class Probe(keras.callbacks.Callback):
        # runs after ReduceLROnPlateau and ModelCheckpoint: the logs they read, and the model evaluated directly
        seen = []
        def on_epoch_end(self, epoch, logs=None):
            self.seen.append({"logs": {k: logs.get(k) for k in ("val_accuracy", "val_loss")},
                              "direct": evaluate(lambda x: self.model(x, training=False))})

    out, epochs = sys.argv[1], int(sys.argv[2])
    record = train("cbed_interface_cnn", out, config="tiny", settings=TrainSettings(epochs=epochs, batch_size=BATCH),
                   devices=["/cpu:0", "/cpu:1"], verbose=0, callbacks=[Probe()])
    saved = keras.saving.load_model(f"{out}/model.keras")
    kept = int(np.isin(splits["train"]["step_position"], [-1, *range(1, 10)]).sum())
    result = {"epochs": Probe.seen, "record": record, "saved": evaluate(saved.predict_on_batch),
              "iterations": int(saved.optimizer.iterations.numpy()), "steps": epochs * (kept // BATCH)}
    with open(f"{out}/result.json", "w") as f:
        json.dump(result, f)
""")


def _close(a, b, rel=1e-5):
    return abs(a - b) <= rel * max(1.0, abs(b))


def test_fit_validation_metrics_equal_the_saved_models_evaluation(tmp_path):
    epochs = 3
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), str(epochs)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["record"]["replicas"] == 2 and len(result["epochs"]) == epochs

    for epoch, seen in enumerate(result["epochs"]):  # what the callbacks read, every epoch
        logs, direct = seen["logs"], seen["direct"]
        assert _close(logs["val_accuracy"], direct["correct"] / direct["n"], 1e-6), (epoch, logs, direct)
        assert _close(logs["val_loss"], direct["loss"]), (epoch, logs, direct)

    # the saved model is the epoch the task's early stopping kept (lowest val_loss), else the last
    chosen = result["record"].get("selected_epoch", epochs)
    assert 1 <= chosen <= epochs
    last, saved, validation = result["epochs"][chosen - 1]["logs"], result["saved"], result["record"]["validation"]
    # the whole split (29 or so examples, not a multiple of the batch), scored as training.json scores it
    assert validation["n"] == saved["n"] and saved["n"] % 8 != 0
    assert sum(validation["confusion"][k][k] for k in range(3)) == saved["correct"]
    assert round(last["val_accuracy"] * saved["n"]) == saved["correct"]
    assert _close(last["val_accuracy"], saved["correct"] / saved["n"], 1e-6), (last, saved)
    assert _close(last["val_loss"], saved["loss"]), (last, saved)
    # and training took exactly its batches: no extra step past the end of an epoch
    assert result["iterations"] == result["steps"]
