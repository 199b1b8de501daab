"""stem_atom_columns: structures, labels on the simulated columns, draws and splits."""

import dataclasses

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from stem_datasets.builders.stem_atom_columns import recipe as ac
from stem_datasets.physics import lattices, random_columns
from stem_datasets.simulation.prism import PrismSettings, Shot, prism_images


def _peak(image: np.ndarray, x: float, y: float, sign: float) -> tuple[float, float]:
    gy, gx = np.mgrid[-1:1.001:0.02, -1:1.001:0.02]
    values = sign * map_coordinates(image, [y + gy, x + gx], order=3)
    k = np.unravel_index(values.argmax(), values.shape)
    return x + gx[k], y + gy[k]


def test_labels_land_on_the_simulated_columns():
    """A tiny real PRISM run (static SrTiO3, distorted, rotated scan): every labelled Sr column is a HAADF
    maximum and every labelled column an ABF minimum, to a fraction of a pixel; the mask agrees."""
    atoms = lattices.srtio3_001((3, 3), 6)
    shot = ac.ShotDraw(rotation_deg=23.0, origin=(1.3, 0.7), drift=(0.4, -0.3), jitter_rms=0.03, jitter_seed=1,
                       defocus=0.0, semiangle=25.0, source_size=0.0, dose_haadf=1e6, dose_abf=1e6)
    positions = ac.scan_positions(shot, (56, 56), 0.2)
    settings = PrismSettings(potential_sampling=0.1, haadf=(45.0, 80.0), abf=(12.0, 24.0), interpolation=1)
    images = prism_images(atoms, [Shot(0.0, 25.0, positions)], settings, cache=None)
    cols = lattices.projected_columns(atoms)
    mask, xy, classes = ac.column_labels(cols, np.diag(atoms.cell)[:2], positions)
    interior = np.all((xy > 3) & (xy < 52), axis=1)
    heavy = interior & (classes == 3)
    assert heavy.sum() >= 4 and interior.sum() >= 16
    offsets = np.array([np.subtract(_peak(images.haadf[0], x, y, 1.0), (x, y)) for x, y in xy[heavy]])
    assert np.abs(offsets).max() < 0.15, offsets
    offsets = np.array([np.subtract(_peak(images.abf[0], x, y, -1.0), (x, y)) for x, y in xy[interior]])
    assert np.abs(offsets).max() < 0.25, offsets
    rows, cols_ = np.round(xy[interior][:, 1]).astype(int), np.round(xy[interior][:, 0]).astype(int)
    assert np.array_equal(mask[rows, cols_], classes[interior])
    # only what each image shows is a label: HAADF has no O columns (beside Sr and Ti-O), ABF at 0 A defocus has all
    haadf_mask, haadf_classes = ac.shown_labels(mask, xy, classes, images.haadf[0], 0.2)
    assert np.array_equal(haadf_classes[interior], np.where(classes[interior] == 1, 0, classes[interior]))
    assert np.array_equal(haadf_mask[rows, cols_], haadf_classes[interior]) and not np.any(haadf_mask[6:50, 6:50] == 1)
    abf_mask, abf_classes = ac.shown_labels(mask, xy, classes, images.abf[0], 0.2)
    assert np.array_equal(abf_classes[interior], classes[interior])


def test_projected_columns_and_classes():
    cols = lattices.projected_columns(lattices.srtio3_110((2, 2), 1))
    assert sorted(set(cols.species)) == ["O", "Sr+O", "Ti"] and np.bincount(cols.classes).tolist() == [0, 8, 8, 8]
    si = lattices.projected_columns(lattices.si_110((2, 2), 1))
    d = np.linalg.norm(si.xy[:, None] - si.xy[None], axis=-1) + np.eye(len(si)) * 99
    assert np.isclose(d.min(), lattices.SILICON_A / 4, atol=0.01)  # dumbbells stay two columns
    for p in [(25, 25), (-30, 20)]:  # BiFeO3's Fe stays in its column whatever the polarization
        assert np.bincount(lattices.projected_columns(lattices.bifeo3_100((1, 1), 1, p)).classes).tolist() == [0, 8, 4, 4]


