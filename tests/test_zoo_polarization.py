"""polarization_dcnn and stem_zoo.tasks.polarization.predict: symmetry augmentation, hooks, metrics, maps, files, errors, CLI.

Windows and micrographs here are synthetic sums of 2-D Gaussians at known sub-pixel positions
(not simulations) and the polarization network is untrained: these test the geometry and the
plumbing, not what a trained network measures. Atom finding uses the shipped ``atom_fcn``
weights, which find the Fe columns of such a lattice as "intermediate" in well under a second.
"""

from __future__ import annotations

import itertools
import json
import types

import h5py
import numpy as np
import pytest

import keras  # noqa: E402  (required dependencies: a broken install fails, never skips)
import tensorflow as tf  # noqa: E402

import stem_zoo  # noqa: E402
from stem_zoo.micrograph import standardize, standardize_tf  # noqa: E402
from stem_zoo.tasks.atoms.refine import fit_gaussian_peak  # noqa: E402
import stem_zoo.tasks.polarization.metrics as pm  # noqa: E402
import stem_zoo.tasks.polarization.model as pd  # noqa: E402
import stem_zoo.tasks.polarization.report as pr  # noqa: E402
from stem_zoo.tasks.polarization.predict import PolarizationMap, predict_polarization  # noqa: E402
from stem_zoo.registry import get_entry  # noqa: E402

PM_PER_PX = 25.0  # at the model's 0.25 A/px
ENTRY = get_entry("polarization_dcnn")


def blob_window(size, offset_xy, sigma=1.5, background=0.1):
    """(size, size, 1) window with one Gaussian at the reference pixel (size // 2) plus ``offset_xy`` (x, y) [px]."""
    rows, cols = np.indices((size, size), dtype=float)
    c = size // 2
    x, y = c + offset_xy[0], c + offset_xy[1]
    return (background + np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma**2)))[..., None].astype(np.float32)


def blob_offset(window):
    """(x, y) of the window's Gaussian relative to its reference pixel (size // 2) [px], by a 2-D Gaussian fit."""
    image = np.asarray(window)[..., 0]
    r, c = np.unravel_index(np.argmax(image), image.shape)
    found = fit_gaussian_peak(image, float(c), float(r), 1.5)
    assert found is not None
    return np.array(found[:2]) - image.shape[0] // 2


# --- the symmetry augmentation ---------------------------------------------------------------------------------------


def test_rotate_vector_convention_y_down():
    # A quarter turn counter-clockwise as displayed: right (+x) goes up (-y), down (+y) goes right (+x).
    assert pd.rotate_vector([1.0, 0.0], 1, False).tolist() == [0.0, -1.0]
    assert pd.rotate_vector([0.0, 1.0], 1, False).tolist() == [1.0, 0.0]
    assert pd.rotate_vector([3.0, 1.0], 0, True).tolist() == [-3.0, 1.0]  # left-right mirror negates Px
    # The eight are distinct and each preserves the magnitude.
    images = {tuple(pd.rotate_vector([3.0, 1.0], k, f)) for k in range(4) for f in (False, True)}
    assert len(images) == 8 and all(np.hypot(*v) == pytest.approx(np.hypot(3, 1)) for v in images)


@pytest.mark.parametrize("size", [24, 25])
def test_symmetries_move_the_blob_as_they_move_the_label(size):
    offset = np.array([2.3, -1.1])  # px: an asymmetric, sub-pixel vector
    window = blob_window(size, offset)
    assert blob_offset(window) == pytest.approx(offset, abs=1e-3)
    for k, flip in itertools.product(range(4), (False, True)):
        out, label = pd.symmetry_tf(tf.constant(window), tf.constant(offset * PM_PER_PX, tf.float32), k, flip)
        assert out.shape == window.shape
        expected = pd.rotate_vector(offset, k, flip)
        assert label.numpy() / PM_PER_PX == pytest.approx(expected, abs=1e-5), (k, flip)
        assert blob_offset(out.numpy()) == pytest.approx(expected, abs=1e-3), (k, flip)  # about the reference pixel
    # Independent of the code under test: the image turns like np.rot90 (counter-clockwise as displayed).
    odd = blob_window(25, offset)
    out, _ = pd.symmetry_tf(tf.constant(odd), tf.constant([0.0, 0.0]), 1, False)
    assert np.array_equal(out.numpy(), np.rot90(odd, 1))


