"""Atomic-column finding: metrics, post-processing, LoG baseline, locate_atoms, U-Net, CLI, benchmark dispatch.

The images here are synthetic sums of 2-D Gaussians at known sub-pixel positions: unit tests
of the fitting and bookkeeping code, not micrographs (tests on simulated STEM images with
the trained weights come with the weights).
"""

from __future__ import annotations

import doctest
import importlib
import json
import types

import h5py
import numpy as np
import pytest

import stem_zoo
from stem_zoo.tasks.atoms.locate import (CLASSES, LoGBaseline, columns_from_probabilities, locate_atoms, locate_columns_log,
                            predict_probabilities)
from stem_zoo.tasks.atoms.metrics import count_detections, group_metrics, match_columns, score_split, summarize
from stem_zoo.tasks.atoms.sublattices import GROUP_NAMES
from stem_zoo.tasks.atoms.model import RECEPTIVE_FIELD_PX, build_atom_fcn
from stem_zoo.registry import ModelEntry

PIXEL = 0.2  # A/px, as in stem_atom_columns


@pytest.fixture(scope="module")
def fcn():
    import keras

    keras.utils.set_random_seed(0)
    return build_atom_fcn()


def gaussian_image(xy, shape, sigma_px=1.5, amplitudes=None, background=0.1):
    """Sum of isotropic 2-D Gaussians centred at (x, y) = (column, row) positions."""
    rows, cols = np.indices(shape, dtype=float)
    image = np.full(shape, background)
    for k, (x, y) in enumerate(np.asarray(xy, float)):
        a = 1.0 if amplitudes is None else amplitudes[k]
        image += a * np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma_px**2))
    return image.astype(np.float32)


def lattice_xy(shape, spacing_px, rng, margin=4.0):
    """A jittered square lattice of positions inside the image, at least ``margin`` px from the edges."""
    offset = rng.uniform(0, spacing_px, 2)
    xs = np.arange(offset[0], shape[1], spacing_px)
    ys = np.arange(offset[1], shape[0], spacing_px)
    xy = np.array([(x, y) for y in ys for x in xs]) + rng.uniform(-0.5, 0.5, (len(xs) * len(ys), 2))
    keep = np.all((xy > margin) & (xy < np.array([shape[1], shape[0]]) - 1 - margin), axis=1)
    return xy[keep]


def disc_probabilities(xy, classes, shape, radius_px=2.0, supersample=8):
    """Per-pixel class probabilities: anti-aliased discs of each column's class on a background."""
    probs = np.zeros((*shape, len(CLASSES)))
    fine = (np.indices((shape[0] * supersample, shape[1] * supersample)) + 0.5) / supersample - 0.5
    for (x, y), c in zip(xy, classes):
        inside = np.hypot(fine[1] - x, fine[0] - y) <= radius_px
        probs[..., c] += inside.reshape(shape[0], supersample, shape[1], supersample).mean(axis=(1, 3))
    probs[..., 0] = 1.0 - probs[..., 1:].sum(-1)
    return probs


# --- metrics --------------------------------------------------------------------------------------------------------


def test_matching_is_one_to_one_and_maximal():
    # Greedy nearest pairing takes B-P (0.4) and leaves A unmatched; the optimal matching pairs A-P and B-Q.
    true, pred = [[0.0, 0.0], [1.0, 0.0]], [[0.6, 0.0], [1.7, 0.0]]
    ti, pi, d = match_columns(true, pred, radius_px=0.8)
    assert ti.tolist() == [0, 1] and pi.tolist() == [0, 1] and d == pytest.approx([0.6, 0.7])
    # Two predictions near one true column: one match only, the closer one.
    ti, pi, d = match_columns([[5.0, 5.0]], [[5.3, 5.0], [5.0, 5.1]], radius_px=1.0)
    assert pi.tolist() == [1] and d == pytest.approx([0.1])
    assert len(match_columns(np.zeros((0, 2)), [[1.0, 1.0]], 1.0)[0]) == 0
    assert len(match_columns([[0.0, 0.0]], [[0.0, 0.6]], 0.5)[0]) == 0  # beyond the radius
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        match_columns([[1.0, 2.0, 3.0]], [[1.0, 2.0]], 1.0)


