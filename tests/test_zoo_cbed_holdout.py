"""The shipped CBED classifiers on interfaces built outside the dataset's structure code and outside its draws.

Structures from ASE alone (:func:`ase_interface`: ``ase.spacegroup.crystal`` cells cut into planes; SrTiO3 Pm-3m,
a = 3.905 A; LaAlO3 strained to it, P4/mmm with c = 3.75 A along the growth direction), first checked against the
dataset's ``lao_sto_interface`` column by column. Nuisance values beyond the dataset's ranges (its
``Nuisance``): 12.5 nm thick (32 cells, between the 10 and 20 nm classes and below the unseen 15 nm class), defocus
-40 A (dataset: |defocus| <= 25 A), 1.4 mrad mistilt (<= 1), the scan 0.45 A off the interface plane (<= 0.3) and
0.6 A off in y, registered from its ADF as a user's scan (``classify_scan``). Imaging as `small` (200 kV, 20 mrad, 2
frozen-phonon configurations with a seed the dataset never draws). About a minute of multislice on 2 cores.
"""

import numpy as np
import pytest
from ase import Atoms
from ase.spacegroup import crystal

from stem_datasets.builders.stem_cbed_interface.recipe import A, RECIPES, thickness_range
from stem_datasets.physics.structures import lao_sto_interface
from stem_datasets.simulation.cache import SimulationCache
from stem_datasets.simulation.simulate import simulate_4dstem
from stem_zoo.tasks.cbed.classify import classify_scan

RECIPE = RECIPES["small"]
CELLS = 32
NUISANCE = dict(defocus=-40.0, mistilt=(1.2, -0.72), seed=987654321)
OFFSET = (0.45, 0.6)  # scan start off the TiO2 plane [A], line 0 from the A columns [A]


# --- the interfaces, built with ASE alone --------------------------------------------------------------------------

C = 3.75  # LaAlO3's c, strained to SrTiO3 in the interface plane
WIDTH = 7  # cells in y, and the cell length along x in SrTiO3 cells (square CBED pixels)


def _growth_along_x(atoms: Atoms) -> Atoms:
    """The crystal's c axis (z) becomes x, a (x) becomes y, b (y) becomes z (the beam)."""
    turned = atoms.copy()
    turned.set_cell(np.diag(atoms.cell.diagonal()[[2, 0, 1]]))
    turned.positions = atoms.positions[:, [2, 0, 1]]
    return turned


def _planes(unit: Atoms, cells_x: int, cells_z: int, x0: float, keep) -> Atoms:
    """``unit`` (growth along x) repeated, shifted to start at x0, atoms whose plane offset from x0 passes ``keep``."""
    block = unit.repeat((cells_x, WIDTH, cells_z))
    block.positions[:, 0] += x0
    return block[[keep(round(x - x0, 4)) for x in block.positions[:, 0]]]


def ase_interface(cells_z: int, one_cell_out_from_slice: int | None = None, ti_fraction: float = 0.0, seed: int = 0) -> Atoms:
    """The interface, ``cells_z`` SrTiO3 cells thick; from slice ``one_cell_out_from_slice`` (a/2 each, from the beam
    entrance) on, the interface sits one cell further into the film (0: everywhere, a flat interface one cell out);
    ``ti_fraction`` of the first AlO2 plane's Al replaced by Ti at random sites."""
    sto = _growth_along_x(crystal(["Ti", "Sr", "O"], basis=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0, 0)],
                                  spacegroup=221, cellpar=[A, A, A, 90, 90, 90]))
    lao = _growth_along_x(crystal(["Al", "La", "O", "O"], basis=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0, 0), (0, 0, 0.5)],
                                  spacegroup=123, cellpar=[A, A, C, 90, 90, 90]))

    def built(substrate_cells: int, film_cells: int) -> Atoms:
        terminating = substrate_cells * A
        substrate = _planes(sto, substrate_cells + 1, cells_z, 0.0, lambda dx: dx <= terminating + 1e-3)
        film = _planes(lao, film_cells + 1, cells_z, terminating, lambda dx: 0.1 < dx < film_cells * C + 0.1)
        cap = _planes(sto, 1, cells_z, terminating + film_cells * C, lambda dx: abs(dx - A / 2) < 1e-3)  # SrO
        cap.positions[:, 0] += C / 2 - A / 2  # c/2 above the last AlO2 plane
        atoms = substrate + film + cap
        atoms.set_cell(np.diag([WIDTH * A, WIDTH * A, cells_z * A]))
        return atoms

    nominal, out = built(3, 3), built(4, 2)
    if one_cell_out_from_slice is None:
        atoms = nominal
    else:
        depth = one_cell_out_from_slice * A / 2
        atoms = nominal[nominal.positions[:, 2] < depth - 1e-3] + out[out.positions[:, 2] >= depth - 1e-3]
        atoms.set_cell(nominal.cell)
    if ti_fraction:
        symbols = np.array(atoms.get_chemical_symbols())
        first_alo2 = np.flatnonzero((symbols == "Al") & (np.abs(atoms.positions[:, 0] - (3 * A + C)) < 1e-3))
        chosen = np.random.default_rng(seed).choice(first_alo2, int(round(ti_fraction * len(first_alo2))), replace=False)
        symbols[chosen] = "Ti"
        atoms.set_chemical_symbols(symbols.tolist())
    atoms.positions[:, 1] += A / 2  # A columns at y = 0, B columns at a/2
    atoms.positions[:, 2] += A / 4  # atomic planes at slice centres
    atoms.wrap()
    atoms.pbc = True
    atoms.info.update(lattice_constant=A, slice_thickness=A / 2, n_slices=2 * cells_z, thickness_angstrom=cells_z * A,
                      interface_x=3 * A)
    return atoms


