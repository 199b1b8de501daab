"""The benchmark API on the smoke build: a callable and a Keras model."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

import stem_zoo
from stem_zoo.tasks.tilt.metrics import angle_metrics
from stem_zoo.tasks.tilt.model import build_tilt_dcnn
from stem_zoo.registry import get_entry


def test_metrics_of_known_errors():
    true = np.array([[2.0, -3.0, 0.5], [-4.0, 1.0, 6.0]])
    pred = true + np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -2.0]])
    m = angle_metrics(true, pred)
    assert m["rmse_deg"] == pytest.approx(np.sqrt(5 / 6)) and m["mae_alpha_deg"] == pytest.approx(0.5)
    assert m["sign_accuracy"] == 1.0 and m["magnitude_mae_deg"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="must both be"):
        angle_metrics(true, pred[:, :2])


@pytest.mark.slow
def test_zero_predictor_scores_the_rms_of_the_labels(smoke_build, tmp_path):
    smoke_data_dir = smoke_build("stem_abf_tilt")
    result = stem_zoo.benchmark(lambda crops: np.zeros((len(crops), 3)), task="tilt_dcnn", config="smoke", data_dir=str(smoke_data_dir),
                                name="zeros", out_dir=tmp_path)
    labels = np.stack([e["angles"] for e in tfds.as_numpy(
        tfds.load("stem_abf_tilt/smoke", split="test", data_dir=smoke_data_dir))])
    assert result["splits"]["test"]["n"] == len(labels)
    assert result["splits"]["test"]["rmse_deg"] == pytest.approx(float(np.sqrt(np.mean(labels**2))), rel=1e-5)
    assert set(result["splits"]) == {"validation", "test", "test_multislice", "test_unseen_thickness", "test_unseen_material",
                                     "test_imperfect"}
    assert (tmp_path / "benchmark_zeros.json").is_file() and "| **zeros** (this run) |" in result["leaderboard"]


@pytest.mark.slow
def test_keras_model_reports_parameters_and_speed(smoke_build):
    smoke_data_dir = smoke_build("stem_abf_tilt")
    model = build_tilt_dcnn(get_entry("tilt_dcnn").input)
    result = stem_zoo.benchmark(model, dataset="stem_abf_tilt", config="smoke", data_dir=str(smoke_data_dir), splits=("test_multislice",))
    assert result["parameters"] == model.count_params()
    assert result["splits"]["test_multislice"]["images_per_s"] > 0


@pytest.mark.slow
def test_scores_by_thickness_partition_each_split(smoke_build):
    smoke_data_dir = smoke_build("stem_abf_tilt")
    result = stem_zoo.benchmark(lambda crops: np.zeros((len(crops), 3)), task="tilt_dcnn", config="smoke", data_dir=str(smoke_data_dir),
                                splits=("test_multislice", "test_unseen_thickness"), by="thickness_nm")
    grouped = result["by_feature"]
    assert grouped["feature"] == "thickness_nm"
    for split in ("test_multislice", "test_unseen_thickness"):
        groups = grouped[split]
        assert sum(g["n"] for g in groups.values()) == result["splits"][split]["n"] and len(groups) >= 2
        squared = sum(g["n"] * g["rmse_deg"] ** 2 for g in groups.values()) / result["splits"][split]["n"]
        assert np.sqrt(squared) == pytest.approx(result["splits"][split]["rmse_deg"], rel=1e-5)
    assert not set(grouped["test_multislice"]) & set(grouped["test_unseen_thickness"])  # no training thickness there
    assert "rmse_deg by `thickness_nm`" in result["leaderboard"]
    with pytest.raises(ValueError, match="no feature"):
        stem_zoo.benchmark(lambda crops: np.zeros((len(crops), 3)), task="tilt_dcnn", config="smoke", data_dir=str(smoke_data_dir),
                           splits=("test",), by="colour")


def test_a_model_from_outside_the_zoo_needs_a_task_or_a_dataset():
    with pytest.raises(ValueError, match="benchmark needs task=<zoo id> \\(.*tilt_dcnn.*\\) or dataset=<name> \\(.*stem_abf_tilt"):
        stem_zoo.benchmark(lambda crops: np.zeros((len(crops), 3)), config="smoke")
    with pytest.raises(ValueError, match="No zoo model is defined on 'stem_nothing'"):
        stem_zoo.benchmark(lambda crops: np.zeros((len(crops), 3)), dataset="stem_nothing", config="smoke")
