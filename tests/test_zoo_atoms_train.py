"""``stem_zoo.train`` with atom_fcn's hooks: crops + same rot/flip of image and mask, fit, column-detection validation.

The dataset is a stand-in builder of synthetic Gaussian-peak images with the ``stem_atom_columns``
features (not simulations): it checks the plumbing, not what the network learns.
"""

from __future__ import annotations

import json
import types

import numpy as np
import pytest

import tensorflow as tf  # a required dependency: a broken install fails, never skips

from stem_zoo.tasks.atoms.locate import CLASSES  # noqa: E402
from stem_zoo.micrograph import standardize  # noqa: E402
from stem_zoo.tasks.atoms import model as atom_fcn  # noqa: E402
from stem_zoo.registry import entry_from_config  # noqa: E402

SHAPE = (64, 64)


def _entry(crop=(48, 48)):
    return entry_from_config({"entry": {
        "id": "atom_fcn_test", "builder": "stem_zoo.tasks.atoms.model:build_atom_fcn", "task": "test",
        "dataset": "stem_atom_columns", "dataset_config": "synthetic", "dataset_version": "0.0.0",
        "input": {"crop_shape": list(crop), "pixel_size": 0.2, "feature": "image"},
        "outputs": list(CLASSES), "output_units": "class probability per pixel", "hub_repo": "x/y",
        "hub_revision": "v0", "label": "mask"}})


def _examples(n, seed):
    rng = np.random.default_rng(seed)
    rows, cols = np.indices(SHAPE, dtype=float)
    out = []
    for _ in range(n):
        grid = np.arange(5.0, 60, 10)
        xy = np.array([(x, y) for y in grid for x in grid]) + rng.uniform(-1, 1, (36, 2))
        classes = rng.integers(1, 4, len(xy)).astype(np.int32)
        image = sum(0.3 * c * np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / 4.5) for (x, y), c in zip(xy, classes))
        mask = np.zeros(SHAPE, np.uint8)
        for (x, y), c in zip(xy, classes):
            mask[np.hypot(cols - x, rows - y) <= 2.0] = c
        out.append({"image": image.astype(np.float32)[..., None], "mask": mask, "pixel_size": np.float32(0.2),
                    "columns_xy": xy.astype(np.float32), "columns_class": classes, "detector": np.int64(0),
                    "dose": np.float32(1e4), "lattice": b"synthetic"})
    return out


def _builder(splits):
    signature = {"image": tf.TensorSpec((*SHAPE, 1), tf.float32), "mask": tf.TensorSpec(SHAPE, tf.uint8),
                 "pixel_size": tf.TensorSpec((), tf.float32), "columns_xy": tf.TensorSpec((None, 2), tf.float32),
                 "columns_class": tf.TensorSpec((None,), tf.int32), "detector": tf.TensorSpec((), tf.int64),
                 "dose": tf.TensorSpec((), tf.float32), "lattice": tf.TensorSpec((), tf.string)}
    return types.SimpleNamespace(
        name="stem_atom_columns",
        info=types.SimpleNamespace(splits={k: types.SimpleNamespace(num_examples=len(v)) for k, v in splits.items()},
                                   version="0.0.0", features={}),
        as_dataset=lambda split, shuffle_files=False: tf.data.Dataset.from_generator(lambda: iter(splits[split]),
                                                                                     output_signature=signature))


def test_train_inputs_crop_image_and_mask_together():
    entry = _entry(crop=(40, 40))
    examples = _examples(3, seed=0)
    ds = _builder({"train": examples}).as_dataset("train")
    first = list(atom_fcn.train_inputs(ds, entry, seed=7).as_numpy_iterator())
    again = list(atom_fcn.train_inputs(ds, entry, seed=7).as_numpy_iterator())
    other = list(atom_fcn.train_inputs(ds, entry, seed=8).as_numpy_iterator())
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, again))  # reproducible per seed
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, other))
    for (image, mask), example in zip(first, examples):
        assert image.shape == (40, 40, 1) and mask.shape == (40, 40) and mask.dtype == np.int32
        assert abs(image.mean()) < 1e-4 and image.std() == pytest.approx(1.0, rel=1e-3)
        # The same transform on both: column pixels are where the image is bright.
        assert image[mask > 0].mean() > image[mask == 0].mean() + 1.0
        assert set(np.unique(mask)) <= set(np.unique(example["mask"]).tolist())
    with pytest.raises(ValueError, match="smaller than the crop"):
        atom_fcn.train_inputs(ds, _entry(crop=(80, 80)), seed=0)


def test_generic_trainer_fits_and_scores_detection(monkeypatch, tmp_path):
    from stem_zoo import data, train

    entry = _entry()
    builder = _builder({"train": _examples(8, seed=1), "validation": _examples(4, seed=2)})
    monkeypatch.setattr(train, "get_entry", lambda model_id: entry)
    monkeypatch.setattr(data, "load_builder", lambda dataset, config, data_dir=None: builder)
    settings = train.TrainSettings(epochs=2, batch_size=4)
    record = train.train(entry.id, tmp_path, settings=settings, devices=["/cpu:0"], verbose=0)
    assert record["epochs_run"] == 2 and (tmp_path / "model.keras").is_file()
    validation = record["validation"]  # from atom_fcn.score_split: column detection, not a label per example
    assert validation["n"] == 4 and {"f1", "precision", "recall", "rmse_pm", "mean_iou"} <= set(validation)
    assert json.loads((tmp_path / "training.json").read_text())["validation"]["n"] == 4
    logs = [p for p in (tmp_path / "logs").rglob("*tfevents*")]
    assert logs  # val_loss, val_pixel_accuracy and val_mean_iou went to TensorBoard