def test_scan_inverse_is_exact():
    shot = ac.ShotDraw(137.0, (3.0, -2.0), (0.6, -0.6), 0.08, 5, 0.0, 20.0, 0.2, 1e4, 1e4)
    pos = ac.scan_positions(shot, (64, 48), 0.2)
    picks = np.array([[3, 4], [60, 40], [31, 17]])
    xy = ac.pixel_coordinates(pos, pos[picks[:, 0], picks[:, 1]])
    assert np.allclose(xy, picks[:, ::-1], atol=1e-3)


def test_draws_reproducible_and_splits_hold_other_structures():
    recipe = ac.get_recipe("small")
    assert ac.draw_structure(recipe, "test", ("Si [110]", 1)) == ac.draw_structure(recipe, "test", ("Si [110]", 1))
    train = {(u[0], ac.draw_structure(recipe, "train", u).layers) for u in recipe.units("train")}
    for split in ("validation", "test", "test_low_dose"):
        for unit in recipe.units(split):
            d = ac.draw_structure(recipe, split, unit)
            assert d.zone in ac.ZONES and (d.zone, d.layers) not in train or ac.ZONES[d.zone].layer_range[0] == ac.ZONES[d.zone].layer_range[1]
    for split in recipe.splits:  # fields without a lattice: even layer counts in train only
        for unit in recipe.units(split):
            if unit[0] in random_columns.RANDOM_FIELDS:
                atoms = ac.structure_of(ac.draw_structure(recipe, split, unit))
                assert atoms.info["layers"] % 2 == (split != "train")
    assert {u[0] for u in recipe.units("test_unseen_lattice")} == set(ac.UNSEEN_ZONES)
    assert not set(ac.UNSEEN_ZONES) & {u[0] for u in recipe.units("train")}
    seeds = [ac.draw_structure(recipe, s, u).phonon_seed for s in recipe.splits for u in recipe.units(s)]
    assert len(set(seeds)) == len(seeds)
    low = [ac.draw_shot(recipe, "test_low_dose", u, 0) for u in recipe.units("test_low_dose")]
    assert all(s.dose_haadf in ac.ZONES[u[0]].low_doses and s.dose_abf in ac.ZONES[u[0]].low_doses
               for s, u in zip(low, recipe.units("test_low_dose")))


@pytest.mark.parametrize("make", [random_columns.random_lattice, random_columns.random_columns])
def test_fields_without_a_lattice_prior(make):
    """Random fields: wide enough, every column a column of its own (>= 1.05 A apart), elements of every class
    across draws, columns of different lengths, and no two draws alike."""
    classes, lengths, cells = set(), set(), set()
    for seed in range(6):
        atoms = make(np.random.default_rng(seed), field_min=14.0, parity=seed % 2)
        assert min(np.diag(atoms.cell)[:2]) >= 14.0 and atoms.info["layers"] % 2 == seed % 2
        cols = lattices.projected_columns(atoms)
        cell = np.diag(atoms.cell)[:2]
        d = np.linalg.norm((cols.xy[:, None] - cols.xy[None] + cell / 2) % cell - cell / 2, axis=-1)
        assert (d + 99 * np.eye(len(cols))).min() >= random_columns.MIN_SPACING[0] - 1e-6
        classes |= set(cols.classes.tolist())
        xy = np.round(atoms.positions[:, :2], 3)
        lengths |= set(np.unique(xy, axis=0, return_counts=True)[1].tolist())
        cells.add(tuple(np.round(np.diag(atoms.cell), 3)))
    assert classes == {1, 2, 3} and len(lengths) > 3 and len(cells) == 6


def test_polar_perovskite_and_dichalcogenides():
    for scale in (0.0, 1.0):
        atoms = lattices.polar_perovskite_100("PbTiO3", (2, 2), 2, scale=scale)
        cols = lattices.projected_columns(atoms)
        c = lattices.POLAR_PEROVSKITES["PbTiO3"][1]
        x = cols.xy[np.array(cols.species) == "O", 0]
        offset = (x + c / 4) % (c / 2) - c / 4  # from the nearest centrosymmetric O site (multiples of c / 2)
        assert np.allclose(np.sort(np.unique(offset.round(4))), np.round([scale * 0.112 * c, scale * 0.117 * c], 4)[
            :1 if scale == 0 else 2], atol=1e-3)
    for formula, (a, _) in lattices.TMDS.items():
        layer = lattices.tmd_layer(formula, (3, 2))
        cols = lattices.projected_columns(layer)
        metal = "Mo" if formula.startswith("Mo") else "W"
        assert set(cols.species) == {metal, layer.info["chalcogen"]} and len(cols) == 2 * len(layer) // 3
        assert np.isclose(layer.cell[0, 0] / 3, a)