def test_detection_counts_rmse_classes_and_border():
    shape = (40, 60)
    true = np.array([[10.0, 10.0], [20.0, 10.0], [30.0, 10.0], [40.0, 20.0], [50.0, 30.0],
                     [1.0, 20.0],  # in the 2 px border: not required
                     [10.0, 38.5]])  # in the border, matched by a prediction inside: the pair is ignored
    true_class = np.array([3, 3, 2, 1, 1, 2, 1])
    pred = np.array([[10.4, 10.0],  # 0.4 px = 8 pm, class right
                     [20.0, 10.3],  # 0.3 px = 6 pm, heavy called intermediate
                     [40.0, 20.0],  # exact, class right
                     [30.0, 25.0],  # false positive
                     [58.5, 5.0],  # unmatched but in the border: not counted
                     [10.0, 37.0]])  # matches the border column
    pred_class = np.array([3, 2, 1, 2, 3, 1])  # groups of this image (relative classes)
    counts = count_detections(true, true_class, pred, pred_class, PIXEL, shape)
    m = summarize([counts])
    assert (m["tp"], m["fp"], m["fn"]) == (3, 1, 2)  # misses: (30, 10) and (50, 30)
    assert (m["precision"], m["recall"], m["f1"]) == (0.75, 0.6, round(6 / 9, 4))
    assert m["rmse_pm"] == pytest.approx(np.sqrt((8**2 + 6**2 + 0) / 3), abs=0.01)
    # matched pairs (true -> group): heavy -> 3, heavy -> 2, light -> 1: each group is pure
    assert m["class_accuracy"] == 1.0
    heavy, light = (m["per_class"][c] for c in ("heavy", "light"))
    assert heavy["n_true"] == 2 and heavy["detection_recall"] == 1.0 and "f1" not in heavy
    assert light["n_true"] == 2 and light["detection_recall"] == 0.5 and light["rmse_pm"] == 0.0
    # one group for the heavy and the light column: the group counts as heavy, the light column is wrong
    merged = summarize([count_detections(true, true_class, pred, np.array([1, 1, 1, 1, 1, 1]), PIXEL, shape)])
    assert merged["class_accuracy"] == round(2 / 3, 4)
    with pytest.raises(ValueError, match="group indices"):
        count_detections(true, true_class, pred, np.zeros(6, int), PIXEL, shape)
    # Positions only: detection metrics, no class metrics.
    unclassified = summarize([count_detections(true, true_class, pred, None, PIXEL, shape)])
    assert unclassified["f1"] == m["f1"] and "class_accuracy" not in unclassified
    heavy_positions = unclassified["per_class"]["heavy"]
    assert "f1" not in heavy_positions and heavy_positions["detection_recall"] == 1.0
    # A smaller radius (0.07 A = 0.35 px) drops the 0.4 px match.
    assert summarize([count_detections(true, true_class, pred, pred_class, PIXEL, shape, radius_A=0.07)])["tp"] == 2
    # A column the image does not show (class 0) is never required, and a prediction on it is not a false
    # positive: the false positive at (30, 25) sits on one, the missed (50, 30) is one.
    hidden = summarize([count_detections(np.r_[true, [[30.0, 25.2]]], np.r_[[3, 3, 2, 1, 0, 2, 1], [0]], pred,
                                         pred_class, PIXEL, shape)])
    assert (hidden["tp"], hidden["fp"], hidden["fn"]) == (3, 0, 1) and hidden["per_class"]["light"]["n_true"] == 1


def test_counts_add_up_over_images_and_groups():
    rng = np.random.default_rng(3)
    records = []
    for k in range(6):
        true = lattice_xy((48, 48), 10.0, rng)
        pred = true[1:] + rng.normal(0, 0.2, (len(true) - 1, 2))  # one miss per image
        counts = count_detections(true, np.full(len(true), 2), pred, np.full(len(pred), 2), PIXEL, (48, 48))
        records.append({"counts": counts, "features": {"dose": [1e3, 1e5][k % 2], "detector": "haadf"}})
    total = summarize([r["counts"] for r in records])
    assert total["n"] == 6 and total["fn"] == 6 and total["fp"] == 0
    groups = group_metrics(records, "dose")
    assert list(groups) == ["1e3..3.2e3", "1e5..3.2e5"] and sum(g["tp"] for g in groups.values()) == total["tp"]
    pooled = sum(g["tp"] * g["rmse_pm"] ** 2 for g in groups.values()) / total["tp"]
    assert np.sqrt(pooled) == pytest.approx(total["rmse_pm"], abs=0.02)
    assert group_metrics(records, "class")["intermediate"]["n"] == total["n_true"]
    json.dumps(total), json.dumps(groups)  # plain Python numbers
    with pytest.raises(ValueError, match="no feature 'colour'"):
        group_metrics(records, "colour")


# --- post-processing and the baseline -------------------------------------------------------------------------------


