"""Polarization fields of BiFeO3 [100]pc: variants, walls, Sm model, structures and their ground truth."""

import itertools

import numpy as np
import pytest

from stem_datasets.physics import lattices
from stem_datasets.physics import polarization as pol


def _angle(u, v) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v), -1, 1))))


@pytest.mark.parametrize("tilt", [11.0, 0.0])
def test_random_field_is_recovered_from_positions(tilt):
    rng = np.random.default_rng(3)
    disp = rng.uniform(-40, 40, size=(4, 6, 2))
    atoms = pol.bfo_field((6, 4), 2, disp, tilt_deg=tilt)
    assert np.allclose(np.diag(atoms.cell)[:2], [6 * atoms.info["lattice_constant_pc"][0], 4 * atoms.info["lattice_constant_pc"][1]])
    assert np.allclose(atoms.cell, lattices.bifeo3_100((3, 2), 2, (0.0, 0.0), tilt).cell)
    assert atoms.info["cells"] == (6, 4) and atoms.info["zone"] == "BiFeO3 [100]pc" and atoms.info["family"] == "perovskite"
    np.testing.assert_allclose(atoms.info["displacement_pm"], disp)
    np.testing.assert_allclose(pol.measured_field(atoms), disp, atol=0.1)
    # only Fe moved: Bi and O sit where the undisplaced structure has them (tilts move O, never Fe or Bi)
    ref = pol.bfo_field((6, 4), 2, np.zeros((4, 6, 2)), tilt_deg=tilt)
    fe = np.array(atoms.get_chemical_symbols()) == "Fe"
    np.testing.assert_allclose(atoms.positions[~fe], ref.positions[~fe], atol=1e-9)
    np.testing.assert_allclose(pol.measured_field(ref), 0.0, atol=1e-6)
    moved = atoms.positions[fe] - ref.positions[fe]
    assert np.allclose(moved[:, 2], 0) and np.all(np.abs(moved[:, :2]) < 0.41)
    # the Z^1.7-weighted 'Fe+O' column of projected_columns would underestimate it: the truth uses Fe alone
    cols = lattices.projected_columns(atoms)
    assert "Fe+O" in cols.species
    weighted = pol.cell_polarization(cols.xy[[("Bi" in s) for s in cols.species]],
                                     cols.xy[[s == "Fe+O" for s in cols.species]], atoms.cell)
    assert np.mean(np.linalg.norm(weighted.pm, axis=1)) < 0.95 * np.mean(np.linalg.norm(disp, axis=-1))


def test_variant_projections_and_wall_visibility():
    assert len(set(pol.VARIANTS)) == 8
    np.testing.assert_allclose(pol.variant_projection((1, -1, 1), 30.0), [-30 / np.sqrt(3), 30 / np.sqrt(3)])
    for a in pol.VARIANTS:
        pa = pol.variant_projection(a, 30.0)
        assert np.isclose(np.linalg.norm(pa), 30.0 * np.sqrt(2 / 3))
        for flips in itertools.chain(itertools.combinations(range(3), 1), itertools.combinations(range(3), 2)):
            b = np.array(a)
            b[list(flips)] *= -1
            pb = pol.variant_projection(b, 30.0)
            angle_3d, n = pol.wall_angle_deg(a, b), pol.neutral_wall_normal(a, b)
            assert np.dot(n, np.array(a) - b) == 0  # uncharged
            if len(flips) == 1:  # 71 deg on {101}: the flipped axis lies in the wall
                assert round(angle_3d) == 71 and sorted(np.abs(n)) == [0, 1, 1] and n[flips[0]] == 0
                assert _angle(pa, pb) == pytest.approx(0.0 if flips == (0,) else 90.0, abs=1e-6)
            else:  # 109 deg on {100}: the unflipped axis is the normal
                assert round(angle_3d) == 109 and sorted(np.abs(n)) == [0, 0, 1] and n[3 - sum(flips)] == 1
                assert _angle(pa, pb) == pytest.approx(180.0 if flips == (1, 2) else 90.0, abs=1e-6)
    with pytest.raises(ValueError, match="share no"):
        pol.neutral_wall_normal((1, 1, 1), (-1, -1, -1))
    with pytest.raises(ValueError, match="three signs"):
        pol.variant_projection((1, 0, 1), 30.0)


