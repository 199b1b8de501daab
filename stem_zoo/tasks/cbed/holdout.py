"""The CBED classifiers' independent hold-out: LaAlO3/SrTiO3 interfaces built with ASE alone, imaged outside every draw.

Nothing here comes from :mod:`stem_datasets.physics` (``tests/test_zoo_cbed_holdout.py`` checks the
structures against the dataset's ``lao_sto_interface`` column by column), so a mistake in the
dataset's structure code cannot hide in both. Cells from ``ase.spacegroup.crystal``: SrTiO3 Pm-3m,
a = 3.905 A; LaAlO3 strained to it in the interface plane, P4/mmm with c = 3.75 A along the growth
direction; cut into planes (substrate to its TiO2 plane, three LaAlO3 cells, one SrO cap).
The imaging nuisances lie beyond ``stem_cbed_interface``'s ranges (defocus |df| <= 25 A, mistilt
<= 1 mrad, scan offset <= 0.3 A) and the thicknesses between its classes (12.5 and 17.2 nm; the
classes are 10, 20 and, unseen, 15 nm, each +-10%). Optics as ``small`` otherwise: 200 kV, 20 mrad,
2 frozen-phonon configurations with seeds the dataset never draws; the scan is registered from its
ADF as a user's is (:func:`stem_zoo.tasks.cbed.classify.classify_scan`).

Example (the structure only; imaging it takes about 20 s):
    >>> atoms = ase_interface(4, ti_fraction=0.25, seed=1)
    >>> atoms.get_chemical_formula(), atoms.info["thickness_angstrom"]
    ('Al77La84O588Sr112Ti119', 15.62)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from ase import Atoms
from ase.spacegroup import crystal

A = 3.905  # SrTiO3 (Pm-3m) lattice constant [A]
C = 3.75  # LaAlO3's c, strained to SrTiO3 in the interface plane [A]
WIDTH = 7  # cells in y (and the cell length along x, in SrTiO3 cells: square CBED pixels)
THICKNESS_CELLS = (32, 44)  # 12.5 and 17.2 nm: between the dataset's thickness classes
INSIDE_THICKNESS_CELLS = (26, 51)  # 10.2 and 19.9 nm: the dataset's seen thickness classes (with inside_ranges)


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
    """The interface, ``cells_z`` SrTiO3 cells thick along the beam.

    From slice ``one_cell_out_from_slice`` (a/2 each, from the beam entrance) on, the interface
    sits one cell further into the film (0: everywhere, a flat interface one cell out; ``cells_z``:
    a buried step at half the thickness); ``ti_fraction`` of the first AlO2 plane's Al is replaced
    by Ti at random sites (``seed``).
    """
    if not isinstance(cells_z, (int, np.integer)) or cells_z < 1:
        raise ValueError(f"cells_z must be a whole number of SrTiO3 cells >= 1, got {cells_z!r}.")
    if one_cell_out_from_slice is not None and not 0 <= one_cell_out_from_slice <= 2 * cells_z:
        raise ValueError(f"one_cell_out_from_slice must be a slice 0-{2 * cells_z} (two per cell), "
                         f"got {one_cell_out_from_slice!r}.")
    if not 0.0 <= ti_fraction <= 1.0:
        raise ValueError(f"ti_fraction is a fraction of the AlO2 plane's Al sites, 0-1, got {ti_fraction!r}.")
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
    atoms.info.update(lattice_constant=A, slice_thickness=A / 2, n_slices=2 * cells_z, thickness_angstrom=round(cells_z * A, 4),
                      interface_x=3 * A)
    return atoms


@dataclass(frozen=True)
class HoldoutCase:
    """One interface of the hold-out: its truth, how ASE builds it and how it is imaged."""

    name: str
    interface: str  # rough, intermixed or abrupt
    step: int | None = None  # tenths of the thickness (rough)
    ti_fraction: float = 0.0
    one_cell_out: bool = False  # a flat interface one cell into the film (abrupt)
    defocus: float = -40.0  # A
    mistilt: tuple[float, float] = (1.2, -0.72)  # mrad (1.4)
    offset: tuple[float, float] = (0.45, 0.6)  # scan start off the TiO2 plane [A], line 0 from the A columns [A]
    seed: int = 987654321  # phonons (and Ti sites); the dataset's are hashed from its own draws

    def inside_ranges(self) -> "HoldoutCase":
        """The same interface imaged inside the dataset's nuisance ranges (|defocus| 15 A, 0.7 mrad mistilt, the scan
        0.2 A off): tells a model's extrapolation in the nuisances from what it makes of an independently built structure."""
        tilt = np.asarray(self.mistilt) * 0.7 / np.hypot(*self.mistilt)
        return replace(self, defocus=float(np.copysign(15.0, self.defocus)), mistilt=(float(tilt[0]), float(tilt[1])),
                       offset=(float(np.copysign(0.2, self.offset[0])), self.offset[1]))

    def structure(self, cells_z: int) -> Atoms:
        if self.step is not None:
            return ase_interface(cells_z, one_cell_out_from_slice=round(2 * cells_z * self.step / 10))
        if self.one_cell_out:
            return ase_interface(cells_z, one_cell_out_from_slice=0)
        return ase_interface(cells_z, ti_fraction=self.ti_fraction, seed=self.seed)


HOLDOUT_CASES: tuple[HoldoutCase, ...] = (
    HoldoutCase("abrupt", "abrupt"),
    HoldoutCase("abrupt, 2nd imaging", "abrupt", defocus=35.0, mistilt=(-0.9, 1.1), offset=(-0.4, 2.9), seed=987654322),
    HoldoutCase("abrupt, one cell out", "abrupt", one_cell_out=True, seed=987654323),
    HoldoutCase("Ti 0.15", "intermixed", ti_fraction=0.15, seed=424241),
    HoldoutCase("Ti 0.25", "intermixed", ti_fraction=0.25, defocus=35.0, mistilt=(-0.9, 1.1), seed=424243),
    HoldoutCase("Ti 0.4", "intermixed", ti_fraction=0.4, seed=424242),
    HoldoutCase("step 0.2 t", "rough", step=2, seed=987654324),
    HoldoutCase("step 0.5 t", "rough", step=5),
    HoldoutCase("step 0.8 t", "rough", step=8, defocus=35.0, mistilt=(-0.9, 1.1), offset=(-0.4, 2.9), seed=987654325),
)


def simulate_case(case: HoldoutCase, cells_z: int, cache=None):
    """The case's raw 4D-STEM raster at ``small``'s optics (``CbedStacks``: cbed, adf at one exit thickness)."""
    from stem_datasets.builders.stem_cbed_interface.recipe import RECIPES
    from stem_datasets.simulation.simulate import simulate_4dstem

    recipe = RECIPES["small"]
    microscope = recipe.microscope.replace(defocus=case.defocus, mistilt=case.mistilt, seed=case.seed)
    return simulate_4dstem(case.structure(cells_z), [cells_z * A], microscope, recipe.scan, recipe.detector, cache,
                           offset=(case.offset[0], case.offset[1] + 3 * A))


def classify_case(case: HoldoutCase, cells_z: int, model, cache=None):
    """(predictions, registered scan) of ``model`` (a zoo CBED classifier) on the simulated case."""
    from stem_datasets.builders.stem_cbed_interface.recipe import RECIPES
    from stem_zoo.tasks.cbed.classify import classify_scan

    scan = RECIPES["small"].scan
    run = simulate_case(case, cells_z, cache)
    return classify_scan(run.cbed[0], run.adf[0], scan.raw_x(A), scan.lines_y(A), model)
