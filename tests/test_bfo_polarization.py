"""The stem_bfo_polarization recipe: draws, splits, labels in the image frame, mistilt (no PRISM run here)."""

import dataclasses

import numpy as np
import pytest

from stem_datasets.builders.stem_bfo_polarization import recipe as bp
from stem_datasets.physics import polarization
from stem_datasets.builders.stem_atom_columns.recipe import scan_positions


def test_draws_reproducible_and_splits_hold_other_fields():
    recipe = bp.get_recipe("small")
    unit = recipe.units("validation")[0]
    assert bp.draw_field(recipe, unit) == bp.draw_field(recipe, unit)
    assert recipe.units("train") == recipe.units("test")  # the same fields, cut in two regions
    seeds = {s: {bp.draw_field(recipe, u).field_seed for u in recipe.units(s)} for s in recipe.splits}
    others = set().union(*(seeds[s] for s in recipe.splits if s not in ("train", "test")))
    assert not seeds["train"] & others
    assert sum(len(v) for s, v in seeds.items() if s not in ("train", "test")) == len(others)  # all distinct
    assert {u[1] for u in recipe.units("test_unseen_composition")} == {recipe.unseen_composition}
    assert recipe.unseen_composition not in {u[1] for u in recipe.units("train")}
    aligned = [np.hypot(*bp.draw_field(recipe, u).mistilt_mrad) for s in recipe.splits if s != "test_mistilt"
               for u in recipe.units(s)]
    mistilt = [np.hypot(*bp.draw_field(recipe, u).mistilt_mrad) for u in recipe.units("test_mistilt")]
    assert all(1.0 <= t <= 2.5 for t in mistilt) and all(t <= recipe.alignment_max_mrad for t in aligned)
    patterns = [bp.draw_field(recipe, u).pattern for u in recipe.units("train")]
    assert sorted(patterns) == sorted(polarization.KINDS)  # the region fields cycle through every domain pattern


def test_labels_are_the_cells_displacement_in_the_image_frame():
    recipe = bp.get_recipe("smoke")
    d = bp.draw_field(recipe, recipe.units("train")[0])
    field = np.zeros((recipe.cells, recipe.cells, 2)) + (20.0, 10.0)
    atoms = polarization.bfo_field((recipe.cells, recipe.cells), 1, field)
    for rotation, expected in ((0.0, (20.0, 10.0)), (90.0, (10.0, -20.0))):  # R(-90 deg) (20, 10) = (10, -20)
        shot = dataclasses.replace(d.shot, rotation_deg=rotation)
        positions = scan_positions(shot, bp.image_shape(recipe), recipe.pixel_size)
        xy, p = bp.cell_labels(atoms, positions, rotation)
        assert len(xy) >= 36 and np.all((xy > -0.5) & (xy < bp.image_shape(recipe)[0] - 0.5))
        assert np.allclose(p, expected, atol=1e-3)
    drawn = bp.structure_of(recipe, d)  # a drawn field: every label is one cell's applied displacement
    positions = scan_positions(dataclasses.replace(d.shot, rotation_deg=0.0), bp.image_shape(recipe), recipe.pixel_size)
    _, p = bp.cell_labels(drawn, positions, 0.0)
    cells = drawn.info["displacement_pm"].reshape(-1, 2)
    assert np.min(np.linalg.norm(p[:, None] - cells[None], axis=-1), axis=1).max() < 1e-3