@pytest.mark.parametrize("kind", pol.KINDS)
def test_fields_are_reproducible_and_in_range(kind):
    one = pol.polarization_field(kind, (12, 10), np.random.default_rng(5))
    assert one.shape == (10, 12, 2)
    np.testing.assert_array_equal(one, pol.polarization_field(kind, (12, 10), np.random.default_rng(5)))
    assert not np.array_equal(one, pol.polarization_field(kind, (12, 10), np.random.default_rng(6)))
    for seed in range(10):
        field, info = pol.polarization_field(kind, (12, 10), np.random.default_rng(seed), jitter_pm=0.0, return_info=True)
        m = np.linalg.norm(field, axis=-1)
        if kind.startswith("wall"):  # far from the wall only; inside it the turning vector is shorter
            u = np.array(info["wall_normal_pc"][1:], float)
            iy, ix = np.mgrid[0:10, 0:12]
            s = (ix + 0.5 - 6) * u[0] + (iy + 0.5 - 5) * u[1] - info["wall_offset_cells"]
            m = m[np.abs(s) > 4 * 1.5]
        assert np.all((m >= 25 - 1e-9) & (m <= 35 + 1e-9))
    jittered = pol.polarization_field(kind, (12, 10), np.random.default_rng(0), jitter_pm=2.0)
    clean = pol.polarization_field(kind, (12, 10), np.random.default_rng(0), jitter_pm=0.0)
    assert 1.0 < np.std(jittered - clean) < 3.0


@pytest.mark.parametrize("kind", ["wall_71", "wall_109"])
def test_walls_separate_two_domains_at_90_degrees(kind):
    for seed in range(12):
        field, info = pol.polarization_field(kind, (20, 20), np.random.default_rng(seed), jitter_pm=0.0, return_info=True)
        assert round(info["angle_3d_deg"]) == (71 if kind == "wall_71" else 109)
        assert info["inclined"] == (kind == "wall_71")
        rows_equal, cols_equal = np.allclose(field, field[:1]), np.allclose(field, field[:, :1])
        assert rows_equal != cols_equal  # a straight horizontal or vertical wall
        profile = field[:, 0] if cols_equal else field[0]
        first, last = profile[0], profile[-1]
        assert _angle(first, last) == pytest.approx(90.0, abs=0.5)
        # the continuous component (normal to the wall) never changes: the wall is uncharged
        normal = 1 if cols_equal else 0
        assert np.allclose(profile[:, normal], profile[0, normal])
        broad = pol.polarization_field(kind, (20, 20), np.random.default_rng(seed), jitter_pm=0.0, thickness_cells=6.0)
        flipped = 1 - normal
        sharp_steps = np.abs(np.diff(profile[:, flipped])).max()
        broad_profile = broad[:, 0] if cols_equal else broad[0]
        if kind == "wall_71":  # inclined to the beam: the projection smears it over the thickness
            assert np.abs(np.diff(broad_profile[:, flipped])).max() < 0.8 * sharp_steps
        else:  # edge-on: the thickness does not matter
            np.testing.assert_allclose(broad_profile, profile)