def test_columns_from_probabilities_subpixel_classes_and_split_blobs():
    rng = np.random.default_rng(0)
    shape = (64, 64)
    xy = lattice_xy(shape, 10.0, rng, margin=5)
    classes = rng.integers(1, 4, len(xy))
    merged = np.array([[20.3, 55.2], [25.6, 55.9]])  # 5.35 px apart: their discs of 2.5 px radius touch
    probs = disc_probabilities(np.vstack([xy[xy[:, 1] < 48], merged]),
                               np.concatenate([classes[xy[:, 1] < 48], [1, 3]]), shape, radius_px=2.5)
    truth = np.vstack([xy[xy[:, 1] < 48], merged])
    truth_class = np.concatenate([classes[xy[:, 1] < 48], [1, 3]])
    found = columns_from_probabilities(probs, threshold=0.5, min_separation_px=5.0)
    assert len(found) == len(truth)
    ti, pi, d = match_columns(truth, np.stack([found["x"], found["y"]], -1), radius_px=0.5)
    assert len(ti) == len(truth) and d.max() < 0.1
    assert np.array_equal(found["class_id"][pi], truth_class[ti])
    assert np.all(found["probability"] > 0.5)
    weak = probs * [1.0, 0.6, 0.6, 0.6]
    weak[..., 0] = 1.0 - weak[..., 1:].sum(-1)  # every column at most 60 % sure
    assert len(columns_from_probabilities(weak, threshold=0.65)) == 0
    assert len(columns_from_probabilities(weak, threshold=0.4)) == len(truth)
    assert len(columns_from_probabilities(np.stack([np.ones(shape), *[np.zeros(shape)] * 3], -1))) == 0


@pytest.mark.parametrize("detector", ["haadf", "abf", "auto"])
def test_log_baseline_recovers_gaussian_positions(detector):
    rng = np.random.default_rng(1)
    shape = (72, 80)
    xy = lattice_xy(shape, 9.0, rng, margin=3)  # 1.8 A spacing
    image = gaussian_image(xy, shape, sigma_px=1.6, amplitudes=rng.uniform(0.5, 1.0, len(xy)))
    if detector != "haadf":
        image = 1.5 - image  # dark columns on a bright background, as in ABF
    found = LoGBaseline(column_width_A=0.75, detector=detector).locate(image, PIXEL)
    ti, pi, d = match_columns(xy, found.xy, radius_px=0.5)
    assert len(found) == len(xy) == len(ti) and d.max() < 0.1
    assert np.all(found["class_id"] == -1) and not found.classified
    assert found["sigma_A"][pi] == pytest.approx(1.6 * PIXEL, rel=0.05)
    assert found["x_A"] == pytest.approx(found["x"] * PIXEL)


def test_log_baseline_separates_close_columns_and_respects_min_separation():
    xy = np.array([[20.0, 20.0], [26.8, 20.3], [40.2, 30.7]])  # a 1.36 A "dumbbell" and a single column
    image = gaussian_image(xy, (48, 56), sigma_px=1.4)
    found = locate_columns_log(image, PIXEL, column_width_A=0.65, min_separation_A=1.0, detector="haadf")
    assert len(found) == 3 and match_columns(xy, found.xy, 0.5)[2].max() < 0.1
    merged = locate_columns_log(image, PIXEL, column_width_A=0.65, min_separation_A=1.5, detector="haadf")
    assert len(merged) == 2  # the weaker of the pair is within 1.5 A of the stronger


# --- bad input ------------------------------------------------------------------------------------------------------