def _windows(n, seed, size=24):
    rng = np.random.default_rng(seed)
    offsets = rng.uniform(-3, 3, (n, 2))
    return offsets, np.stack([blob_window(size, o) for o in offsets])


def test_train_inputs_keep_window_and_label_consistent_and_draw_all_eight():
    offsets, windows = _windows(48, seed=0)
    ds = tf.data.Dataset.from_tensor_slices({"image": windows, "sampling": np.zeros(48, "int64"),
                                             "polarization_pm": (offsets * PM_PER_PX).astype("float32")})
    first = list(pd.train_inputs(ds, ENTRY, seed=3).as_numpy_iterator())
    again = list(pd.train_inputs(ds, ENTRY, seed=3).as_numpy_iterator())
    other = list(pd.train_inputs(ds, ENTRY, seed=4).as_numpy_iterator())
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(first, again))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(first, other))
    used = set()
    for (window, label), offset in zip(first, offsets):
        assert window.shape == (24, 24, 1) and label.shape == (2,)
        assert abs(window.mean()) < 1e-4 and window.std() == pytest.approx(1.0, rel=1e-3)  # standardized
        assert blob_offset(window) == pytest.approx(label / PM_PER_PX, abs=2e-3)
        used |= {(k, f) for k in range(4) for f in (False, True)
                 if np.allclose(pd.rotate_vector(offset, k, f), label / PM_PER_PX, atol=1e-4)}
    assert len(used) == 8
    with pytest.raises(ValueError, match="not the entry's 24 x 24"):
        pd.train_inputs(tf.data.Dataset.from_tensor_slices({"image": np.zeros((2, 20, 20, 1), "float32"),
                                                            "polarization_pm": np.zeros((2, 2), "float32")}), ENTRY, 0)


def test_standardization_numpy_and_tensorflow_agree():
    _, windows = _windows(4, seed=1)
    windows = windows * 3.0 + 7.0
    numpy = standardize(windows, per_item=True)
    assert np.allclose(numpy, np.stack([standardize_tf(w).numpy() for w in windows]), atol=1e-5)
    example = {"image": tf.constant(windows[0])}
    assert np.allclose(pd.eval_input(example, ENTRY).numpy(), numpy[0], atol=1e-5)
    assert np.all(standardize(np.ones((1, 4, 4, 1)), per_item=True) == 0)


# --- metrics, training and benchmark hooks ---------------------------------------------------------------------------


def test_metrics_components_vector_magnitude_and_angle():
    true = np.array([[30.0, 0.0], [0.0, -30.0], [2.0, 0.0]])
    pred = np.array([[0.0, 30.0], [0.0, -36.0], [-2.0, 0.0]])  # 90 deg off; 6 pm too long; a small one reversed
    m = pm.polarization_metrics(true, pred)
    assert m["rmse_px_pm"] == pytest.approx(np.sqrt((900 + 0 + 16) / 3), abs=1e-3)
    assert m["rmse_py_pm"] == pytest.approx(np.sqrt((900 + 36) / 3), abs=1e-3)
    assert m["rmse_pm"] ** 2 == pytest.approx(m["rmse_px_pm"] ** 2 + m["rmse_py_pm"] ** 2, rel=1e-3)
    assert m["magnitude_error_pm"] == pytest.approx(2.0) and m["magnitude_mae_pm"] == pytest.approx(2.0)
    assert m["n_angle"] == 2 and m["angle_mae_deg"] == pytest.approx(45.0)  # |P| = 2 pm is below 5 pm: not scored
    wrapped = pm.polarization_metrics([[-30.0, 1.0]], [[-30.0, -1.0]])  # across +-180 deg: 3.8 deg, not 356
    assert wrapped["angle_mae_deg"] == pytest.approx(3.82, abs=0.01)
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        pm.polarization_metrics(np.zeros((2, 3)), np.zeros((2, 3)))


