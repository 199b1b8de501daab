"""The smoke build: sizes, splits that measure generalization, dtypes, reproducibility, interrupted builds."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

import stem_datasets  # noqa: F401
from stem_datasets.builders.stem_abf_tilt import recipe as abf_tilt
from stem_datasets.simulation import simulate as simulate_module
from stem_datasets.builders.stem_abf_tilt.design import planned_runs
from stem_datasets.physics.glazer import DETERMINABLE, canonical_angles, determinable_quantities

RECIPE = abf_tilt.RECIPES["smoke"]
N_DETECTORS = len(RECIPE.optics.abf_inner_fraction)


def _load(data_dir, split):
    return list(tfds.as_numpy(tfds.load("stem_abf_tilt/smoke", split=split, data_dir=data_dir)))


N_DOSES = len(RECIPE.doses)


def _count(purpose, layers):
    return sum(len(layers) for r in planned_runs(RECIPE) if r.purpose == purpose) * N_DETECTORS


@pytest.mark.slow
def test_split_sizes_match_the_recipe(smoke_build):
    smoke_data_dir = smoke_build("stem_abf_tilt")
    info = tfds.builder("stem_abf_tilt/smoke", data_dir=smoke_data_dir).info
    n_patterns, train_layers = len(RECIPE.patterns), RECIPE.train_layers()
    unseen = (*RECIPE.held_out_layers, *RECIPE.beyond_layers)
    assert info.splits["train"].num_examples == (
        n_patterns * RECIPE.gp_train_angles * RECIPE.examples_per_angle + _count("design", train_layers) + _count("optics", train_layers)
    )
    for split in ("validation", "test"):  # every split but train: each example once per dose
        assert info.splits[split].num_examples == n_patterns * RECIPE.gp_eval_angles * RECIPE.eval_examples_per_angle * N_DOSES
    assert info.splits["test_multislice"].num_examples == _count("test", train_layers) * N_DOSES > 0
    assert info.splits["test_unseen_thickness"].num_examples == _count("test", unseen) * N_DOSES > 0
    assert info.splits["test_unseen_material"].num_examples == _count("unseen_material", train_layers) * N_DOSES > 0
    assert info.splits["test_imperfect"].num_examples == _count("imperfect", train_layers) * N_DOSES > 0
    assert info.supervised_keys == ("image", "angles")
    meta = info.metadata
    assert meta["pixel_size_angstrom"] == RECIPE.pixel_size and meta["crop_margin_px"] == [13, 18]
    for v in meta["gp_validation"].values():
        assert len(v["nmse_median"]) == len(train_layers)
        assert np.median(v["nmse_median"]) < 0.5 * np.median(v["nearest_design_nmse_median"])


@pytest.mark.slow
def test_splits_measure_generalization(smoke_build):
    smoke_data_dir = smoke_build("stem_abf_tilt")
    data = {split: _load(smoke_data_dir, split) for split in abf_tilt.SPLITS}
    for split, examples in data.items():
        for ex in examples:
            assert ex["image"].dtype == np.float32 and ex["image"].shape == (*RECIPE.image_shape, 1)
            assert np.all(np.isfinite(ex["image"])) and 0 < ex["image"].mean() < 1
            assert np.all(np.abs(ex["angles"]) <= RECIPE.tilt_limit_deg)
        compositions = {ex["composition"].decode() for ex in examples}
        assert compositions == ({"CaTiO3"} if split == "test_unseen_material" else {"SrTiO3"})
    labels = {s: {tuple(ex["angles"].tolist()) for ex in data[s]} for s in data}
    thickness = {s: {round(float(ex["thickness_nm"]), 2) for ex in data[s]} for s in data}
    # No label of a held-out split is a training label, at any thickness.
    for split in abf_tilt.SPLITS[1:]:
        assert not labels["train"] & labels[split], split
    assert not labels["validation"] & labels["test"]
    # Multislice test angles lie half a lattice step off every training grid.
    for triple in labels["test_multislice"] | labels["test_unseen_thickness"]:
        assert any(abs(a / RECIPE.label_step_deg - round(a / RECIPE.label_step_deg)) > 0.4 for a in triple)
    # Unseen thickness: no training thickness, both inside the range (the held-out band) and beyond it.
    assert not thickness["train"] & thickness["test_unseen_thickness"]
    assert min(thickness["test_unseen_thickness"]) < max(thickness["train"]) < max(thickness["test_unseen_thickness"])
    # Training holds every imaging condition kind; test_imperfect lies beyond all training ranges.
    train_defocus = [abs(float(ex["defocus_A"])) for ex in data["train"]]
    assert 0 < max(train_defocus) <= RECIPE.optics.defocus_A
    assert len({float(ex["abf_inner_mrad"]) for ex in data["train"]}) >= N_DETECTORS
    for ex in data["test_imperfect"]:
        assert abs(float(ex["defocus_A"])) > RECIPE.optics.defocus_A
        assert float(ex["astigmatism_A"]) > RECIPE.optics.astigmatism_A
        assert float(ex["mistilt_mrad"]) > RECIPE.optics.mistilt_mrad
    sources = {s: {int(ex["source"]) for ex in data[s]} for s in data}
    assert sources["train"] == {0, 1} and sources["validation"] == sources["test"] == {1}


@pytest.mark.slow
def test_labels_are_canonical_and_eval_splits_carry_dosed_noise(smoke_build):
    smoke_data_dir = smoke_build("stem_abf_tilt")
    meta = tfds.builder("stem_abf_tilt/smoke", data_dir=smoke_data_dir).info.metadata
    assert meta["doses_per_A2"] == list(RECIPE.doses) and meta["determinable"] == list(DETERMINABLE)
    for split in abf_tilt.SPLITS:
        examples = _load(smoke_data_dir, split)
        for ex in examples:
            pattern = ex["pattern"].decode()
            canonical = canonical_angles(ex["raw_angles"].tolist(), pattern)
            np.testing.assert_allclose(ex["angles"], canonical, atol=1e-5)
            np.testing.assert_allclose(ex["determinable"], list(determinable_quantities(canonical, pattern).values()), atol=1e-4)
            a, b, _ = ex["angles"]
            assert a + b >= -1e-5  # the mirror's rule for a-b-c-
        doses = sorted({float(ex["dose"]) for ex in examples})
        if split == "train":
            assert doses == [0.0] and all(np.array_equal(ex["image"], ex["clean_image"]) for ex in examples[:20])
            continue
        assert doses == sorted(RECIPE.doses)
        for ex in examples[:30]:  # Poisson: the noise variance is the clean intensity over the electrons per pixel
            electrons = float(ex["dose"]) * RECIPE.pixel_size**2
            noise = (ex["image"] - ex["clean_image"]) * np.sqrt(electrons / np.clip(ex["clean_image"], 1e-3, None))
            assert abs(float(noise.mean())) < 0.05 and 0.9 < float(noise.std()) < 1.1


@pytest.mark.slow
def test_same_config_and_seed_rebuild_identically(smoke_build, tmp_path):
    smoke_data_dir = smoke_build("stem_abf_tilt")
    tfds.builder("stem_abf_tilt/smoke", data_dir=tmp_path).download_and_prepare()
    key = lambda e: (float(e["thickness_nm"]), float(e["abf_inner_mrad"]), float(e["dose"]), *e["angles"].tolist())  # noqa: E731
    for split in ("train", "test_imperfect"):
        first = sorted(_load(smoke_data_dir, split), key=key)
        again = sorted(_load(tmp_path, split), key=key)
        assert len(first) == len(again)
        for a, b in zip(first, again):
            np.testing.assert_array_equal(a["image"], b["image"])  # test_imperfect: the Poisson draws too
            np.testing.assert_array_equal(a["angles"], b["angles"])


@pytest.mark.slow
def test_interrupted_build_leaves_nothing_and_rerun_uses_the_cache(smoke_build, tmp_path, monkeypatch):
    smoke_build("stem_abf_tilt")  # the smoke build fills the simulation cache this test reads
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


@pytest.mark.slow
def test_gp_images_and_bad_input(smoke_build):
    smoke_build("stem_abf_tilt")  # the smoke build fills the simulation cache this test reads
    thickness = RECIPE.thicknesses_nm[3]
    image = abf_tilt.surrogate_images(RECIPE, "a-b-c-", [[2.25, -3.5, 4.75]], thickness)
    assert image.shape == (1, *RECIPE.image_shape, 1) and np.all(np.isfinite(image))
    with pytest.raises(ValueError, match="no GP for pattern 'a-b\\+c-'; it has a-b-c-"):
        abf_tilt.surrogate_images(RECIPE, "a-b+c-", [[1.0, 1.0, 1.0]], thickness)
    with pytest.raises(ValueError, match="not a simulated thickness.*2.21-6.63 nm"):
        abf_tilt.surrogate_images(RECIPE, "a-b-c-", [[1.0, 1.0, 1.0]], 30.0)
    with pytest.raises(ValueError, match="held out"):
        abf_tilt.surrogate_images(RECIPE, "a-b-c-", [[1.0, 1.0, 1.0]], RECIPE.thickness_nm(RECIPE.held_out_layers[0]))
    with pytest.raises(ValueError, match="outside the fitted range"):
        abf_tilt.surrogate_images(RECIPE, "a-b-c-", [[14.0, 1.0, 1.0]], thickness)
    with pytest.raises(ValueError, match="not a GP output"):
        abf_tilt.surrogate_images(RECIPE, "a-b-c-", [[1.0, 1.0, 1.0]], thickness, detector=(5.0, 30.0))


def test_unknown_config_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown stem_abf_tilt config 'huge'"):
        abf_tilt.get_recipe("huge")
    with pytest.raises(ValueError, match="huge"):
        tfds.builder("stem_abf_tilt/huge")
    with pytest.raises(ValueError, match="Unknown split"):
        next(abf_tilt.generate_unit(RECIPE, "nope", "a-b-c-", None))