def test_clear_errors_for_bad_input(fcn):
    good = np.random.default_rng(0).random((64, 64)).astype("float32")
    nan = good.copy()
    nan[3, 4] = np.nan
    cases = [
        (dict(image=nan, pixel_size=PIXEL), "NaN or infinite"),
        (dict(image=np.inf * good, pixel_size=PIXEL), "NaN or infinite"),
        (dict(image=good[..., None].repeat(3, -1), pixel_size=PIXEL), "2-D array"),
        (dict(image=good[:20, :60], pixel_size=PIXEL), "at least 32 px"),
        (dict(image=good, pixel_size=0.05), "at least 32 px"),  # 64 px at 0.05 A/px are 16 px at the model's 0.2
        (dict(image=good, pixel_size=None), "pixel size is unknown"),
        (dict(image=good, pixel_size=0), "positive number"),
        (dict(image=good, pixel_size=-0.2), "positive number"),
        (dict(image=good, pixel_size=float("nan")), "positive number"),
        (dict(image=good, pixel_size=PIXEL, threshold=1.5), "threshold"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            locate_atoms(model=fcn, **kwargs)
    assert locate_atoms(good[..., None], fcn, pixel_size=PIXEL).probabilities.shape == (64, 64, 4)  # (H, W, 1) is fine
    with pytest.raises(ValueError, match="unknown model 'no_such_model'"):
        locate_atoms(good, "no_such_model", pixel_size=PIXEL)
    with pytest.raises(ValueError, match="not per-pixel probabilities"):
        locate_atoms(good, _tilt_model(), pixel_size=PIXEL)
    with pytest.raises(ValueError, match="pixel size is unknown"):
        LoGBaseline().locate(good, None)
    with pytest.raises(ValueError, match="detector"):
        LoGBaseline(detector="bf").locate(good, PIXEL)


def _tilt_model():
    from stem_zoo.tasks.tilt.model import build_tilt_dcnn
    from stem_zoo.registry import get_entry

    return build_tilt_dcnn(get_entry("tilt_dcnn").input)


# --- the network and locate_atoms -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(96, 96), (128, 160)])
def test_unet_output_has_the_input_shape(fcn, shape):
    out = fcn.predict_on_batch(np.random.default_rng(0).normal(size=(2, *shape, 1)).astype("float32"))
    assert out.shape == (2, *shape, len(CLASSES))
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)


def test_receptive_field_matches_the_gradient(fcn):
    import tensorflow as tf

    spans = []
    for centre in range(96, 104):  # every position modulo 8
        x = tf.Variable(np.random.default_rng(0).normal(size=(1, 224, 224, 1)).astype("float32"))
        with tf.GradientTape() as tape:
            score = tf.reduce_sum(fcn(x, training=False)[0, centre, centre] * tf.constant([1.0, 2.0, 3.0, 4.0]))
        rows = np.nonzero(np.abs(tape.gradient(score, x).numpy()[0, :, :, 0]).sum(1))[0]
        spans.append(rows.max() - rows.min() + 1)
    assert max(spans) == RECEPTIVE_FIELD_PX and 2 * 64 > RECEPTIVE_FIELD_PX  # the tiles' overlap covers it


def test_tiles_give_the_whole_image_result(fcn):
    image = np.random.default_rng(2).normal(size=(250, 236)).astype("float32")
    predict = lambda x: np.asarray(fcn.predict_on_batch(x))  # noqa: E731
    whole = predict_probabilities(predict, image, tile_px=512)
    tiled = predict_probabilities(predict, image, tile_px=192, overlap_px=64)
    assert whole.shape == tiled.shape == (250, 236, 4)
    np.testing.assert_allclose(tiled, whole, atol=2e-5)
    with pytest.raises(ValueError, match="multiples of 8"):
        predict_probabilities(predict, image, tile_px=100)


def stand_in_network(x):
    """A differentiable-free stand-in for a trained network: column probability rises with the intensity."""
    c = 1.0 / (1.0 + np.exp(-4.0 * (x[..., 0] - 1.0)))
    return np.stack([1.0 - c, 0.0 * c, 0.0 * c, c], axis=-1)


@pytest.mark.parametrize("pixel_size", [PIXEL, 0.1, 0.27])
def test_locate_atoms_maps_positions_back_to_the_input_pixels(pixel_size):
    rng = np.random.default_rng(4)
    shape = (int(round(20.0 / pixel_size)), int(round(23.0 / pixel_size)))  # 20 x 23 A
    xy = lattice_xy(shape, 2.5 / pixel_size, rng, margin=0.8 / pixel_size)
    image = gaussian_image(xy, shape, sigma_px=0.35 / pixel_size)
    result = locate_atoms(image, stand_in_network, pixel_size=pixel_size)
    assert result.probabilities.shape == (*shape, 4) and result.image.shape == shape
    ti, pi, d = match_columns(xy, result.xy, radius_px=0.5 / pixel_size)
    assert len(ti) == len(xy) == len(result)
    assert d.max() * pixel_size < 0.03  # A: resampled, found, measured on the image and mapped back
    assert np.all(result["network_class"] == "heavy")
    assert np.all(result["class_name"] == "sublattice 1")  # columns of one brightness: one group
    assert np.all((result["position_stderr_A"] > 0) & (result["position_stderr_A"] < 0.06))
    assert result["y_A"] == pytest.approx(result["y"] * pixel_size)


def test_locate_atoms_reads_abf_columns_as_bright(fcn):
    """An ABF image (dark columns) given as such reaches the network as the bright-column image it negates; an
    unknown detector is refused."""
    rows, cols = np.indices((48, 64), dtype=float)
    bright = sum(np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / 6.0) for x in (12, 32, 52) for y in (12, 36))
    haadf = locate_atoms(bright.astype("float32"), fcn, pixel_size=0.2, detector="haadf")
    abf = locate_atoms((2.0 - bright).astype("float32"), fcn, pixel_size=0.2, detector="abf")
    np.testing.assert_allclose(abf.probabilities, haadf.probabilities, atol=1e-5)
    as_haadf = locate_atoms((2.0 - bright).astype("float32"), fcn, pixel_size=0.2, detector="haadf")
    assert not np.allclose(as_haadf.probabilities, haadf.probabilities, atol=1e-3)
    with pytest.raises(ValueError, match="detector must be"):
        locate_atoms(bright, fcn, pixel_size=0.2, detector="bf")


