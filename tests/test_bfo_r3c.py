"""R3c BiFeO3 from its published refinement (issue 27, item 1): the pseudocubic cell against the hexagonal one."""

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list

from stem_datasets.physics import bfo_r3c
from stem_datasets.physics.polarization import VARIANTS, cell_polarization, column_positions


def fe_o_bonds(atoms: Atoms) -> np.ndarray:
    """Every Fe-O distance under 2.4 A [A], sorted."""
    symbols = np.array(atoms.get_chemical_symbols())
    i, j, d = neighbor_list("ijd", atoms, 2.4)
    return np.sort(d[(symbols[i] == "Fe") & (symbols[j] == "O")])


def fe_o_fe_angles(atoms: Atoms) -> np.ndarray:
    """The Fe-O-Fe angle at every O [deg] (the octahedral tilt shows in how far it is from 180)."""
    symbols = np.array(atoms.get_chemical_symbols())
    i, j, vectors = neighbor_list("ijD", atoms, 2.4)
    angles = []
    for o in np.flatnonzero(symbols == "O"):
        a, b = vectors[(i == o) & (symbols[j] == "Fe")]
        angles.append(np.degrees(np.arccos(a @ b / np.linalg.norm(a) / np.linalg.norm(b))))
    return np.array(angles)


def test_hexagonal_cell_is_the_refinement():
    atoms = bfo_r3c.r3c_hexagonal()
    ref = bfo_r3c.PALEWICZ_2007
    assert atoms.get_chemical_formula() == "Bi6Fe6O18"
    assert abs(atoms.get_volume() - np.sqrt(3) / 2 * ref.a**2 * ref.c) < 1e-6
    short, long = fe_o_bonds(atoms).reshape(2, 18)  # six Fe, each with three short and three long bonds
    assert np.ptp(short) < 1e-6 and np.ptp(long) < 1e-6
    assert 1.90 < short[0] < 2.00 < 2.05 < long[0] < 2.15  # FeO6 with its polar short / long bonds
    assert 89.0 < bfo_r3c.rhombohedral_angle_deg() < 89.7


@pytest.mark.parametrize("variant", VARIANTS)
def test_pseudocubic_cell_keeps_volume_bonds_and_polarization(variant):
    hexagonal = bfo_r3c.r3c_hexagonal()
    cube = bfo_r3c.r3c_pseudocubic(variant=variant)
    assert cube.get_chemical_formula() == "Bi8Fe8O24"
    assert abs(cube.get_volume() / 8 / (hexagonal.get_volume() / 6) - 1) < 1e-9
    short, long = fe_o_bonds(hexagonal)[[0, -1]]
    bonds = fe_o_bonds(cube).reshape(2, 24)  # eight Fe, three short and three long bonds each
    assert np.all(np.abs(bonds[0] / short - 1) < 0.005) and np.all(np.abs(bonds[1] / long - 1) < 0.005)
    tilt = fe_o_fe_angles(hexagonal)  # 155.4 deg: the refinement's octahedral tilts
    assert np.ptp(tilt) < 1e-6 and np.all(np.abs(fe_o_fe_angles(cube) - tilt[0]) < 0.3)
    # delta_FeBi down [100]pc (beam along pc x: image x = pc y, image y = pc z), by the project's own measurement
    field = cube.repeat((1, 2, 2))
    down_x = Atoms(field.get_chemical_symbols(), positions=field.positions[:, [1, 2, 0]],
                   cell=np.diag(np.diag(field.cell)[[1, 2, 0]]), pbc=True)
    bi_xy, fe_xy = column_positions(down_x)
    measured = cell_polarization(bi_xy, fe_xy, np.diag(down_x.cell)[:2]).pm
    expected = np.array(variant[1:]) * bfo_r3c.fe_offset_pm() / np.sqrt(3)
    assert len(measured) == 16 and np.allclose(measured, expected, atol=0.01)
    assert abs(bfo_r3c.fe_offset_pm() - 41.3) < 0.05  # (1/4 - 0.22021) x 13.86932 A


def test_pseudocubic_variant_must_be_three_signs():
    with pytest.raises(ValueError, match="three signs"):
        bfo_r3c.r3c_pseudocubic(variant=(1, 0, 1))


def nearest_distance(a: Atoms, b: Atoms, element: str) -> float:
    """The largest minimum-image distance [A] from an ``element`` atom of ``a`` to the nearest one of ``b``."""
    from scipy.spatial import cKDTree

    box = np.diag(a.cell)
    pick = lambda atoms: np.mod(atoms.positions[np.array(atoms.get_chemical_symbols()) == element], box) % box  # noqa: E731
    return float(cKDTree(pick(b), boxsize=box).query(pick(a))[0].max())


@pytest.mark.parametrize("variant", [(1, 1, 1), (-1, 1, -1), (1, -1, -1)])
def test_uniform_field_is_the_refined_structure(variant):
    from stem_datasets.physics.polarization import bfo_r3c_field, measured_field

    field = np.zeros((4, 6, 2)) + np.array(variant[1:]) * bfo_r3c.fe_offset_pm() / np.sqrt(3)
    atoms = bfo_r3c_field((6, 4), 2, field, beam_sign=variant[0])
    reference = bfo_r3c.r3c_100((3, 2), 2, variant=variant)
    assert all(nearest_distance(atoms, reference, element) < 1e-6 for element in ("Bi", "Fe", "O"))
    assert np.allclose(measured_field(atoms), field, atol=1e-6)


def test_field_with_walls_sm_and_scaled_oxygen_keeps_its_labels():
    from stem_datasets.physics.polarization import bfo_r3c_field, measured_field, polarization_field

    rng = np.random.default_rng(3)
    field = polarization_field("wall_109", (8, 8), rng, jitter_pm=0.0)
    atoms = bfo_r3c_field((8, 8), 3, field, beam_sign=-1, o_scale=0.6, sm_fraction=0.1, rng=rng)
    assert np.allclose(measured_field(atoms), atoms.info["displacement_pm"], atol=1e-6)
    assert atoms.info["substitutions"] > 0 and np.all(np.abs(atoms.info["displacement_pm"]) <= np.abs(field) + 1e-9)
    cubic = bfo_r3c_field((8, 8), 3, field, beam_sign=-1, o_scale=0.0)
    o = cubic.positions[np.array(cubic.get_chemical_symbols()) == "O"] / bfo_r3c.r3c_pseudocubic().info["lattice_constant_pc"]
    assert np.allclose(o * 2, np.round(o * 2), atol=1e-9)  # every O on a face centre
    a_sites = atoms.copy()
    a_sites.set_chemical_symbols(["Bi" if e == "Sm" else e for e in atoms.get_chemical_symbols()])
    assert nearest_distance(a_sites, cubic, "Bi") < 1e-9  # the A sites (Bi and Sm) do not move with O
    with pytest.raises(ValueError, match="o_scale"):
        bfo_r3c_field((8, 8), 1, field, o_scale=3.0)
    with pytest.raises(ValueError, match="beam_sign"):
        bfo_r3c_field((8, 8), 1, field, beam_sign=0)


def test_r3c_100_counts_whole_cells():
    with pytest.raises(ValueError, match="whole 2 a_pc cells"):
        bfo_r3c.r3c_100((2, 0), 1)
    with pytest.raises(ValueError, match="whole 2 a_pc cells"):
        bfo_r3c.r3c_100((2, 2), 1.5)
