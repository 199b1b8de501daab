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
    assert interface.input_shape == (None, 8, 32, 32, 1) and interface.output_shape == (None, 3)
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


@pytest.mark.parametrize("model_id, n_classes", [("cbed_interface_cnn", 3), ("cbed_step_cnn", 9)])
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
    # Validation holds 72 rough (9 steps x 2 thicknesses x 4 lines), 24 intermixed and 16 abrupt
    # stacks (3 and 2 runs, 2 exit thicknesses, 4 lines); the interface model reads them all, the
    # step model the rough ones.
    expected = 72 + 24 + 16 if model_id == "cbed_interface_cnn" else 72
    assert validation["n"] == expected


@pytest.mark.slow
def test_labels_become_output_indices_and_other_classes_are_left_out(smoke_build):
    cbed_smoke_data_dir = smoke_build("stem_cbed_interface")
    from stem_zoo import data

    builder = data.load_builder("stem_cbed_interface", "smoke", str(cbed_smoke_data_dir))
    for model_id, n_classes in (("cbed_step_cnn", 9), ("cbed_interface_cnn", 3)):
        labels = np.concatenate([y.numpy() for _, y in data.eval_pipeline(builder, "validation", get_entry(model_id), 64)])
        assert set(labels.tolist()) == set(range(n_classes))  # step 1..9 -> 0..8; rough, intermixed, abrupt -> 0, 1, 2


@pytest.mark.slow
def test_benchmark_scores_a_callable_with_class_metrics(smoke_build):
    cbed_smoke_data_dir = smoke_build("stem_cbed_interface")
    always_rough = lambda x: np.tile([0.8, 0.1, 0.1], (len(x), 1))  # noqa: E731
    result = stem_zoo.benchmark(always_rough, dataset="stem_cbed_interface", config="smoke",
                                data_dir=str(cbed_smoke_data_dir), name="always_rough")
    assert set(result["splits"]) == {"validation", "test", "test_unseen_thickness"}
    for split, metrics in result["splits"].items():  # 9 rough runs per class, 3 intermixed, 2 abrupt (2 exits each)
        classes = 1 if split == "test_unseen_thickness" else 2
        rough, mixed = 9 * classes * 4, 3 * 4 * classes
        assert metrics["accuracy"] == round(rough / metrics["n"], 4)
        assert metrics["recall"] == {"rough": 1.0, "intermixed": 0.0, "abrupt": 0.0}
        assert metrics["confusion"][1][0] == mixed and "within_one_accuracy" not in metrics  # classes, not an order
        assert metrics["expected_calibration_error"] == pytest.approx(abs(0.8 - rough / metrics["n"]), abs=1e-4)
    assert "Accuracy on" in result["leaderboard"]
    with pytest.raises(ValueError, match="defined on stem_abf_tilt"):
        stem_zoo.benchmark(always_rough, dataset="stem_cbed_interface", task="tilt_dcnn", config="smoke")


def test_card_lists_confusion_matrices_and_folder_round_trips(tmp_path):
    entry = dataclasses.replace(get_entry("cbed_interface_cnn"), metrics={
        "test": {"n": 5, "accuracy": 0.8, "recall": {"rough": 1.0, "intermixed": 0.5, "abrupt": 1.0},
                 "confusion": [[2, 0, 0], [1, 1, 0], [0, 0, 1]]}})
    model = build_cbed_interface_cnn(entry.input)
    folder = hub.publish(model, "someone/cbed_test", entry=entry, dry_run=True, out_dir=tmp_path)
    card = (folder / "README.md").read_text()
    assert "Confusion matrix on `test`" in card and "   2    0" in card
    loaded = stem_zoo.load(str(folder))
    stacks = np.random.default_rng(1).uniform(0, 1e-3, size=(2, 8, 32, 32))
    predictions = stem_zoo.classify_stacks(stacks, loaded)
    assert predictions.probabilities.shape == (2, 3) and set(predictions.names) <= {"rough", "intermixed", "abrupt"}


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