def test_metric_class_matches_the_numbers_and_round_trips():
    true, pred = np.array([[30.0, 0.0], [0.0, -30.0]]), np.array([[27.0, 4.0], [0.0, -30.0]])
    reference = pm.polarization_metrics(true, pred)
    for component, key in ((0, "rmse_px_pm"), (1, "rmse_py_pm"), (None, "rmse_pm")):
        metric = pd.PolarizationRMSE(component, name=key)
        copy = type(metric).from_config(metric.get_config())  # as stem_zoo.train's validation copies them
        for m in (metric, copy):
            m.update_state(true, pred)
            assert float(m.result()) == pytest.approx(reference[key], abs=1e-4)


def _cell_window(P_pm, rng, size=24, a_px=15.3, noise=0.02):
    """A BFO-like window: Bi at the four cell corners around the reference pixel, Fe displaced by P."""
    rows, cols = np.indices((size, size), dtype=float)
    c = size // 2
    image = np.full((size, size), 0.05)
    for dx, dy in itertools.product((-0.5, 0.5, -1.5, 1.5), repeat=2):
        image += np.exp(-((cols - c - dx * a_px) ** 2 + (rows - c - dy * a_px) ** 2) / 4.0)
    image += 0.3 * np.exp(-((cols - c - P_pm[0] / PM_PER_PX) ** 2 + (rows - c - P_pm[1] / PM_PER_PX) ** 2) / 4.0)
    return (image + rng.normal(0, noise, image.shape))[..., None].astype(np.float32)