# --- the tests -----------------------------------------------------------------------------------------------------


def _columns(atoms, half_width=8.0) -> set:
    """(element, x from the terminating TiO2 plane, y in the cell) of every column within ``half_width`` of it."""
    x0 = atoms.info["interface_x"]
    return {(s, round(float(p[0] - x0), 3), round(float(p[1] % A), 3) % round(A, 3)) for s, p in
            zip(atoms.get_chemical_symbols(), atoms.positions) if abs(p[0] - x0) < half_width}


@pytest.mark.parametrize("ase_kwargs, package_kwargs", [
    ({}, {}), ({"one_cell_out_from_slice": 0}, {"step_fraction": 0.0}),
])
def test_ase_built_interfaces_agree_with_the_dataset_structure_code(ase_kwargs, package_kwargs):
    ours, theirs = lao_sto_interface(4 * A, **package_kwargs), ase_interface(4, **ase_kwargs)
    assert sorted(ours.get_chemical_symbols()) == sorted(theirs.get_chemical_symbols())
    assert _columns(ours) == _columns(theirs)
    assert np.allclose(sorted(set(np.round(ours.positions[:, 2], 3))), sorted(set(np.round(theirs.positions[:, 2], 3))))


def test_holdout_values_lie_outside_the_dataset_draws():
    n = RECIPE.nuisance
    for t in (*RECIPE.thicknesses_angstrom, RECIPE.unseen_thickness_angstrom):
        low, high = thickness_range(t, n.thickness_jitter)
        assert not low <= CELLS <= high
    assert abs(NUISANCE["defocus"]) > n.defocus and np.hypot(*NUISANCE["mistilt"]) > n.mistilt_mrad
    assert abs(OFFSET[0]) > n.scan_offset_x


def _classify(structure, model):
    scan = RECIPE.scan
    microscope = RECIPE.microscope.replace(**NUISANCE)
    run = simulate_4dstem(structure, [CELLS * A], microscope, scan, RECIPE.detector, SimulationCache(),
                          offset=(OFFSET[0], OFFSET[1] + 3 * A))
    predictions, registered = classify_scan(run.cbed[0], run.adf[0], scan.raw_x(A), scan.lines_y(A), model)
    assert registered.offset.dx == pytest.approx(OFFSET[0], abs=0.1) and registered.offset.y0 == pytest.approx(OFFSET[1], abs=0.1)
    return predictions


@pytest.fixture(scope="module")
def step():
    return ase_interface(CELLS, one_cell_out_from_slice=CELLS)  # a buried step at 0.5 t


UNDERTRAINED = ("issue 28 (open): cbed_interface_cnn v0.3.0 had 14 epochs (validation accuracy still rising) and scores "
                "0.73 on test; on this structure it is right on fewer than 6 of the 8 lines. strict: the mark goes once weights pass.")


@pytest.mark.parametrize("truth, kwargs", [
    ("abrupt", {}),
    pytest.param("rough", {"one_cell_out_from_slice": CELLS}, marks=pytest.mark.xfail(strict=True, reason=UNDERTRAINED)),
    pytest.param("intermixed", {"ti_fraction": 0.4, "seed": 424242}, marks=pytest.mark.xfail(strict=True, reason=UNDERTRAINED)),
])
@pytest.mark.slow
def test_shipped_interface_model_classifies_interfaces_it_never_saw(truth, kwargs):
    predictions = _classify(ase_interface(CELLS, **kwargs), "cbed_interface_cnn")
    right = np.array(predictions.names) == truth
    assert right.sum() >= 6, list(zip(predictions.names, predictions.probabilities.max(axis=1).round(2)))  # 6 of 8 lines


@pytest.mark.slow
def test_shipped_step_model_finds_the_step_within_one_tenth(step):
    predictions = _classify(step, "cbed_step_cnn")
    assert abs(int(predictions.names[0].split("_")[1]) - 5) <= 1, predictions.probabilities.round(2)