def test_locate_atoms_with_an_untrained_model(fcn):
    image = np.random.default_rng(5).normal(size=(70, 90)).astype("float32")
    result = locate_atoms(image, fcn, pixel_size=0.25)  # resampled to 56 x 72 model pixels, padded to 56 x 72
    assert result.probabilities.shape == (70, 90, 4) and result.method == "atom_fcn"
    np.testing.assert_allclose(result.probabilities.sum(-1), 1.0, atol=1e-4)
    assert result.columns.dtype.names == ("x", "y", "x_A", "y_A", "class_id", "class_name", "probability",
                                          "position_stderr_A", "network_class")
    assert np.all((result["x"] >= 0) & (result["x"] <= 89) & (result["y"] >= 0) & (result["y"] <= 69))
    assert set(result["network_class"]) <= set(CLASSES[1:]) and set(result["class_name"]) <= set(GROUP_NAMES)
    assert stem_zoo.locate_atoms(image, fcn, pixel_size=0.25).columns.shape == result.columns.shape


# --- CLI ------------------------------------------------------------------------------------------------------------


def _entry(crop=(32, 32)) -> ModelEntry:
    draft = json.loads(json.dumps(DRAFT_ENTRY))
    draft["id"] = "atom_fcn_test"
    draft["input"]["crop_shape"] = list(crop)
    from stem_zoo.registry import entry_from_config

    return entry_from_config({"entry": draft})


def test_cli_writes_table_probabilities_and_overlay(fcn, tmp_path, capsys):
    from stem_zoo import hub
    from stem_zoo.cli import main as zoo_cli

    folder = hub.stage(fcn, _entry(), tmp_path / "model", "stem-zoo/atom_fcn_test")
    rng = np.random.default_rng(6)
    xy = lattice_xy((64, 80), 10.0, rng)
    np.save(tmp_path / "frame.npy", gaussian_image(xy, (64, 80), sigma_px=1.5))
    out = tmp_path / "out"
    assert zoo_cli(["atoms", str(tmp_path / "frame.npy"), "--model", str(folder), "--pixel-size", "0.2",
                    "--out", str(out)]) == 0
    assert "columns" in capsys.readouterr().out
    for suffix in ("csv", "h5", "png"):
        assert (out / f"frame_atoms.{suffix}").stat().st_size > 0
    header = (out / "frame_atoms.csv").read_text().splitlines()[0]
    assert header == "x,y,x_A,y_A,class_id,class_name,probability,position_stderr_A,network_class"
    with h5py.File(out / "frame_atoms.h5") as handle:
        assert handle["probabilities"].shape == (64, 80, 4)
        assert handle.attrs["pixel_size_angstrom"] == pytest.approx(0.2)
        assert handle["columns"].dtype.names[:2] == ("x", "y")

    assert zoo_cli(["atoms", str(tmp_path / "frame.npy"), "--model", "log", "--detector", "haadf",
                    "--column-width", "0.7", "--pixel-size", "0.2", "--out", str(out)]) == 0
    rows = (out / "frame_atoms.csv").read_text().splitlines()
    assert rows[0] == "x,y,x_A,y_A,class_id,class_name,probability,response,sigma_A" and len(rows) == len(xy) + 1

    assert zoo_cli(["atoms", str(tmp_path / "frame.npy"), "--model", "log"]) == 2  # a .npy has no pixel size
    error = capsys.readouterr().err.strip()
    assert error.startswith("stem-zoo: error:") and "--pixel-size" in error and "\n" not in error


# --- scoring and the benchmark hook ---------------------------------------------------------------------------------