def test_mistilt_is_a_shear_about_mid_thickness():
    recipe = bp.get_recipe("smoke")
    atoms = bp.structure_of(recipe, bp.draw_field(recipe, recipe.units("validation")[0]))
    tilted = bp.mistilted(atoms, (2.0, 0.0))
    dz = atoms.positions[:, 2] - atoms.cell[2, 2] / 2
    dx = (tilted.positions[:, 0] - atoms.positions[:, 0] + atoms.cell[0, 0] / 2) % atoms.cell[0, 0] - atoms.cell[0, 0] / 2
    assert np.allclose(dx, dz * np.tan(2e-3), atol=1e-9)
    assert np.allclose(tilted.positions[:, 1:], atoms.positions[:, 1:])
    assert bp.mistilted(atoms, (0.0, 0.0)) is atoms


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="Unknown stem_bfo_polarization config"):
        bp.get_recipe("huge")
    with pytest.raises(ValueError, match="Unknown split"):
        bp.get_recipe("smoke").units("training")
    for bad in ((8, 3), (0, 4), (3.0, 6)):
        with pytest.raises(ValueError, match="region_layer_range must be"):
            dataclasses.replace(bp.get_recipe("small"), region_layer_range=bad)
    with pytest.raises(ValueError, match="layer_range must be"):
        dataclasses.replace(bp.get_recipe("small"), layer_range=(4, 2))


def _write_experimental_frame(folder, name, spacing_px=20.0, cells=12, nan_rows=()):
    """A frame in the published per-frame layout: an image with a lattice of cells and their P."""
    import h5py

    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:cells, 0:cells]
    xy = np.stack([x.ravel(), y.ravel()], axis=1) * spacing_px + spacing_px
    p = rng.normal(0, 20, xy.shape)
    rows, cols = np.mgrid[0:int(spacing_px * (cells + 1)), 0:int(spacing_px * (cells + 1))]
    image = 1 + np.cos(2 * np.pi * cols / spacing_px) * np.cos(2 * np.pi * rows / spacing_px)
    image[list(nan_rows)] = np.nan
    with h5py.File(folder / f"{name}_HAADF.h5", "w") as f:
        f["MainImage"] = image
    with h5py.File(folder / f"{name}_UCParameterization.h5", "w") as f:
        f["xy_COM"], f["Pxy"] = xy, p
    return xy, p


def test_experimental_config_builds_from_the_manual_dir(tmp_path):
    import tensorflow_datasets as tfds

    import stem_datasets  # noqa: F401

    manual = tmp_path / "manual"
    manual.mkdir()
    xy, p = _write_experimental_frame(manual, "BFO_7Sm_a", nan_rows=(30, 31))
    builder = tfds.builder("stem_bfo_polarization/experimental", data_dir=tmp_path / "data")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    files = builder.info.metadata["files_sha256"]
    assert set(files) == {"BFO_7Sm_a_HAADF.h5", "BFO_7Sm_a_UCParameterization.h5"} and all(len(v) == 64 for v in files.values())
    train = list(builder.as_dataset(split="train").as_numpy_iterator())
    test = list(builder.as_dataset(split="test").as_numpy_iterator())
    assert train and test
    scale = bp.frame_pixel_size(xy) / 0.25  # 20 px cells at 3.965 A -> 0.198 A/px -> resampled to 0.25
    cut = round(2 / 3 * int((20 * 13 - 1) * scale + 1))
    for split, examples in (("train", train), ("test", test)):
        for e in examples:
            x0 = e["centre_xy"][0] - 12
            assert (x0 + 25 <= cut) if split == "train" else (x0 >= cut - 1)
            assert np.all(np.isfinite(e["image"])) and e["composition_sm"] == pytest.approx(0.07)
    centred = [e for e in train + test if e["sampling"] == 0]
    published = {tuple(np.round(v, 3)) for v in p.astype(np.float32)}
    assert all(tuple(np.round(e["polarization_pm"], 3)) in published for e in centred)


def test_experimental_config_without_files_says_what_to_place(tmp_path):
    with pytest.raises(FileNotFoundError, match="composition_series_dict_full.npy"):
        bp.get_recipe("experimental").with_manual_dir(tmp_path).units("train")


def test_experimental_config_with_a_broken_frame_fails_clearly_and_writes_nothing(tmp_path):
    import tensorflow_datasets as tfds

    import stem_datasets  # noqa: F401

    manual = tmp_path / "manual"
    manual.mkdir()
    _write_experimental_frame(manual, "BFO_0Sm_a")
    (manual / "BFO_0Sm_a_UCParameterization.h5").unlink()  # a HAADF frame without its parameterization
    builder = tfds.builder("stem_bfo_polarization/experimental", data_dir=tmp_path / "data")
    with pytest.raises(FileNotFoundError, match="BFO_0Sm_a_UCParameterization.h5"):
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    assert not tfds.builder("stem_bfo_polarization/experimental", data_dir=tmp_path / "data").is_prepared()


