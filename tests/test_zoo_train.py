"""A short fit of tilt_dcnn under MirroredStrategy on two logical CPU devices."""

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow  # the full tier only: the stem_abf_tilt smoke build and short training runs


SCRIPT = textwrap.dedent("""
    import sys, keras, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from stem_zoo.train import TrainSettings, train
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == int(sys.argv[4]):
                raise SystemExit(3)  # as if the job were killed during this epoch
    settings = TrainSettings(epochs=int(sys.argv[3]), batch_size=8, steps_per_epoch=2)
    train("tilt_dcnn", sys.argv[1], config="smoke", settings=settings, data_dir=sys.argv[2],
          devices=["/cpu:0", "/cpu:1"], verbose=0, callbacks=[Interrupt()])
""")


def _fit(out, data_dir, epochs, interrupt_at=-1):
    return subprocess.run([sys.executable, "-c", SCRIPT, str(out), str(data_dir), str(epochs), str(interrupt_at)])


def test_mirrored_fit_checkpoints_and_resumes_after_interruption(smoke_build, tmp_path):
    smoke_data_dir = smoke_build("stem_abf_tilt")
    assert _fit(tmp_path, smoke_data_dir, epochs=3, interrupt_at=2).returncode == 3
    assert (tmp_path / "checkpoints" / "epoch002.keras").is_file() and not (tmp_path / "model.keras").exists()

    assert _fit(tmp_path, smoke_data_dir, epochs=3).returncode == 0
    record = json.loads((tmp_path / "training.json").read_text())
    assert record["epochs_run"] == 1  # resumed at the third epoch, not from scratch
    assert record["replicas"] == 2 and len(record["devices"]) == 2
    assert (tmp_path / "model.keras").is_file() and (tmp_path / "checkpoints" / "epoch003.keras").is_file()
    assert record["validation"]["mae_deg"] > 0 and list((tmp_path / "logs").rglob("*tfevents*"))