def synthetic_examples(n, shape=(64, 64), seed=0):
    """Dataset-like examples (the stem_atom_columns features) of Gaussian-peak images: not simulations."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        xy = lattice_xy(shape, 10.0, rng, margin=1.0)
        classes = rng.integers(1, 4, len(xy)).astype(np.int32)
        image = gaussian_image(xy, shape, sigma_px=1.5, amplitudes=0.4 + 0.2 * classes)
        detector = k % 2
        if detector:
            image = 1.6 - image
        mask = np.argmax(disc_probabilities(xy, classes, shape), -1).astype(np.uint8)
        out.append({"image": image[..., None], "mask": mask, "pixel_size": np.float32(PIXEL),
                    "columns_xy": xy.astype(np.float32), "columns_class": classes, "detector": np.int64(detector),
                    "dose": np.float32([1e3, 1e5][k // 2 % 2]), "lattice": b"synthetic",
                    "thickness_nm": np.float32(5.0)})
    return out


def test_score_split_with_the_baseline_and_an_untrained_network(fcn):
    examples = synthetic_examples(4)
    entry = _entry()
    metrics, by_dose = score_split(LoGBaseline(column_width_A=0.7), examples, entry, by="dose")
    assert metrics["n"] == 4 and metrics["f1"] == 1.0 and metrics["rmse_pm"] < 2.0  # < 0.1 px
    assert "class_accuracy" not in metrics and set(by_dose) == {"1e3..3.2e3", "1e5..3.2e5"}
    metrics, by_detector = score_split(fcn, examples, entry, by="detector")
    assert set(by_detector) == {"haadf", "abf"} and metrics["n"] == 4 and metrics["images_per_s"] > 0
    assert {"precision", "recall", "f1", "rmse_pm", "pixel_accuracy", "mean_iou"} <= set(metrics)
    json.dumps(metrics)


def test_benchmark_dispatches_to_the_architecture(fcn, monkeypatch, tmp_path):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from stem_zoo import benchmarking, data

    entry = _entry()
    splits = {"validation": synthetic_examples(2, seed=1), "test_low_dose": synthetic_examples(4, seed=2)}
    signature = {"image": tf.TensorSpec((64, 64, 1), tf.float32), "mask": tf.TensorSpec((64, 64), tf.uint8),
                 "pixel_size": tf.TensorSpec((), tf.float32), "columns_xy": tf.TensorSpec((None, 2), tf.float32),
                 "columns_class": tf.TensorSpec((None,), tf.int32), "detector": tf.TensorSpec((), tf.int64),
                 "dose": tf.TensorSpec((), tf.float32), "lattice": tf.TensorSpec((), tf.string),
                 "thickness_nm": tf.TensorSpec((), tf.float32)}
    builder = types.SimpleNamespace(
        name="stem_atom_columns",
        info=types.SimpleNamespace(splits={"train": None, **splits}, version="0.0.0",
                                   features={"detector": tfds.features.ClassLabel(names=["haadf", "abf"])}),
        as_dataset=lambda split, shuffle_files=False: tf.data.Dataset.from_generator(lambda: iter(splits[split]),
                                                                                     output_signature=signature))
    monkeypatch.setattr(benchmarking, "get_entry", lambda task: entry)
    monkeypatch.setattr(data, "load_builder", lambda dataset, config, data_dir=None: builder)
    result = stem_zoo.benchmark(LoGBaseline(column_width_A=0.7), task=entry.id, config="synthetic", by="dose",
                                out_dir=tmp_path)
    assert result["model"] == "log_baseline" and result["parameters"] is None
    assert set(result["splits"]) == {"validation", "test_low_dose"} and result["splits"]["test_low_dose"]["f1"] == 1.0
    assert set(result["by_feature"]["test_low_dose"]) == {"1e3..3.2e3", "1e5..3.2e5"}
    assert "F1 / RMSE [pm]" in result["leaderboard"] and "by `dose`" in result["leaderboard"]
    assert (tmp_path / "benchmark_log_baseline.json").is_file()
    result = stem_zoo.benchmark(fcn, task=entry.id, config="synthetic", splits=("validation",))
    assert result["parameters"] == fcn.count_params() and "f1" in result["splits"]["validation"]


# --- docstrings -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["stem_zoo.tasks.atoms.locate", "stem_zoo.tasks.atoms.metrics", "stem_zoo.tasks.atoms.model"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


DRAFT_ENTRY = {
    "id": "atom_fcn",
    "builder": "stem_zoo.tasks.atoms.model:build_atom_fcn",
    "task": "per-pixel classes of atomic columns (background, light, intermediate, heavy) in a HAADF or ABF image",
    "dataset": "stem_atom_columns",
    "dataset_config": "small",
    "dataset_version": "1.0.0",
    "input": {"crop_shape": [96, 96], "pixel_size": PIXEL, "channels": 1,
              "normalization": "zero mean, unit std per image", "crop_convention": "", "feature": "image",
              "margin": []},
    "outputs": list(CLASSES),
    "output_units": "class probability per pixel",
    "hub_repo": "stem-zoo/atom_fcn",
    "hub_revision": "v0.1.0",
    "label": "mask",
}


# --- positions from the image, relative classes, the hold-out set (issue 26) ------------------------------------------


def test_refinement_measures_displaced_columns_and_weighs_the_proposal():
    """Proposals at lattice sites, columns 2 px (40 pm) off: the fit finds them; at high noise the proposal weighs in."""
    from stem_zoo.tasks.atoms.refine import orientation, refine_columns

    rng = np.random.default_rng(11)
    sites = lattice_xy((64, 64), 10.0, rng, margin=6)
    true = sites + [2.0, 0.0]
    image = gaussian_image(true, (64, 64), sigma_px=1.6)
    fits = refine_columns(image, sites, sigma_px=1.75, prior_sigma_px=None)
    assert fits.ok.all() and np.abs(fits.xy - true).max() < 0.02 and np.all(fits.stderr < 0.01)
    combined = refine_columns(image, sites, sigma_px=1.75, prior_sigma_px=0.3)
    assert np.abs(combined.xy - true).max() < 0.02  # a noise-free fit outweighs the proposal
    noisy = image + rng.normal(0, 0.5, image.shape)
    weighed = refine_columns(noisy, sites, sigma_px=1.75, prior_sigma_px=0.3)
    alone = refine_columns(noisy, sites, sigma_px=1.75, prior_sigma_px=None)
    assert np.all(weighed.stderr < np.nan_to_num(alone.stderr, nan=np.inf))  # two measurements beat either
    assert orientation(-image, image) == -1.0 and orientation(image, image) == 1.0


def test_refinement_keeps_a_heavy_neighbour_from_pulling_a_light_column():
    """Heavy-light pairs 1.35 A apart at 0.2 A/px (CeO2 [110]-like): the light column's fit uses only the pixels
    within 0.4 of the distance to its neighbour, so the heavy column's tail no longer drags it."""
    from stem_zoo.tasks.atoms.refine import refine_columns

    yy, xx = np.mgrid[0:48, 0:64]
    true = np.array([[x0 + dx, y0] for x0 in (12.0, 36.0) for y0 in (12.0, 34.0) for dx in (0.0, 6.75)])
    amplitudes = np.tile([3.0, 0.5], 4)
    image = sum(a * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.6**2)) for (x, y), a in zip(true, amplitudes))
    window = refine_columns(image, true + 0.3, sigma_px=1.75, prior_sigma_px=None, radius_px=4)
    disc = refine_columns(image, true + 0.3, sigma_px=1.75, prior_sigma_px=None, radius_px=4, neighbour_fraction=0.4)
    light = amplitudes < 1
    assert window.ok.all() and disc.ok.all()
    assert np.abs(window.xy - true)[light].max() > 0.5  # the whole window: pulled ~0.9 px towards the heavy column
    assert np.abs(disc.xy - true)[light].max() < 0.1 and np.abs(disc.xy - true)[~light].max() < 0.05


