"""A short fit of tilt_dcnn under MirroredStrategy on two logical CPU devices."""

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import sys, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from stem_zoo.train import TrainSettings, train
    settings = TrainSettings(epochs=int(sys.argv[3]), batch_size=8, steps_per_epoch=2)
    train("tilt_dcnn", sys.argv[1], config="smoke", settings=settings, data_dir=sys.argv[2],
          devices=["/cpu:0", "/cpu:1"], verbose=0)
""")


def _fit(out, data_dir, epochs):
    subprocess.run([sys.executable, "-c", SCRIPT, str(out), str(data_dir), str(epochs)], check=True)
    return json.loads((out / "training.json").read_text())


def test_mirrored_fit_checkpoints_and_resume(smoke_data_dir, tmp_path):
    record = _fit(tmp_path, smoke_data_dir, epochs=1)
    assert record["replicas"] == 2 and len(record["devices"]) == 2
    assert (tmp_path / "model.keras").is_file() and (tmp_path / "checkpoints" / "epoch001.keras").is_file()
    assert record["validation"]["mae_deg"] > 0 and list((tmp_path / "logs").rglob("*tfevents*"))

    resumed = _fit(tmp_path, smoke_data_dir, epochs=2)  # continues from the finished first epoch
    assert resumed["epochs_run"] == 1
    assert (tmp_path / "checkpoints" / "epoch002.keras").is_file()