@pytest.mark.parametrize("name", ["small", "full"])
def test_region_fields_span_their_thickness_range_one_per_stratum(name):
    recipe = bp.get_recipe(name)
    lo, hi = recipe.region_layer_range
    units = recipe.units("train")
    layers = sorted(bp.draw_field(recipe, u).layers for u in units)
    width = (hi - lo + 1) / len(units)
    for k, n in enumerate(layers):  # the k-th thinnest field lies in the k-th stratum
        assert lo + int(k * width) <= n <= lo + int((k + 1) * width - 1e-9), (k, n, layers)
    for x in recipe.train_compositions:  # interleaved: every composition has thin and thick fields
        own = [bp.draw_field(recipe, u).layers for u in units if u[1] == x]
        assert min(own) < (lo + hi) / 2 < max(own), (x, own)
    others = [bp.draw_field(recipe, u).layers for s in recipe.splits if s not in ("train", "test") for u in recipe.units(s)]
    assert all(recipe.layer_range[0] <= n <= recipe.layer_range[1] for n in others)


@pytest.mark.parametrize("name", ["smoke", "small", "full"])
def test_region_split_leaves_room_for_a_column_of_whole_windows_on_each_side(name):
    # A window belongs to train (test) only if it lies wholly in the first region_fraction (the rest) of the field:
    # the band its centres can take must be at least one cell wide, or a field's test side can hold no centred window
    # at all (smoke with the seed's 2/3 : 1/3 split: an 11 px band for a 15 px cell).
    recipe = bp.get_recipe(name)
    width, pitch = bp.image_shape(recipe)[1], bp.pc_lattice_constant() / recipe.pixel_size
    for side in (recipe.region_fraction, 1 - recipe.region_fraction):
        assert side * width - recipe.window_px >= pitch, (side, width)
    with pytest.raises(ValueError, match="region_fraction"):
        dataclasses.replace(recipe, region_fraction=1.0)


def test_fields_are_r3c_with_a_drawn_o_sublattice_and_the_prism_window_their_thickness_needs():
    recipe = bp.get_recipe("small")
    draws = [bp.draw_field(recipe, u) for s in recipe.splits for u in recipe.units(s)]
    assert all(recipe.o_scale_range[0] <= d.o_scale <= recipe.o_scale_range[1] for d in draws)
    assert {d.beam_sign for d in draws} == {-1, 1} and max(d.layers for d in draws) == 14
    smoke = bp.get_recipe("smoke")
    d = bp.draw_field(smoke, smoke.units("validation")[0])
    atoms = bp.structure_of(smoke, d)
    assert atoms.info["o_scale"] == d.o_scale and "Palewicz" in atoms.info["source"]
    assert atoms.info["lattice_constant_pc"][0] == pytest.approx(bp.pc_lattice_constant()) == pytest.approx(3.9644, abs=1e-4)
    side = recipe.cells * bp.pc_lattice_constant()
    for layers, window in ((bp.THIN_LAYERS, bp.THIN_WINDOW), (bp.THIN_LAYERS + 1, 15.0), (15, 15.0)):
        optics = bp.optics_for(recipe, layers)
        assert window <= side / optics.interpolation_for((side, side)) < 1.5 * window
        assert optics.haadf[1] < 0.9 * optics.usable_max_angle  # the outer angle well inside what the potential holds
    # the number of noise draws changes no structure
    more = dataclasses.replace(recipe, noise_draws=2)
    unit = recipe.units("validation")[0]
    assert dataclasses.replace(bp.draw_field(more, unit), doses=()) == dataclasses.replace(bp.draw_field(recipe, unit), doses=())
