import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from stem_datasets.physics.structures import COMPOSITIONS, tilted_perovskite, view_along_1m10


def _bonds(atoms, cutoff=2.4):
    i, j, d, vec = neighbor_list("ijdD", atoms, cutoff)
    symbols = np.array(atoms.get_chemical_symbols())
    b_site = COMPOSITIONS[atoms.info["composition"]].b_site
    keep = (symbols[i] == b_site) & (symbols[j] == "O")
    return i[keep], j[keep], d[keep], vec[keep]


@pytest.mark.parametrize("pattern, angles", [
    ("a-b-c-", (12.0, -12.0, 12.0)), ("a-b+c-", (12.0, 12.0, -12.0)), ("a+b+c+", (12.0, 12.0, 12.0)),
    ("a0a0c-", (0.0, 0.0, 12.0)), ("a-a-a-", (7.0, 7.0, 7.0)),
])
@pytest.mark.parametrize("composition", ["SrTiO3", "CaTiO3", "LaAlO3"])
def test_octahedra_corner_sharing_and_rigid(pattern, angles, composition):
    atoms = tilted_perovskite(angles, pattern, composition)
    i, j, d, _ = _bonds(atoms)
    symbols = np.array(atoms.get_chemical_symbols())
    is_b, is_o = symbols == COMPOSITIONS[composition].b_site, symbols == "O"
    assert np.all(np.bincount(i, minlength=len(atoms))[is_b] == 6)  # every B has six O
    assert np.all(np.bincount(j, minlength=len(atoms))[is_o] == 2)  # every O is shared by exactly two B
    assert np.max(np.abs(d / atoms.info["bond"] - 1)) < 0.01


def test_single_axis_rotation_gives_the_expected_b_o_b_angle():
    gamma = 9.0
    atoms = tilted_perovskite((0.0, 0.0, gamma), "a0a0c+")
    _, j, _, vec = _bonds(atoms)
    # For an O between two B along x, the B-O-B angle is 180 - 2 gamma.
    o = j[np.argmax(np.abs(vec[:, 0]))]
    neighbours = vec[j == o]
    cos = np.dot(-neighbours[0], -neighbours[1]) / np.prod(np.linalg.norm(neighbours, axis=1))
    assert np.degrees(np.arccos(cos)) == pytest.approx(180 - 2 * gamma, abs=1e-6)


def test_a_cations_stay_on_ideal_sites_and_info_is_recorded():
    atoms = tilted_perovskite((5.0, -3.0, 8.0), "a-b+c-", "SrTiO3")
    abc = np.array(atoms.info["pseudocubic_abc"])
    sr = atoms.get_positions()[np.array(atoms.get_chemical_symbols()) == "Sr"]
    assert np.allclose(np.round(sr / abc) * abc, sr, atol=1e-9)
    assert atoms.info["angles_deg"] == (5.0, -3.0, 8.0) and atoms.info["pattern"] == "a-b+c-"


def test_view_along_1m10_is_a_stoichiometric_cuboid():
    slab = view_along_1m10(tilted_perovskite((6.0, 6.0, -4.0), "a-b-c-"), thickness_nm=4.4)
    a = 3.905
    assert slab.cell[0, 0] == pytest.approx(2 * np.sqrt(2) * a, rel=0.03)
    assert slab.cell[1, 1] == pytest.approx(4 * a, rel=0.03)
    assert slab.info["n_layers"] == 8
    counts = {s: slab.get_chemical_symbols().count(s) for s in ("Sr", "Ti", "O")}
    assert counts["Sr"] == counts["Ti"] and counts["O"] == 3 * counts["Ti"] == 3 * 2 * 4 * 8 * 2
    assert slab.info["orthogonalization_strain"] < 0.011


@pytest.mark.parametrize("kwargs, message", [
    (dict(angles_deg=(0, 0, 5), pattern="a-b-"), "Glazer symbol"),
    (dict(angles_deg=(5, 0, 5), pattern="a0b0c-"), "no rotation about the axis of alpha"),
    (dict(angles_deg=(0, 0, 20), pattern="a0a0c-"), "within"),
    (dict(angles_deg=(0, 0, np.nan), pattern="a0a0c-"), "finite"),
    (dict(angles_deg=(0, 0), pattern="a0a0c-"), "three numbers"),
    (dict(angles_deg=(0, 0, 5), pattern="a0a0c-", composition="BaTiO4"), "Unknown composition"),
    (dict(angles_deg=(0, 0, 5), pattern="a0a0c-", repeats=(1, 2, 2)), "even"),
    (dict(angles_deg=(0, 0, 5), pattern="a0a0c-", lattice_constant=-1.0), "positive"),
])
def test_bad_structure_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tilted_perovskite(**kwargs)


@pytest.mark.parametrize("thickness", [0.0, -1.0, float("nan")])
def test_bad_thickness(thickness):
    with pytest.raises(ValueError, match="thickness_nm"):
        view_along_1m10(tilted_perovskite((0, 0, 5), "a0a0c-"), thickness)


def test_pseudocubic_abc_matches_the_built_cell():
    from stem_datasets.physics.structures import pseudocubic_abc

    atoms = tilted_perovskite((4.0, -7.0, 9.0), "a-b+c-", "CaTiO3")
    expected = atoms.info["pseudocubic_abc"]
    np.testing.assert_allclose(pseudocubic_abc((4.0, -7.0, 9.0), "a-b+c-", 3.826, keep_volume=True), expected, rtol=1e-12)


# Volume per formula unit [A^3] from each source's own cell (not from Composition.lattice_constant).
SOURCE_VOLUMES = {
    "SrTiO3": 3.905**3,  # cubic Pm-3m, Okazaki & Kawaminami (1973)
    "CaTiO3": 5.381 * 5.443 * 7.645 / 4,  # Pbnm, Z = 4, Sasaki et al. (1987)
    "LaAlO3": np.sqrt(3) / 2 * 5.3647**2 * 13.1114 / 6,  # R-3c hexagonal setting, Z = 6, Hayward et al. (2005)
    "BiFeO3": np.sqrt(3) / 2 * 5.579**2 * 13.869 / 6,  # R3c hexagonal setting, Z = 6, Kubel & Schmid (1990)
}


@pytest.mark.parametrize("composition", sorted(SOURCE_VOLUMES))
def test_cell_volume_is_the_sources(composition):
    """A tilted-source composition keeps its measured volume at any tilt; SrTiO3's cubic cell holds untilted."""
    comp = COMPOSITIONS[composition]
    assert comp.tilted_source == (composition != "SrTiO3")
    angles = [(0.0, 0.0, 0.0), (8.0, -5.0, 9.0)] if comp.tilted_source else [(0.0, 0.0, 0.0)]
    for a in angles:
        atoms = tilted_perovskite(a, "a-b+c-", composition)
        volume = atoms.get_volume() / (len(atoms) / 5)
        assert volume == pytest.approx(SOURCE_VOLUMES[composition], rel=0.005)
    if composition == "SrTiO3":  # rigid octahedra: the tilts contract the cubic cell
        assert tilted_perovskite((8.0, -5.0, 9.0), "a-b+c-", composition).get_volume() / 8 < 0.97 * SOURCE_VOLUMES[composition]