def test_sm_model_fraction_and_local_reduction():
    assert pol.sm_scaled_magnitude(0.0) == (25.0, 35.0)
    assert pol.sm_scaled_magnitude(0.1, 30.0) == pytest.approx(18.0)
    assert pol.sm_scaled_magnitude(0.07, 30.0) == pytest.approx(30.0 * 0.72)
    with pytest.raises(ValueError, match="morphotropic"):
        pol.sm_scaled_magnitude(0.15)
    rng = np.random.default_rng(1)
    disp = pol.polarization_field("rotation", (8, 8), rng, magnitude_pm=pol.sm_scaled_magnitude(0.1))
    atoms = pol.bfo_field((8, 8), 4, disp, sm_fraction=0.1, rng=rng)
    symbols = np.array(atoms.get_chemical_symbols())
    n_a = np.isin(symbols, ("Bi", "Sm")).sum()
    assert n_a == 8 * 8 * 8 and atoms.info["substitutions"] == (symbols == "Sm").sum()
    assert abs((symbols == "Sm").sum() - 0.1 * n_a) < 4 * np.sqrt(n_a * 0.1 * 0.9)
    # recompute k: how many of each Fe column's four Bi columns hold Sm
    a = np.array(atoms.info["lattice_constant_pc"])
    sm_cols = {tuple(np.round(xy / a).astype(int) % 8) for xy in atoms.positions[symbols == "Sm", :2]}
    k = np.array([[sum(((ix + dx) % 8, (iy + dy) % 8) in sm_cols for dx in (0, 1) for dy in (0, 1))
                   for ix in range(8)] for iy in range(8)])
    np.testing.assert_array_equal(atoms.info["sm_neighbours"], k)
    assert k.max() > 0 and (k < 4).any()
    np.testing.assert_allclose(atoms.info["displacement_pm"], disp * (1 - 0.3 * k / 4)[..., None])
    np.testing.assert_allclose(pol.measured_field(atoms), atoms.info["displacement_pm"], atol=0.1)
    plain = pol.bfo_field((8, 8), 4, disp, sm_fraction=0.1, rng=np.random.default_rng(2), sm_local_reduction=0.0)
    np.testing.assert_allclose(plain.info["displacement_pm"], disp)


def test_cell_polarization_borders_and_minimum_image():
    a = 4.0
    bi = np.array([(i * a, j * a) for i in range(4) for j in range(4)], float)
    fe = bi + a / 2 + np.array([0.3, -0.2])
    free = pol.cell_polarization(bi, fe, lattice_constant=a)
    inner = np.all(bi < 3 * a - 1e-9, axis=1)
    np.testing.assert_allclose(free.pm[inner], np.tile([30.0, -20.0], (inner.sum(), 1)))
    assert np.all(np.isnan(free.pm[~inner])) and not free.complete[~inner].any()
    periodic = pol.cell_polarization(bi, fe, cell=(4 * a, 4 * a))
    np.testing.assert_allclose(periodic.pm, np.tile([30.0, -20.0], (16, 1)))


def test_bad_input_raises_clear_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="even"):
        pol.bfo_field((5, 4), 1, np.zeros((4, 5, 2)))
    with pytest.raises(ValueError, match="shape"):
        pol.bfo_field((4, 4), 1, np.zeros((4, 6, 2)))
    with pytest.raises(ValueError, match="NaN"):
        pol.bfo_field((4, 4), 1, np.full((4, 4, 2), np.nan))
    with pytest.raises(ValueError, match="within"):
        pol.bfo_field((4, 4), 1, np.full((4, 4, 2), 90.0))
    with pytest.raises(ValueError, match="rng"):
        pol.bfo_field((4, 4), 1, np.zeros((4, 4, 2)), sm_fraction=0.1)
    with pytest.raises(ValueError, match="Unknown polarization field kind"):
        pol.polarization_field("vortex", (4, 4), rng)
    with pytest.raises(ValueError, match="cells"):
        pol.polarization_field("single", (4, 0), rng)
    with pytest.raises(ValueError, match="magnitude_pm"):
        pol.polarization_field("single", (4, 4), rng, magnitude_pm=(35, 25))
    with pytest.raises(ValueError, match="at least four"):
        pol.cell_polarization([(0.0, 0.0)], [(1.0, 1.0)])