def test_detection_snr_matches_the_scatter_of_poisson_images():
    """The SNR's noise is the spread of the matched (LoG) response over Poisson images at that dose, its signal the
    noise-free response: both measured on 300 noisy copies of one column."""
    from scipy import ndimage

    from stem_datasets.simulation.imaging import poisson_image
    from stem_zoo.tasks.atoms.limits import detection_snr

    yy, xx = np.mgrid[0:33, 0:33]
    clean = 0.3 + 0.1 * np.exp(-((xx - 16) ** 2 + (yy - 16) ** 2) / (2 * 1.8**2))  # a faint column on a bright field
    dose, pixel, sigma = 2e3, 0.2, 0.4 / 0.2
    rng = np.random.default_rng(5)
    response = [float(-ndimage.gaussian_laplace(poisson_image(clean, dose, pixel, rng), sigma, mode="nearest")[16, 16])
                * sigma**2 for _ in range(300)]
    snr = float(detection_snr(clean, np.array([[16.0, 16.0]]), dose, pixel)[0])
    assert abs(np.mean(response) / np.std(response) / snr - 1) < 0.15
    assert 1.0 < snr < 10.0  # the case is one where it matters
    with pytest.raises(ValueError, match="NaN"):
        detection_snr(np.where(xx > 30, np.nan, clean), np.array([[16.0, 16.0]]), dose, pixel)
    with pytest.raises(ValueError, match="shape"):
        detection_snr(clean, np.array([16.0, 16.0, 3.0]), dose, pixel)
    with pytest.raises(ValueError, match="dose"):
        detection_snr(clean, np.array([[16.0, 16.0]]), 0.0, pixel)


