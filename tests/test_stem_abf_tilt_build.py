"""The smoke build: sizes, disjoint splits, dtypes, reproducibility, interrupted builds."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

import stem_datasets  # noqa: F401
from stem_datasets import abf_tilt
from stem_datasets import simulate as simulate_module
from stem_datasets.glazer import canonical_angles

RECIPE = abf_tilt.RECIPES["smoke"]


def _load(data_dir, split):
    return list(tfds.as_numpy(tfds.load("stem_abf_tilt/smoke", split=split, data_dir=data_dir)))


def test_split_sizes_match_the_recipe(smoke_data_dir):
    info = tfds.builder("stem_abf_tilt/smoke", data_dir=smoke_data_dir).info
    n_thick = len(RECIPE.thicknesses_nm)
    (pattern,) = RECIPE.patterns
    assignment = abf_tilt.gp_splits(RECIPE, pattern, abf_tilt.fine_grid(RECIPE, pattern))
    for split in ("train", "validation", "test"):
        assert info.splits[split].num_examples == n_thick * int(np.sum(assignment == split)) > 0
    assert info.splits["test_multislice"].num_examples == n_thick * RECIPE.n_test_multislice
    assert info.splits["test_unseen_material"].num_examples == n_thick * RECIPE.n_test_unseen
    assert info.splits["test_imperfect"].num_examples == n_thick * RECIPE.n_test_imperfect
    assert info.supervised_keys == ("image", "angles")
    meta = info.metadata
    assert meta["pixel_size_angstrom"] == RECIPE.pixel_size
    assert all(v["nmse_median"] < v["nearest_grid_nmse_median"] for v in meta["gp_validation"].values())


def test_examples_are_finite_typed_and_splits_disjoint(smoke_data_dir):
    labels = {}
    for split in abf_tilt.SPLITS:
        examples = _load(smoke_data_dir, split)
        for ex in examples:
            assert ex["image"].dtype == np.float32 and ex["image"].shape == (*RECIPE.image_shape, 1)
            assert np.all(np.isfinite(ex["image"])) and 0 < ex["image"].mean() < 1
            assert ex["angles"].dtype == np.float32 and np.all(np.abs(ex["angles"]) <= RECIPE.fine_limit_deg)
        labels[split] = {(tuple(ex["angles"].tolist()), float(ex["thickness_nm"])) for ex in examples}
        sources = {int(ex["source"]) for ex in examples}
        assert sources == ({1} if split in ("train", "validation", "test") else {0})
        compositions = {ex["composition"].decode() for ex in examples}
        assert compositions == ({"CaTiO3"} if split == "test_unseen_material" else {"SrTiO3"})
    assert not labels["train"] & labels["test"]
    assert not labels["train"] & labels["validation"]
    assert not labels["validation"] & labels["test"]
    multislice = {canonical_angles(a, "a-b-c-") for a, _ in labels["test_multislice"]}
    grid = {canonical_angles(g, "a-b-c-") for g in abf_tilt.coarse_grid(RECIPE, "a-b-c-")}
    assert not multislice & grid  # off-grid, never used in a GP fit


def test_same_config_and_seed_rebuild_identically(smoke_data_dir, tmp_path):
    tfds.builder("stem_abf_tilt/smoke", data_dir=tmp_path).download_and_prepare()
    for split in ("train", "test_imperfect"):
        first = sorted(_load(smoke_data_dir, split), key=lambda e: (e["thickness_nm"], *e["angles"].tolist()))
        again = sorted(_load(tmp_path, split), key=lambda e: (e["thickness_nm"], *e["angles"].tolist()))
        assert len(first) == len(again)
        for a, b in zip(first, again):
            np.testing.assert_array_equal(a["image"], b["image"])
            np.testing.assert_array_equal(a["angles"], b["angles"])


def test_interrupted_build_leaves_nothing_and_rerun_uses_the_cache(smoke_data_dir, tmp_path, monkeypatch):
    real_generate = abf_tilt.generate_unit

    def interrupted(recipe, split, unit, cache, **kwargs):
        if split == "test_multislice":
            raise KeyboardInterrupt("simulated interruption")
        yield from real_generate(recipe, split, unit, cache, **kwargs)

    builder = tfds.builder("stem_abf_tilt/smoke", data_dir=tmp_path)
    with monkeypatch.context() as patch:
        patch.setattr(abf_tilt, "generate_unit", interrupted)
        with pytest.raises(KeyboardInterrupt):
            builder.download_and_prepare()
    assert not builder.is_prepared()
    assert not list(tmp_path.rglob("*.tfrecord*")) or all("incomplete" in str(p) for p in tmp_path.rglob("*.tfrecord*"))

    def no_multislice(*args, **kwargs):
        raise AssertionError("the rerun simulated again instead of using the cache")

    with monkeypatch.context() as patch:
        patch.setattr(simulate_module, "_run_multislice", no_multislice)
        tfds.builder("stem_abf_tilt/smoke", data_dir=tmp_path).download_and_prepare()
    assert tfds.builder("stem_abf_tilt/smoke", data_dir=tmp_path).is_prepared()


def test_unknown_config_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown stem_abf_tilt config 'huge'"):
        abf_tilt.get_recipe("huge")
    with pytest.raises(ValueError, match="huge"):
        tfds.builder("stem_abf_tilt/huge")
    with pytest.raises(ValueError, match="Unknown split"):
        next(abf_tilt.generate_unit(RECIPE, "nope", ("a-b-c-", 0), None))