def test_labels_follow_the_imaged_configuration():
    """One frozen-phonon configuration: a single-atom column is imaged where that configuration put it."""
    from stem_datasets.simulation.prism import frozen_configuration

    layer = lattices.graphene_layer((2, 2))
    frozen = frozen_configuration(layer, 3)
    static, moved = lattices.projected_columns(layer), lattices.projected_columns(layer, displaced=frozen.positions)
    assert static.species == moved.species
    cell = np.diag(layer.cell)[:2]
    shift = np.linalg.norm((moved.xy - static.xy + cell / 2) % cell - cell / 2, axis=1)
    assert 0.04 < np.sqrt(np.mean(shift**2)) < 0.15  # ~sqrt(2) x 0.062 A, the C displacement of one configuration
    order = np.lexsort((lattices.wrap(layer.positions[:, 0:1], cell[:1])[:, 0], lattices.wrap(layer.positions[:, 1:2], cell[1:])[:, 0]))
    assert np.allclose(moved.xy, lattices.wrap(frozen.positions[order, :2], cell), atol=1e-9)


def test_point_defects_and_noise():
    layer = lattices.graphene_layer((8, 5))
    g = lattices.point_defects(layer, np.random.default_rng(1), 0.05, 0.05, "C", "Si")
    assert len(g) == len(layer) - g.info["vacancies"] and g.get_chemical_symbols().count("Si") == g.info["substitutions"] > 0
    clean = np.full((64, 64), 0.5)
    noisy = ac.recorded_image(clean, 0.0, 0.2, 1e3, np.random.default_rng(0))
    assert abs(noisy.mean() - 0.5) < 0.02 and abs(noisy.std() - np.sqrt(0.5 / (1e3 * 0.04))) < 0.02


@pytest.mark.parametrize("dose", [1e3, 1e5, 1e7])
def test_noise_follows_the_seed_not_the_last_bits_of_the_image(dose):
    """Two builds' clean images differ by ~4e-6 (FFT plans): the noisy images must stay the same draw."""
    clean = np.random.default_rng(3).uniform(0.01, 0.2, (96, 96))
    nudged = clean * (1 + 4.3e-6 * np.random.default_rng(4).uniform(-1, 1, clean.shape))
    a, b = (ac.recorded_image(c, 0.3, 0.2, dose, np.random.default_rng(7)) for c in (clean, nudged))
    electrons = dose * 0.2**2
    assert np.abs(a - b).max() * electrons <= 1 + 4.3e-6 * 0.2 * electrons  # at most one count beyond the shift
    assert np.mean(a != b) < (0.01 if dose <= 1e5 else 1.0)
    rate = clean.mean() * electrons  # and still Poisson: variance equals the mean count
    flat = ac.recorded_image(np.full((128, 128), clean.mean()), 0.0, 0.2, dose, np.random.default_rng(8)) * electrons
    assert abs(flat.mean() / rate - 1) < 0.02 and abs(flat.var() / rate - 1) < 0.1


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="Unknown stem_atom_columns config"):
        ac.get_recipe("huge")
    with pytest.raises(ValueError, match="Unknown split"):
        ac.get_recipe("smoke").units("training")
    with pytest.raises(ValueError, match="exceeds"):
        prism_images(lattices.srtio3_001((1, 1), 1), [Shot(0.0, 20.0, np.zeros((2, 2, 2)))],
                     dataclasses.replace(ac.BULK, potential_sampling=0.2), cache=None)
    with pytest.raises(ValueError, match="No thermal displacement"):
        from stem_datasets.simulation.prism import frozen_configuration
        from ase import Atoms
        frozen_configuration(Atoms("Xe", cell=[2, 2, 2]), 0)