def test_relative_classes_group_columns_by_brightness():
    from stem_zoo.tasks.atoms.sublattices import group_columns

    rng = np.random.default_rng(12)
    xy = lattice_xy((96, 96), 8.0, rng, margin=5)
    levels = rng.choice([0.3, 1.0, 2.5], size=len(xy))
    image = sum(a * np.exp(-((np.arange(96)[None] - x) ** 2 + (np.arange(96)[:, None] - y) ** 2) / 4.0)
                for (x, y), a in zip(xy, levels))
    noisy = image + rng.normal(0, 0.02, image.shape)
    groups = group_columns(noisy, xy, radius_px=1.0)
    assert groups.max() == 3 and all(len(set(groups[levels == v])) == 1 for v in (0.3, 1.0, 2.5))
    assert groups[levels == 0.3][0] < groups[levels == 1.0][0] < groups[levels == 2.5][0]  # dimmest first
    same = gaussian_image(xy, (96, 96), sigma_px=1.4) + rng.normal(0, 0.02, (96, 96))
    assert set(group_columns(same, xy, radius_px=1.0).tolist()) == {1}  # one kind of column: one group


def test_holdout_structures_come_from_ase_not_the_dataset_code():
    import ast
    import inspect

    from stem_datasets.physics.lattices import projected_columns
    from stem_zoo.tasks.atoms import holdout

    imported = {n.module for n in ast.walk(ast.parse(inspect.getsource(holdout))) if isinstance(n, ast.ImportFrom)}
    assert not any(m and m.startswith("stem_datasets.physics") for m in imported) and "ase.build" in imported
    expected = {"Au [110]": ({"Au"}, 2.50), "GaAs [110]": ({"Ga", "As"}, 1.41), "CeO2 [110]": ({"Ce", "O"}, 1.35),
                "GaN [11-20]": ({"Ga", "N"}, 1.12), "hBN [001]": ({"B", "N"}, 1.45)}
    assert set(expected) == set(holdout.BUILDERS) and len(expected) >= 5
    for name, (species, spacing) in expected.items():
        atoms = holdout.holdout_structure(name, 14.0)
        cell = np.diag(atoms.cell)[:2]
        cols = projected_columns(atoms)
        d = np.linalg.norm((cols.xy[:, None] - cols.xy[None] + cell / 2) % cell - cell / 2, axis=-1)
        assert set(atoms.get_chemical_symbols()) == species and min(cell) >= 14.0
        assert (d + 99 * np.eye(len(cols))).min() == pytest.approx(spacing, abs=0.01), name
        assert atoms.info["family"] not in {"perovskite", "diamond", "random", "rutile"}
    with pytest.raises(ValueError, match="Unknown hold-out structure"):
        holdout.holdout_structure("NaCl [001]")


def test_position_bound_scales_with_dose_and_counts_the_background():
    from stem_zoo.tasks.atoms.limits import position_crb

    xy = lattice_xy((64, 64), 10.0, np.random.default_rng(13), margin=6)
    clean = 0.01 + 0.2 * gaussian_image(xy, (64, 64), sigma_px=1.6)
    low, high = (position_crb(clean, xy, dose, 0.2) for dose in (1e3, 1e5))
    np.testing.assert_allclose(low / high, 10.0, rtol=1e-6)  # 1 / sqrt(dose)
    assert np.all(position_crb(clean + 0.5, xy, 1e3, 0.2) > low)  # more background, less information


def test_holdout_scoring_table_bound_and_goals():
    from stem_zoo.tasks.atoms.holdout import score

    rng = np.random.default_rng(14)
    xy = lattice_xy((64, 64), 10.0, rng, margin=4)
    clean = 0.01 + 0.2 * gaussian_image(xy, (64, 64), sigma_px=1.75)
    noisy = rng.poisson(clean * 1e4 * 0.04) / (1e4 * 0.04)
    base = {"columns_xy": xy, "columns_class": np.full(len(xy), 3), "pixel_size": 0.2, "lattice": "toy [001]",
            "family": "toy", "detector": "haadf"}
    examples = [{**base, "image": clean, "dose": 0.0}, {**base, "image": noisy, "dose": 1e4}]
    rows, table = score({"net": stand_in_network, "log": LoGBaseline(column_width_A=0.8)}, examples)
    assert [r["net"]["f1"] for r in rows] == [1.0, 1.0] and rows[0]["log"]["f1"] == 1.0
    assert "crb_pm" not in rows[0] and 0 < rows[1]["crb_pm"] < rows[1]["net"]["rmse_pm"]  # a floor, not reached
    assert "| toy [001] | haadf | noise-free |" in table and "class accuracy >= 0.90: mean 1.000 over 2 images" in table
