"""The CBED classifiers: shapes, a short MirroredStrategy fit, benchmark, card, checked inputs."""

import dataclasses
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import stem_zoo
from stem_zoo import hub
from stem_zoo.tasks.cbed.classify import check_stacks
from stem_zoo.tasks.cbed.model import build_cbed_interface_cnn, build_cbed_step_cnn
from stem_zoo.registry import get_entry


def test_model_shapes_and_no_pooling_between_convolutions():
    interface = build_cbed_interface_cnn(get_entry("cbed_interface_cnn").input)
    step = build_cbed_step_cnn(get_entry("cbed_step_cnn").input)
    assert interface.input_shape == (None, 8, 32, 32, 1) and interface.output_shape == (None, 2)
    assert step.output_shape == (None, 9)
    kinds = [type(layer).__name__ for layer in interface.layers]
    last_conv = max(i for i, k in enumerate(kinds) if k == "Conv3D")
    assert "AveragePooling3D" not in kinds[:last_conv] and kinds.count("AveragePooling3D") == 1
    assert kinds.count("Dropout") == 6  # 15% after every convolution and dense layer
    x = np.random.default_rng(0).normal(size=(3, 8, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(interface.predict_on_batch(x).sum(axis=1), 1.0, rtol=1e-5)


FIT = textwrap.dedent("""
    import json, sys, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from stem_zoo.train import TrainSettings, train
    record = train(sys.argv[3], sys.argv[1], config="smoke", data_dir=sys.argv[2], devices=["/cpu:0", "/cpu:1"],
                   settings=TrainSettings(epochs=1, batch_size=8, steps_per_epoch=2), verbose=0)
    print(json.dumps(record["validation"]))
""")


@pytest.mark.parametrize("model_id, n_classes", [("cbed_interface_cnn", 2), ("cbed_step_cnn", 9)])
@pytest.mark.slow
def test_short_mirrored_training_step(smoke_build, tmp_path, model_id, n_classes):
    cbed_smoke_data_dir = smoke_build("stem_cbed_interface")
    done = subprocess.run([sys.executable, "-c", FIT, str(tmp_path), str(cbed_smoke_data_dir), model_id],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    validation = json.loads(done.stdout.strip().splitlines()[-1])
    assert (tmp_path / "model.keras").is_file() and (tmp_path / "checkpoints" / "epoch001.keras").is_file()
    confusion = np.array(validation["confusion"])
    assert confusion.shape == (n_classes, n_classes) and confusion.sum() == validation["n"]
    # Validation holds 36 rough (9 steps x 2 thicknesses x 2 lines), 36 intermixed and 8 abrupt
    # stacks; the interface model leaves out the abrupt ones and steps at 0.9 t (4 stacks), the
    # step model sees rough ones only.
    expected = 32 + 36 if model_id == "cbed_interface_cnn" else 36
    assert validation["n"] == expected


@pytest.mark.slow
def test_labels_become_output_indices_and_other_classes_are_left_out(smoke_build):
    cbed_smoke_data_dir = smoke_build("stem_cbed_interface")
    from stem_zoo import data

    builder = data.load_builder("stem_cbed_interface", "smoke", str(cbed_smoke_data_dir))
    for model_id, n_classes in (("cbed_step_cnn", 9), ("cbed_interface_cnn", 2)):
        labels = np.concatenate([y.numpy() for _, y in data.eval_pipeline(builder, "validation", get_entry(model_id), 64)])
        assert set(labels.tolist()) == set(range(n_classes))  # step 1..9 -> 0..8; abrupt (index 2) dropped


@pytest.mark.slow
def test_benchmark_scores_a_callable_with_class_metrics(smoke_build):
    cbed_smoke_data_dir = smoke_build("stem_cbed_interface")
    always_rough = lambda x: np.tile([0.9, 0.1], (len(x), 1))  # noqa: E731
    result = stem_zoo.benchmark(always_rough, dataset="stem_cbed_interface", config="smoke",
                                data_dir=str(cbed_smoke_data_dir), name="always_rough")
    assert set(result["splits"]) == {"validation", "test", "test_unseen_thickness"}
    for metrics in result["splits"].values():  # 9 steps per 9 intermixed structures; step 9 and abrupt left out
        assert metrics["accuracy"] == round(8 / 17, 4) and metrics["recall"] == {"rough": 1.0, "intermixed": 0.0}
        assert metrics["confusion"][1][0] == metrics["n"] * 9 // 17 and "within_one_accuracy" not in metrics
    assert "Accuracy on" in result["leaderboard"]
    with pytest.raises(ValueError, match="defined on stem_abf_tilt"):
        stem_zoo.benchmark(always_rough, dataset="stem_cbed_interface", task="tilt_dcnn", config="smoke")


def test_card_lists_confusion_matrices_and_folder_round_trips(tmp_path):
    entry = dataclasses.replace(get_entry("cbed_interface_cnn"), metrics={
        "test": {"n": 4, "accuracy": 0.75, "recall": {"rough": 1.0, "intermixed": 0.5},
                 "confusion": [[2, 0], [1, 1]]}})
    model = build_cbed_interface_cnn(entry.input)
    folder = hub.publish(model, "someone/cbed_test", entry=entry, dry_run=True, out_dir=tmp_path)
    card = (folder / "README.md").read_text()
    assert "Confusion matrix on `test`" in card and "   2    0" in card
    loaded = stem_zoo.load(str(folder))
    stacks = np.random.default_rng(1).uniform(0, 1e-3, size=(2, 8, 32, 32))
    predictions = stem_zoo.classify_stacks(stacks, loaded)
    assert predictions.probabilities.shape == (2, 2) and set(predictions.names) <= {"rough", "intermixed"}


@pytest.mark.parametrize("stacks, message", [
    (np.zeros((2, 5, 32, 32)), r"expects CBED stacks of shape \(8, 32, 32\)"),
    (np.zeros((8, 32)), "expects CBED stacks"),
    (np.full((8, 32, 32), np.nan), "NaN"),
    (-np.ones((8, 32, 32)), ">= 0"),
    (np.array([["a"]]), "must be numbers"),
])
def test_wrong_stacks_get_clear_errors(stacks, message):
    with pytest.raises(ValueError, match=message):
        check_stacks(stacks, (8, 32, 32), "cbed_interface_cnn")
    with pytest.raises(ValueError, match=message):
        stem_zoo.classify_stacks(stacks, "cbed_interface_cnn")  # refused before any weights are loaded


def test_single_stack_is_accepted_as_a_batch_of_one():
    assert check_stacks(np.zeros((8, 32, 32)), (8, 32, 32), "m").shape == (1, 8, 32, 32)