@pytest.mark.parametrize("change, message", [
    (lambda c, a: (c[:, :, :16], a), r"expects patterns \(lines, positions, 32, 32\)"),
    (lambda c, a: (np.where(c > 0.5, np.nan, c), a), "NaN"),
    (lambda c, a: (c, np.zeros_like(a)), "flat"),
    (lambda c, a: (c[:, :6], a[:, :6]), "at least 4 positions|scan past both ends|lines, positions"),
])
def test_wrong_scans_get_clear_errors(change, message):
    from stem_datasets.pipeline.scan_registration import column_image

    x, y = np.linspace(-0.84, 6.7, 19), np.arange(8) * 3.905 / 8
    cbed, adf = np.random.default_rng(2).uniform(0, 1, size=(8, 19, 32, 32)), column_image(x, y)
    cbed, adf = change(cbed, adf)
    with pytest.raises(ValueError, match=message):
        stem_zoo.classify_scan(cbed, adf, x[:cbed.shape[1]], y, "cbed_interface_cnn")


def test_temperature_folded_into_the_last_layer_calibrates_its_probabilities():
    from stem_zoo.tasks.cbed.release import apply_temperature, fit_temperature, tempered

    model = build_cbed_interface_cnn(get_entry("cbed_interface_cnn").input)
    x = np.random.default_rng(3).normal(size=(4, 8, 32, 32, 1)).astype("float32")
    before = np.asarray(model.predict_on_batch(x))
    after = np.asarray(apply_temperature(model, 2.5).predict_on_batch(x))
    np.testing.assert_allclose(after, tempered(before, 2.5), atol=1e-5)
    # overconfident predictions (right 60% of the time at p = 0.99) are cooled until p is near 0.6
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 500)
    predicted = np.where(rng.uniform(size=500) < 0.6, labels, (labels + 1) % 3)
    probabilities = np.full((500, 3), 0.005)
    probabilities[np.arange(500), predicted] = 0.99
    t = fit_temperature(probabilities, labels)
    assert t > 1 and tempered(probabilities, t).max(axis=1).mean() == pytest.approx(0.6, abs=0.05)


def test_an_ensemble_is_tempered_member_by_member():
    from stem_zoo.tasks.cbed.release import apply_temperature, fit_temperature, member_probabilities, tempered
    import keras

    from stem_zoo.train import average_models

    entry = get_entry("cbed_interface_cnn")
    keras.utils.set_random_seed(5)
    ensemble = average_models([build_cbed_interface_cnn(entry.input) for _ in range(2)])
    x = np.random.default_rng(5).normal(size=(3, 8, 32, 32, 1)).astype("float32")
    members = member_probabilities(ensemble, x)
    assert members.shape == (2, 3, 3) and not np.allclose(members[0], members[1])
    np.testing.assert_allclose(np.asarray(ensemble.predict_on_batch(x)), members.mean(axis=0), atol=1e-5)
    after = np.asarray(apply_temperature(ensemble, 3.0).predict_on_batch(x))
    np.testing.assert_allclose(after, np.mean([tempered(m, 3.0) for m in members], axis=0), atol=1e-5)
    # two members, each at p = 0.98 and right 70% of the time (on different examples): cooled (T > 1)
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 3, 400)
    confident = np.full((2, 400, 3), 0.01)
    for m in range(2):
        predicted = np.where(rng.uniform(size=400) < 0.7, labels, (labels + 1) % 3)
        confident[m, np.arange(400), predicted] = 0.98
    t = fit_temperature(confident, labels)
    assert t > 1 and fit_temperature(confident[0], labels) > 1


@pytest.mark.parametrize("probabilities, labels, match", [
    (np.full((4, 3), 1 / 3), np.array([0, 1, 2]), "for 3 labels, got shape"),
    (np.full((3, 3), np.nan), np.array([0, 1, 2]), "finite probabilities"),
    (np.full((3, 3), 1 / 3), np.array([0, 1, 3]), "class indices 0-2"),
])
def test_fit_temperature_refuses_mismatched_input(probabilities, labels, match):
    from stem_zoo.tasks.cbed.release import fit_temperature

    with pytest.raises(ValueError, match=match):
        fit_temperature(probabilities, labels)