def test_training_and_validation_see_columns_bright():
    """Images whose labelled columns are dark (most ABF) arrive negated, those with bright columns (HAADF, and ABF of
    a thin specimen at a defocus that reverses it) as they are; the mask comes along unchanged and nothing else does."""
    entry = _entry(crop=SHAPE)
    haadf = _examples(2, seed=4)
    abf = [{**e, "detector": np.int64(1), "image": (1.5 - e["image"]).astype(np.float32)} for e in haadf]
    reversed_abf = [{**e, "detector": np.int64(1)} for e in haadf[:1]]
    ds = _builder({"train": haadf + abf + reversed_abf}).as_dataset("train")
    out = list(atom_fcn.train_examples(ds, entry).as_numpy_iterator())
    assert set(out[0]) == {"image", "mask"} and len(out) == 5
    for given, seen, sign in zip(haadf + abf + reversed_abf, out, (1.0, 1.0, -1.0, -1.0, 1.0)):
        assert np.array_equal(seen["mask"], given["mask"])
        assert np.array_equal(seen["image"], sign * given["image"])
        columns_bright = np.asarray(atom_fcn.eval_input(given, entry))
        assert columns_bright[given["mask"] > 0].mean() > columns_bright[given["mask"] == 0].mean() + 1.0
    for (image, mask), example, sign in zip(atom_fcn.train_inputs(atom_fcn.train_examples(ds, entry), entry, seed=3)
                                            .as_numpy_iterator(), haadf + abf + reversed_abf, (1.0, 1.0, -1.0, -1.0, 1.0)):
        assert _best_fit(image[..., 0], [standardize(sign * example["image"][..., 0])])[0] < 1e-3
        assert image[mask > 0].mean() > image[mask == 0].mean() + 1.0


def _best_fit(image, images):
    """(relative residual, coefficients) of ``image`` as a linear combination of one rot90/flip of ``images``."""
    fits = []
    for flip in (False, True):
        for turns in range(4):
            a = np.stack([np.rot90(np.fliplr(b) if flip else b, turns).ravel() for b in images], 1)
            c, *_ = np.linalg.lstsq(a, image.ravel(), rcond=None)
            fits.append((np.linalg.norm(a @ c - image.ravel()) / np.linalg.norm(image), c))
    return min(fits, key=lambda f: f[0])


def test_repeated_pipeline_draws_fresh_augmentation_each_pass():
    from stem_zoo import data

    builder = _builder({"train": _examples(1, seed=5)})
    entry = _entry(crop=(40, 40))
    crops = {x.tobytes() for x, _ in data.train_pipeline(builder, entry, 1, seed=0, repeat=True).take(8)
             .as_numpy_iterator()}
    cycled = {x.tobytes() for x, _ in data.train_pipeline(builder, entry, 1, seed=0).repeat().take(8)
              .as_numpy_iterator()}
    assert len(crops) >= 6  # one example: each pass a new crop / rotation ...
    assert len(cycled) == 1  # ... where repeating the finished pipeline gives the first pass's again


@pytest.mark.slow
def test_ensemble_trains_its_members_and_averages_them(monkeypatch, tmp_path):
    from stem_zoo import data, train

    entry = _entry()
    builder = _builder({"train": _examples(8, seed=1), "validation": _examples(4, seed=2)})
    monkeypatch.setattr(train, "get_entry", lambda model_id: entry)
    monkeypatch.setattr(data, "load_builder", lambda dataset, config, data_dir=None: builder)
    settings = train.TrainSettings(epochs=1, batch_size=4, seed=5, ensemble=2)
    record = train.train(entry.id, tmp_path, settings=settings, devices=["/cpu:0"], verbose=0)
    assert [m["settings"]["seed"] for m in record["members"]] == [5, 6]
    assert record["validation"]["n"] == 4
    import keras

    members = [keras.saving.load_model(tmp_path / f"member{i}" / "model.keras", compile=False) for i in (0, 1)]
    model = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    x = np.random.default_rng(0).normal(size=(1, 48, 48, 1)).astype(np.float32)
    outputs = [np.asarray(m(x)) for m in members]
    assert not np.allclose(outputs[0], outputs[1], atol=1e-3)
    assert np.allclose(np.asarray(model(x)), (outputs[0] + outputs[1]) / 2, atol=1e-5)
    # A restart keeps finished members.
    stamp = (tmp_path / "member0" / "model.keras").stat().st_mtime_ns
    train.train(entry.id, tmp_path, settings=settings, devices=["/cpu:0"], verbose=0)
    assert (tmp_path / "member0" / "model.keras").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="--workers"):
        train.train(entry.id, tmp_path, settings=settings, multi_worker=True)