def _examples(n, seed, field="f0", pattern="wall_71"):
    """Dataset-like examples (a dict of arrays); the last quarter are grid windows, which the entry leaves out."""
    rng = np.random.default_rng(seed)
    P = rng.uniform(-35, 35, (n, 2)).astype(np.float32)
    n_grid = n // 4
    return {"image": np.stack([_cell_window(p, rng) for p in P]), "polarization_pm": P,
            "sampling": np.array([0] * (n - n_grid) + [1] * n_grid, "int64"),
            "pattern": np.array([pattern.encode(), b"single"] * (n // 2)),
            "field": np.array([field.encode()] * n), "noise_draw": np.zeros(n, "int32"),
            "centre_xy": rng.uniform(0, 60, (n, 2)).astype(np.float32),
            "composition_sm": np.where(np.arange(n) % 3 == 0, 0.07, 0.0).astype(np.float32)}


def _builder(splits):
    import tensorflow_datasets as tfds

    features = {"image": tfds.features.Tensor(shape=(24, 24, 1), dtype=np.float32),
                "polarization_pm": tfds.features.Tensor(shape=(2,), dtype=np.float32),
                "sampling": tfds.features.ClassLabel(names=["centred", "grid"]), "pattern": tfds.features.Text(),
                "field": tfds.features.Text(), "noise_draw": tfds.features.Scalar(dtype=np.int32),
                "centre_xy": tfds.features.Tensor(shape=(2,), dtype=np.float32),
                "composition_sm": tfds.features.Scalar(dtype=np.float32)}
    sizes = {k: types.SimpleNamespace(num_examples=len(v["image"])) for k, v in splits.items()}
    return types.SimpleNamespace(
        name="stem_bfo_polarization", info=types.SimpleNamespace(version="0.0.0", features=features, splits=sizes),
        as_dataset=lambda split, shuffle_files=False: tf.data.Dataset.from_tensor_slices(splits[split]))


def test_model_shape_and_a_few_training_steps_with_the_hooks():
    from stem_zoo.train import TrainSettings

    keras.utils.set_random_seed(0)
    model = pd.build_polarization_dcnn(ENTRY.input)
    assert model.output_shape == (None, 2) and model.input_shape == (None, 24, 24, 1)
    assert pd.build_polarization_dcnn().count_params() == model.count_params()  # DEFAULT_INPUT = the entry's
    assert pd.DEFAULT_INPUT == ENTRY.input
    loss, optimizer, metrics, callbacks = pd.training_setup(TrainSettings(learning_rate=1e-3, decay_every_epochs=1))
    assert type(loss).from_config(loss.get_config()).delta == 25.0  # TrainSettings.huber_delta, read in pm, kept
    reference = keras.losses.Huber(delta=25.0)
    true, pred = np.array([[30.0, 0.0], [0.0, -30.0]]), np.array([[-27.0, 4.0], [0.0, -31.0]])
    assert float(loss(true, pred)) == pytest.approx(float(reference(true, pred)), rel=1e-6)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    data = _examples(32, seed=0)
    ds = pd.train_inputs(tf.data.Dataset.from_tensor_slices(data), ENTRY, seed=0).batch(8)
    history = model.fit(ds, epochs=2, callbacks=callbacks, verbose=0)
    assert set(history.history) >= {"loss", "rmse_px_pm", "rmse_py_pm", "rmse_pm"}
    assert all(np.isfinite(v).all() for v in history.history.values())
    assert float(model.optimizer.learning_rate) == pytest.approx(5e-4)  # halved after the first epoch


def test_generic_trainer_reads_centred_windows_and_scores_vectors(monkeypatch, tmp_path):
    from stem_zoo import data, train

    builder = _builder({"train": _examples(32, seed=1), "validation": _examples(16, seed=2)})
    monkeypatch.setattr(data, "load_builder", lambda dataset, config, data_dir=None: builder)
    record = train.train("polarization_dcnn", tmp_path, settings=train.TrainSettings(epochs=2, batch_size=8),
                         devices=["/cpu:0"], verbose=0)
    assert record["epochs_run"] == 2 and (tmp_path / "model.keras").is_file()
    validation = record["validation"]  # from score_split, on the 12 centred of 16 windows
    assert validation["n"] == 12 and {"rmse_px_pm", "rmse_py_pm", "rmse_pm", "angle_mae_deg"} <= set(validation)
    assert json.loads((tmp_path / "training.json").read_text())["validation"]["n"] == 12
    # A run's model.keras is a polarization model for predict_polarization (loaded without its compiled loss).
    from stem_zoo.hub import load

    assert load(tmp_path / "model.keras", task="polarization").output_shape == (None, 2)


def test_score_split_groups_and_benchmark_dispatch(monkeypatch, tmp_path):
    from stem_zoo import data

    examples = _examples(16, seed=3)
    builder = _builder({"train": examples, "test": examples, "test_mistilt": _examples(8, seed=4)})

    def zero(x):  # a "model" that predicts no polarization: its errors are the labels
        return np.zeros((len(x), 2))

    metrics, groups = pm.score_split(zero, data.examples(builder, "test", ENTRY), ENTRY, by="pattern",
                                     features=builder.info.features)
    centred = examples["sampling"] == 0
    expected = pm.polarization_metrics(examples["polarization_pm"][centred], np.zeros((centred.sum(), 2)))
    assert metrics["n"] == 12 and metrics["rmse_pm"] == pytest.approx(expected["rmse_pm"], abs=1e-3)
    assert set(groups) == {"wall_71", "single"} and sum(g["n"] for g in groups.values()) == 12
    _, by_sampling = pm.score_split(zero, data.examples(builder, "test", ENTRY), ENTRY, by="sampling",
                                    features=builder.info.features)
    assert list(by_sampling) == ["centred"]  # the entry's subset; a class name, not an index
    _, by_sm = pm.score_split(zero, data.examples(builder, "test", ENTRY), ENTRY, by="composition_sm")
    assert set(by_sm) == {"0", "0.07"}
    with pytest.raises(ValueError, match="no feature 'nope'"):
        pm.score_split(zero, data.examples(builder, "test", ENTRY), ENTRY, by="nope")

    monkeypatch.setattr(data, "load_builder", lambda dataset, config, data_dir=None: builder)
    result = stem_zoo.benchmark(zero, task="polarization_dcnn", config="tiny", out_dir=tmp_path, by="pattern")
    assert set(result["splits"]) == {"test", "test_mistilt"} and result["splits"]["test"]["n"] == 12
    assert "RMSE Px / Py [pm]" in result["leaderboard"] and "| wall_71 |" in result["leaderboard"]
    assert (tmp_path / "leaderboard_model.md").is_file()


def test_report_without_weights_says_so(monkeypatch, tmp_path):
    from stem_zoo import registry, report

    monkeypatch.setitem(registry.FOLDERS, "polarization_dcnn", tmp_path / "empty")  # a folder with no model.keras
    paths = report.write_reports("smoke", tmp_path, ["polarization_dcnn"])
    assert [p.name for p in paths] == ["polarization_dcnn_smoke.md"] and "Not trained yet" in paths[0].read_text()


def test_report_with_a_model_benchmarks_and_draws_a_field(monkeypatch, tmp_path, saved_figures):
    from stem_zoo import data, hub, registry
    from stem_zoo.hub import ZooMetadata

    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "model.keras").write_bytes(b"")  # only its presence is checked; hub.load is stood in for below
    monkeypatch.setitem(registry.FOLDERS, "polarization_dcnn", folder)
    model = pd.build_polarization_dcnn()
    model.zoo = ZooMetadata(ENTRY, "test")
    monkeypatch.setattr(hub, "load", lambda name, *a, **k: model)
    builder = _builder({"train": _examples(8, 5), "test": _examples(8, 6),
                        "test_unseen_field": {**_examples(16, 7, field="unseen/0.00/0", pattern="wall_109")}})
    monkeypatch.setattr(data, "load_builder", lambda dataset, config, data_dir=None: builder)
    # the hold-out field (a PRISM run and the shipped atom_fcn) is exercised by tests/test_zoo_polarization_holdout.py
    monkeypatch.setattr(pr, "holdout_section", lambda model, out, stem: ["## hold-out field"])
    [path] = pr.report([ENTRY], tmp_path / "report", "tiny")
    text = path.read_text()
    assert "| **polarization_dcnn** (this run) |" in text and "wall_109" in text and "unseen/0.00/0" in text
    assert "## hold-out field" in text
    assert (tmp_path / "report" / "polarization_dcnn_tiny_field.png").stat().st_size > 10_000
    (figure,) = saved_figures  # truth, prediction and their difference over the unseen field
    assert [ax.get_title() for ax in figure.axes[:2]] == ["truth", "prediction"]
    assert figure.axes[2].get_title().startswith("difference, mean ") and "unseen/0.00/0" in figure._suptitle.get_text()


# --- predict_polarization --------------------------------------------------------------------------------------------

A_PC, PIXEL = 3.96, 0.2  # A; the test micrographs' A/px (resampled to the model's 0.25)


def bfo_like_image(shape=(112, 120), P_px=(0.35, -0.25), fe_amplitude=0.3, sigma_A=0.4):
    """Bi columns on a square lattice (amplitude 1), Fe columns (amplitude 0.3) in the cell centres moved by P_px."""
    rows, cols = np.indices(shape, dtype=float)
    a, s = A_PC / PIXEL, sigma_A / PIXEL
    image = np.full(shape, 0.02)
    fe = []
    for i, j in itertools.product(range(-1, int(shape[0] / a) + 2), range(-1, int(shape[1] / a) + 2)):
        bx, by = 3.0 + j * a, 3.0 + i * a
        fx, fy = bx + a / 2 + P_px[0], by + a / 2 + P_px[1]
        image += np.exp(-((cols - bx) ** 2 + (rows - by) ** 2) / (2 * s**2))
        image += fe_amplitude * np.exp(-((cols - fx) ** 2 + (rows - fy) ** 2) / (2 * s**2))
        fe.append((fx, fy))
    return image.astype(np.float32), np.array(fe)


@pytest.fixture(scope="module")
def untrained():
    keras.utils.set_random_seed(1)
    return pd.build_polarization_dcnn()


def test_centred_map_puts_a_vector_on_every_fe_column_with_room(untrained, tmp_path, saved_figures):
    image, fe = bfo_like_image()
    image[40:46, 50:56] = np.nan  # a NaN patch: windows touching it are dropped and counted
    result = stem_zoo.predict_polarization(image, untrained, pixel_size=PIXEL)
    assert isinstance(result, PolarizationMap) and result.P_pm.shape == (len(result), 2)
    assert np.all(np.isfinite(result.P_pm)) and result.atom_model == "atom_fcn" and result.sampling == "centred"
    # Every vector sits on a true Fe column (atom_fcn's positions: within a few hundredths of an A).
    distance = np.min(np.hypot(*(result.xy[:, None, :] - fe[None, :, :]).transpose(2, 0, 1)), axis=1)
    assert distance.max() < 0.5
    # Every Fe column whose 6 A window fits inside the image, clear of the NaN patch's reach, has one.
    half = 12 * 0.25 / PIXEL + 1.0  # half a window [input px], with a pixel to spare
    h, w = image.shape
    room = (fe[:, 0] > half) & (fe[:, 0] < w - 1 - half) & (fe[:, 1] > half) & (fe[:, 1] < h - 1 - half)
    clear = (np.abs(fe[:, 0] - 52.5) > half + 6) | (np.abs(fe[:, 1] - 42.5) > half + 6)
    expected = fe[room & clear]
    assert len(expected) >= 6
    nearest = np.min(np.hypot(*(expected[:, None, :] - result.xy[None, :, :]).transpose(2, 0, 1)), axis=1)
    assert nearest.max() < 0.5
    assert result.dropped["nan"] >= 1 and result.dropped["outside"] >= 1
    assert not np.any((np.abs(result.xy[:, 0] - 52.5) < half - 3) & (np.abs(result.xy[:, 1] - 42.5) < half - 3))
    # The same windows as cut by hand: the model saw each Fe column at its window's reference pixel.
    from stem_datasets.pipeline.subimages import centred_windows
    from stem_zoo.micrograph import resample_to

    resampled = resample_to(np.nan_to_num(image, nan=float(np.nanmedian(image))), PIXEL, 0.25)
    scale = (np.array(resampled.shape[::-1]) - 1) / (np.array(image.shape[::-1]) - 1)
    cut = centred_windows(resampled, result.xy * scale, 24)
    manual = untrained.predict_on_batch(standardize(cut.windows, per_item=True)[..., None])
    assert np.allclose(manual, result.P_pm, atol=1e-3)
    assert all(p.stat().st_size > 5_000 for p in result.figures(tmp_path, "with_nan"))
    shown = np.asarray(saved_figures[0].axes[0].images[0].get_array())
    finite = np.isfinite(image)
    assert np.isfinite(shown).all() and np.all(shown[~finite] == np.median(image[finite]))  # NaN pixels saved_figures filled
    np.testing.assert_allclose(shown[finite], image[finite], rtol=1e-6)


def test_grid_map_needs_no_atom_finding(untrained):
    image, _ = bfo_like_image()

    def no_atoms(x):
        raise AssertionError("grid sampling must not find atoms")

    result = predict_polarization(image, untrained, pixel_size=PIXEL, atom_model=no_atoms, sampling="grid")
    resampled_shape = (np.array(image.shape) * PIXEL / 0.25).round().astype(int)  # (90, 96) model px
    step = round(pd.DEFAULT_INPUT.lattice_constant / 0.25)  # the model's pc lattice (3.9644 A since v0.3.0)
    rows, cols = (np.arange(0, n - 24 + 1, step) + 12 for n in resampled_shape)
    assert len(result) == len(rows) * len(cols) and result.atom_model is None and result.dropped["outside"] == 0
    scale = (np.array(image.shape[::-1]) - 1) / (resampled_shape[::-1] - 1)
    assert result.xy[:len(cols), 0] == pytest.approx(cols * scale[0])
    assert result.xy[0, 1] == pytest.approx(12 * scale[1])


def test_map_files_hdf5_npy_and_figures(untrained, tmp_path, saved_figures):
    image, _ = bfo_like_image((96, 96))
    result = predict_polarization(image, untrained, pixel_size=PIXEL)
    result.save_npy(tmp_path / "m.npy")
    table = np.load(tmp_path / "m.npy", allow_pickle=False)
    assert table.dtype == np.float64 and table.shape == (len(result), 4)
    assert np.array_equal(table[:, :2], result.xy) and np.array_equal(table[:, 2:], result.P_pm)
    result.save_hdf5(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert np.array_equal(f["xy"][()], result.xy) and np.array_equal(f["P_pm"][()], result.P_pm)
        assert f["image"].shape == image.shape and f.attrs["pixel_size_angstrom"] == PIXEL
        assert f.attrs["dropped_outside"] == result.dropped["outside"] and f.attrs["sampling"] == "centred"
        assert "down the rows" in f["P_pm"].attrs["description"]
    paths = result.figures(tmp_path / "fig", "m")
    assert [p.name for p in paths] == ["m_polarization_quiver.png", "m_polarization_angle.png"]
    assert all(p.stat().st_size > 5_000 for p in paths)
    from matplotlib.quiver import Quiver

    quiver, angle = saved_figures
    assert quiver.axes[0].get_title() == f"m: polarization_dcnn, centred windows, {len(result)} cells"
    (arrows,) = [c for c in quiver.axes[0].collections if isinstance(c, Quiver)]
    np.testing.assert_allclose(np.stack([arrows.X, arrows.Y], axis=1), result.xy)  # one arrow on each cell
    direction = np.arctan2(arrows.V, arrows.U)  # each arrow points along its cell's P (y down the image)
    np.testing.assert_allclose(np.cos(direction - np.radians(result.angle_deg)), 1.0, atol=1e-6)
    assert angle.axes[0].get_title().startswith("m: direction and |P|")
    assert np.asarray(angle.axes[0].images[0].get_array()).shape[:2] == image.shape  # the micrograph's extent
    assert result.angle_deg.shape == result.magnitude_pm.shape == (len(result),)


def test_clear_errors_for_bad_input(untrained, monkeypatch):
    image, _ = bfo_like_image((64, 64))
    cases = [
        (dict(image=image), "pixel size is unknown"),
        (dict(image=image, pixel_size=-1.0), "positive number"),
        (dict(image=np.full((64, 64), np.nan), pixel_size=PIXEL), "no finite pixel"),
        (dict(image=image[:20, :20], pixel_size=0.25), "smaller than one window of 24 px"),
        (dict(image=np.stack([image, image]), pixel_size=PIXEL), "2-D array"),
        (dict(image=image, pixel_size=PIXEL, sampling="random"), "sampling must be"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            predict_polarization(model=untrained, **kwargs)
    background = lambda x: np.concatenate([np.ones_like(x), 0 * x, 0 * x, 0 * x], -1)  # noqa: E731
    with pytest.raises(ValueError, match="no Fe columns found"):
        predict_polarization(image, untrained, pixel_size=PIXEL, atom_model=background)
    holes = image.copy()
    holes[::10, :] = np.nan  # every window touches a NaN row
    with pytest.raises(ValueError, match="no window of 24 px is left"):
        predict_polarization(holes, untrained, pixel_size=PIXEL, sampling="grid")
    tilt_like = keras.Sequential([keras.Input((24, 24, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match=r"not one vector \(Px, Py\)"):
        predict_polarization(image, tilt_like, pixel_size=PIXEL, sampling="grid")
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        predict_polarization(image, "nope", pixel_size=PIXEL)
    assert predict_polarization(image[..., None], untrained, pixel_size=PIXEL, sampling="grid").P_pm.shape[1] == 2


def test_a_zoo_id_without_weights_is_a_clear_error(monkeypatch, tmp_path):
    from stem_zoo import hub, registry

    monkeypatch.setitem(registry.FOLDERS, "polarization_dcnn", tmp_path)  # no model.keras here

    def offline(repo, revision, cache_dir):
        raise FileNotFoundError(f"hf://{repo}@{revision} is not in the Hugging Face cache.")

    monkeypatch.setattr(hub, "_load_hub", offline)
    image, _ = bfo_like_image((64, 64))
    with pytest.raises(FileNotFoundError, match="polarization_dcnn has no trained weights here"):
        predict_polarization(image, pixel_size=PIXEL, sampling="grid")


def test_cli_writes_hdf5_npy_and_figures(untrained, tmp_path, capsys):
    from stem_zoo.cli import main

    image, _ = bfo_like_image((96, 96))
    np.save(tmp_path / "frame.npy", image)
    untrained.save(tmp_path / "untrained.keras")
    out = tmp_path / "out"
    assert main(["polarization", str(tmp_path / "frame.npy"), "--pixel-size", "0.2", "--model",
                 str(tmp_path / "untrained.keras"), "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["frame_polarization.h5", "frame_polarization.npy", "frame_polarization_angle.png",
                     "frame_polarization_quiver.png"]
    table = np.load(out / "frame_polarization.npy")
    assert table.shape[1] == 4 and "cells (centred windows" in capsys.readouterr().out
    assert main(["polarization", str(tmp_path / "frame.npy"), "--pixel-size", "0.2", "--model",
                 str(tmp_path / "untrained.keras"), "--sampling", "grid", "--out", str(tmp_path / "grid")]) == 0
    with h5py.File(tmp_path / "grid" / "frame_polarization.h5", "r") as f:
        assert f.attrs["sampling"] == "grid"
    capsys.readouterr()
    assert main(["polarization", str(tmp_path / "frame.npy"), "--model", str(tmp_path / "untrained.keras")]) == 2
    assert "stem-zoo: error: frame.npy does not state its pixel size" in capsys.readouterr().err
    np.save(tmp_path / "nan.npy", np.full((64, 64), np.nan, "float32"))
    assert main(["polarization", str(tmp_path / "nan.npy"), "--pixel-size", "0.2", "--model",
                 str(tmp_path / "untrained.keras")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stem-zoo: error:") and "no finite pixel" in err and "Traceback" not in err


# --- the independent hold-out (issue 27) ------------------------------------------------------------------------------


def test_holdout_field_comes_from_ase_and_the_project_reads_its_truth():
    """The displaced-cation hold-out imports nothing of stem_datasets.physics; the project's own delta_FeBi measure
    (four Bi around each Fe, minimum image) reads back the displacements it was built with."""
    import ast
    import inspect

    from stem_datasets.physics.polarization import cell_polarization, column_positions
    from stem_zoo.tasks.polarization import holdout

    imported = {n.module for n in ast.walk(ast.parse(inspect.getsource(holdout))) if isinstance(n, ast.ImportFrom)}
    assert not any(m and m.startswith("stem_datasets.physics") for m in imported) and "ase" in imported
    atoms, fe_xy, delta = holdout.displaced_cation_field(6, 2)
    bi, fe = column_positions(atoms)
    measured = cell_polarization(bi, fe, np.diag(atoms.cell)[:2])
    order = np.argsort(fe[:, 0] * 1000 + fe[:, 1])
    expected = np.argsort(fe_xy[:, 0] * 1000 + fe_xy[:, 1])
    assert np.allclose(measured.pm[order], delta[expected], atol=1e-6)
    assert {tuple(np.round(d, 2)) for d in delta} == {(21.21, 21.21), (17.68, -17.68)}
    with pytest.raises(ValueError, match="even"):
        holdout.displaced_cation_field(5, 2)
    with pytest.raises(ValueError, match="positive"):
        holdout.holdout_field(float("nan"), 2e5)


def test_holdout_score_reads_gain_and_angle_per_domain():
    from stem_zoo.tasks.polarization import holdout

    truth = np.array([[21.2, 21.2], [21.2, 21.2], [17.7, -17.7], [17.7, -17.7]])
    field = {"cells_xy": np.array([[10.0, 10.0], [26.0, 10.0], [42.0, 10.0], [58.0, 10.0]]),
             "polarization_pm": truth, "pixel_size": 0.25, "domain": np.array(["left", "left", "right", "right"])}
    half = PolarizationMap(xy=field["cells_xy"] + 0.3, P_pm=truth * 0.5, image=np.zeros((20, 70)), pixel_size=0.25,
                           dropped={"outside": 0, "nan": 0}, model="m", atom_model="a", sampling="centred")
    scored = holdout.score(field, half)
    assert scored["left"]["magnitude_ratio"] == 0.5 and scored["right"]["n"] == 2
    assert scored["left"]["angle_error_deg"] == 0.0 and scored["right"]["rmse_pm"] == [8.85, 8.85]
