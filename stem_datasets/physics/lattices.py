"""Crystal lattices viewed down a zone axis, and the atomic columns they project to.

Each builder returns an orthogonal, periodic ASE cell with the beam along z, large enough to
hold a field of view, and records its zone axis and source in ``atoms.info``.
:func:`projected_columns` groups the atoms into columns (positions within ``COLUMN_TOLERANCE``
in projection), places each at the Z^1.7-weighted mean of its atoms (HAADF-like scattering power)
and classes it by its heaviest atom (Z-contrast).

Example:
    >>> sto = srtio3_001((2, 2), 1)
    >>> cols = projected_columns(sto)
    >>> sorted(set(cols.species)), len(cols)
    (['O', 'Sr', 'Ti+O'], 16)
    >>> round(float(si_110((2, 2), 1).info["column_spacing"]), 2)  # the dumbbell
    1.36
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.build import graphene, make_supercell, mx2
from ase.data import atomic_numbers
from ase.spacegroup import crystal
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from stem_datasets.physics.structures import get_composition, tilted_perovskite

COLUMN_CLASSES = ("background", "light", "intermediate", "heavy")
# Heaviest atom of a column -> class: Z <= 10 light (C, O), 11-36 intermediate (Si, S, Ti, Fe), >= 37 heavy.
CLASS_Z_EDGES = (10, 36)
COLUMN_TOLERANCE = 1.0  # A: atoms closer in projection form one column (tilted O pairs, BiFeO3's off-centre Fe
# and its apical O stay one; the closest distinct columns here, the Si dumbbell, are 1.36 A apart)

SILICON_A = 5.431  # A, diamond Si at 295 K; Okada & Tokumaru, J. Appl. Phys. 56, 314 (1984)
GRAPHENE_A = 2.46  # A; in-plane lattice constant of graphite, Trucano & Chen, Nature 258, 136 (1975)
MOS2_A, MOS2_THICKNESS = 3.16, 3.17  # A; 2H-MoS2, Wildervanck & Jellinek, Z. Anorg. Allg. Chem. 328, 309 (1964)
# 2H transition-metal dichalcogenides: in-plane a [A] (Wilson & Yoffe, Adv. Phys. 18, 193 (1969)) and the
# chalcogen-chalcogen height of one layer [A] (approximate, ~3.1-3.4 A; it does not change the projection).
TMDS = {"MoS2": (3.16, 3.17), "WS2": (3.15, 3.14), "MoSe2": (3.29, 3.34), "WSe2": (3.28, 3.35)}
# Tetragonal P4mm ferroelectrics at room temperature: a, c [A] and the fractional shifts along c of B, the apical O1
# and the equatorial O2 from their centrosymmetric sites, with A at the origin. PbTiO3: Glazer & Mabud, Acta Cryst.
# B34, 1065 (1978); BaTiO3 (cell): Kwei, Lawson, Billinge & Cheong, J. Phys. Chem. 97, 2368 (1993).
POLAR_PEROVSKITES = {"PbTiO3": (3.904, 4.152), "BaTiO3": (3.992, 4.036)}
PBTIO3_SHIFTS = (0.038, 0.112, 0.117)  # B, O1, O2 (fractions of c)
# Rutile TiO2 (P4_2/mnm): a = 4.5937, c = 2.9587 A, O at (u, u, 0) with u = 0.30478; Burdett, Hughbanks, Miller,
# Richardson & Smith, J. Am. Chem. Soc. 109, 3639 (1987).
RUTILE_A, RUTILE_C, RUTILE_U = 4.5937, 2.9587, 0.30478


def column_class(symbols) -> int:
    """Class index (1 light, 2 intermediate, 3 heavy) of a column holding ``symbols``.

    >>> column_class(["Ti", "O"]), column_class(["O"]), column_class(["Bi"])
    (2, 1, 3)
    """
    z = max(atomic_numbers[s] for s in symbols)
    return 1 + int(np.searchsorted(CLASS_Z_EDGES, z, side="left"))


@dataclass(frozen=True)
class Columns:
    """Projected atomic columns of a periodic cell: xy [A], class index, species ("Ti+O")."""

    xy: np.ndarray
    classes: np.ndarray
    species: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.classes)


def wrap(xy: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Points into [0, cell) (np.mod can return the edge itself for tiny negative values)."""
    xy = np.mod(xy, cell)
    return np.where(xy >= cell, 0.0, xy)


def projected_columns(atoms: Atoms, tolerance: float = COLUMN_TOLERANCE, displaced: np.ndarray | None = None) -> Columns:
    """Columns along z of a periodic, orthogonal cell, grouped on the static positions of ``atoms``.

    ``displaced`` (n, 3): the same atoms moved (one frozen-phonon configuration); each column's
    centre is then the weighted mean of its atoms' displaced positions, where that configuration's
    image has the column (with one configuration per image, a single-atom column sits up to
    ~0.1 A from its static site), while the grouping stays that of the static structure.

    >>> a = graphene_layer((1, 1))
    >>> moved = a.positions + [0.05, 0.02, 0.0]
    >>> np.round(projected_columns(a, displaced=moved).xy - projected_columns(a).xy, 3).tolist()[-1]
    [0.05, 0.02]
    """
    cell = np.diag(atoms.cell)[:2]
    xy = wrap(atoms.positions[:, :2], cell)
    pairs = cKDTree(xy, boxsize=cell).query_pairs(tolerance, output_type="ndarray")
    n = len(xy)
    from scipy.sparse import coo_matrix

    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    count, labels = connected_components(graph, directed=False)
    symbols = np.array(atoms.get_chemical_symbols())
    moved = xy if displaced is None else np.asarray(displaced, float)[:, :2]
    centres, sites, classes, species = [], [], [], []
    for k in range(count):
        ref = xy[labels == k][0]
        names = symbols[labels == k]
        weights = np.array([atomic_numbers[s] for s in names], float) ** 1.7  # HAADF-like scattering power
        for points, out in ((xy, sites), (moved, centres)):
            unwrapped = ref + (points[labels == k] - ref + cell / 2) % cell - cell / 2  # periodic mean
            out.append(wrap(weights @ unwrapped / weights.sum(), cell))
        classes.append(column_class(names))
        species.append("+".join(sorted(set(names), key=lambda s: -atomic_numbers[s])))
    order = np.lexsort((np.array(sites)[:, 0], np.array(sites)[:, 1]))  # by static site, whatever the displacement
    return Columns(np.array(centres)[order], np.array(classes, np.int32)[order], tuple(species[i] for i in order))


def _standard(atoms: Atoms) -> Atoms:
    """The same crystal with its orthogonal cell vectors along x, y, z (a rotation)."""
    atoms = atoms.copy()
    atoms.set_cell(atoms.cell.cellpar(), scale_atoms=True)
    atoms.wrap()
    return atoms


def _orthogonal_110(unit: Atoms) -> Atoms:
    """Cubic cell to an orthogonal one with x || [1-10], y || [001], z || [110]."""
    return _standard(make_supercell(unit, [[1, -1, 0], [0, 0, 1], [1, 1, 0]]))


def _repeat(cell: Atoms, repeats: tuple[int, int], layers: int, **info) -> Atoms:
    atoms = cell.repeat((repeats[0], repeats[1], layers))
    atoms.pbc = True
    atoms.info.update(info)
    return atoms


def _cubic_perovskite(name: str) -> Atoms:
    comp = get_composition(name)
    return crystal([comp.a_site, comp.b_site, "O"], [(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)], spacegroup=221,
                   cellpar=[comp.lattice_constant] * 3 + [90] * 3)


def perovskite_001(composition: str, repeats: tuple[int, int], layers: int) -> Atoms:
    """A cubic ABO3 perovskite (``stem_datasets.physics.structures.COMPOSITIONS``) down [001]: A, B+O and O columns."""
    comp = get_composition(composition)
    return _repeat(_cubic_perovskite(composition), repeats, layers, zone=f"{composition} [001]", family="perovskite",
                   source=comp.source, column_spacing=comp.lattice_constant / 2)


def srtio3_001(repeats: tuple[int, int], layers: int) -> Atoms:
    """SrTiO3 (cubic, a = 3.905 A) down [001]: Sr, Ti+O and O columns."""
    return perovskite_001("SrTiO3", repeats, layers)


def srtio3_110(repeats: tuple[int, int], layers: int) -> Atoms:
    """SrTiO3 down [110]: Sr+O, Ti and O columns (x || [1-10], y || [001])."""
    comp = get_composition("SrTiO3")
    unit = _orthogonal_110(_cubic_perovskite("SrTiO3"))
    return _repeat(unit, repeats, layers, zone="SrTiO3 [110]", family="perovskite", source=comp.source,
                   column_spacing=comp.lattice_constant / (2 * np.sqrt(2)))


def bifeo3_100(repeats: tuple[int, int], layers: int, polarization_pm: tuple[float, float] = (20.0, 20.0),
               tilt_deg: float = 11.0) -> Atoms:
    """BiFeO3 down [100]pc: a pseudo-cubic R3c model (a-a-a- tilts, Fe off-centre).

    Fe is displaced from its Bi cage's centre by ``polarization_pm`` (y, z) in projection,
    opposite to the polar Bi shift of R3c (Kubel & Schmid, Acta Cryst. B46, 698 (1990)); the
    beam runs along x of the pseudo-cubic cell, rotated onto z here. ``repeats`` and ``layers``
    count the 2 x 2 x 2 pseudo-cubic cell that the tilts need.
    """
    comp = get_composition("BiFeO3")
    # keep_volume=False: the rigid-bond model these datasets were built with (a projected cell of 3.82 A, 3.6%
    # under the measured 3.96 A); stem_bfo_polarization 2.0.0 (issue 27) replaces it with the published R3c cell.
    cell = tilted_perovskite((tilt_deg, tilt_deg, tilt_deg), "a-a-a-", "BiFeO3", repeats=(2, 2, 2), keep_volume=False)
    shift = np.array([0.0, *polarization_pm]) / 100.0
    cell.positions[np.array(cell.get_chemical_symbols()) == "Fe"] += shift
    cell.wrap()
    # beam along pseudo-cubic x: (x, y, z) -> (y, z, x)
    rotated = Atoms(cell.get_chemical_symbols(), positions=cell.positions[:, [1, 2, 0]],
                    cell=np.diag(np.diag(cell.cell)[[1, 2, 0]]), pbc=True)
    return _repeat(rotated, repeats, layers, zone="BiFeO3 [100]pc", family="perovskite", source=comp.source,
                   column_spacing=comp.lattice_constant / 2, polarization_pm=tuple(polarization_pm))


def si_110(repeats: tuple[int, int], layers: int) -> Atoms:
    """Diamond-cubic Si down [110]: dumbbells of two Si columns 1.36 A apart."""
    unit = _orthogonal_110(crystal("Si", [(0, 0, 0)], spacegroup=227, cellpar=[SILICON_A] * 3 + [90] * 3))
    return _repeat(unit, repeats, layers, zone="Si [110]", family="diamond", source="Okada & Tokumaru (1984)",
                   column_spacing=SILICON_A / 4)


def _hexagonal_to_rectangular(layer: Atoms) -> Atoms:
    """A hexagonal 2-D cell (120 or 60 degrees) to the orthogonal a x sqrt(3) a cell."""
    gamma = layer.cell.cellpar()[5]
    second = [1, 2, 0] if gamma > 90 else [-1, 2, 0]
    return _standard(make_supercell(layer, [[1, 0, 0], second, [0, 0, 1]]))


def graphene_layer(repeats: tuple[int, int]) -> Atoms:
    """Monolayer graphene, one C per column (the beam along c)."""
    layer = graphene("C2", a=GRAPHENE_A, size=(1, 1, 1), vacuum=2.0)
    return _repeat(_hexagonal_to_rectangular(layer), repeats, 1, zone="graphene [001]", family="2d",
                   source="Trucano & Chen (1975)", column_spacing=GRAPHENE_A / np.sqrt(3))


def mos2_layer(repeats: tuple[int, int]) -> Atoms:
    """Monolayer 2H-MoS2: Mo columns and S2 columns (two S above each other)."""
    layer = mx2("MoS2", kind="2H", a=MOS2_A, thickness=MOS2_THICKNESS, vacuum=2.0)
    return _repeat(_hexagonal_to_rectangular(layer), repeats, 1, zone="MoS2 [001]", family="2d",
                   source="Wildervanck & Jellinek (1964)", column_spacing=MOS2_A / np.sqrt(3))


def tmd_layer(formula: str, repeats: tuple[int, int]) -> Atoms:
    """A 2H transition-metal dichalcogenide monolayer (:data:`TMDS`): metal columns and X2 columns."""
    if formula not in TMDS:
        raise ValueError(f"Unknown dichalcogenide {formula!r}; known: {', '.join(TMDS)}.")
    a, height = TMDS[formula]
    layer = mx2(formula, kind="2H", a=a, thickness=height, vacuum=2.0)
    return _repeat(_hexagonal_to_rectangular(layer), repeats, 1, zone=f"{formula} [001]", family="2d",
                   source="Wilson & Yoffe (1969)", column_spacing=a / np.sqrt(3), chalcogen=formula[1 + formula[1].islower():-1])


def polar_perovskite_100(formula: str, repeats: tuple[int, int], layers: int, scale: float = 1.0) -> Atoms:
    """A tetragonal P4mm perovskite (:data:`POLAR_PEROVSKITES`) down [100], the polar c axis along x.

    B, O1 and O2 are shifted along c by ``scale`` times PbTiO3's measured shifts
    (:data:`PBTIO3_SHIFTS`; 1.0: PbTiO3, 0.2-0.3: BaTiO3-like), so the projected B+O and O
    columns sit off the centrosymmetric sites of the A lattice by up to ~0.5 A.

    >>> cols = projected_columns(polar_perovskite_100("PbTiO3", (1, 1), 1))
    >>> sorted(cols.species), [round(float(x), 3) for x, y in cols.xy[np.array(cols.species) == "O"]]
    (['O', 'O', 'Pb', 'Ti+O'], [2.562, 0.465])
    """
    if formula not in POLAR_PEROVSKITES:
        raise ValueError(f"Unknown polar perovskite {formula!r}; known: {', '.join(POLAR_PEROVSKITES)}.")
    a, c = POLAR_PEROVSKITES[formula]
    a_site, b_site = formula[:2], "Ti"
    db, do1, do2 = (scale * s for s in PBTIO3_SHIFTS)
    # fractional (along c -> x, along b -> y, along a -> z, the beam)
    sites = [(a_site, (0.0, 0.0, 0.0)), (b_site, (0.5 + db, 0.5, 0.5)), ("O", (do1, 0.5, 0.5)),
             ("O", (0.5 + do2, 0.0, 0.5)), ("O", (0.5 + do2, 0.5, 0.0))]
    cell = Atoms([s for s, _ in sites], scaled_positions=[p for _, p in sites], cell=[c, a, a], pbc=True)
    return _repeat(cell, repeats, layers, zone=f"{formula} [100]", family="perovskite", source="Glazer & Mabud (1978)",
                   column_spacing=a / 2, polar_shift_A=tuple(float(v * c) for v in (db, do1, do2)))


def rutile_001(repeats: tuple[int, int], layers: int) -> Atoms:
    """Rutile TiO2 down [001]: Ti columns on a body-centred square, O columns in pairs on its diagonals."""
    unit = crystal(["Ti", "O"], [(0, 0, 0), (RUTILE_U, RUTILE_U, 0)], spacegroup=136,
                   cellpar=[RUTILE_A, RUTILE_A, RUTILE_C, 90, 90, 90])
    return _repeat(unit, repeats, layers, zone="TiO2 [001]", family="rutile", source="Burdett et al. (1987)",
                   column_spacing=RUTILE_U * RUTILE_A * np.sqrt(2))


def point_defects(atoms: Atoms, rng: np.random.Generator, vacancy: float, substitution: float,
                  host: str, dopant: str) -> Atoms:
    """Random vacancies (any atom of ``host``) and substitutions (``host`` -> ``dopant``), as fractions of host atoms.

    >>> g = point_defects(graphene_layer((4, 3)), np.random.default_rng(0), 0.05, 0.05, "C", "Si")
    >>> sorted(set(g.get_chemical_symbols())), len(g) < 48
    (['C', 'Si'], True)
    """
    atoms = atoms.copy()
    hosts = np.flatnonzero(np.array(atoms.get_chemical_symbols()) == host)
    n_vac, n_sub = rng.binomial(len(hosts), vacancy), rng.binomial(len(hosts), substitution)
    chosen = rng.choice(hosts, size=min(len(hosts), n_vac + n_sub), replace=False)
    symbols = atoms.get_chemical_symbols()
    for i in chosen[n_vac:]:
        symbols[i] = dopant
    atoms.set_chemical_symbols(symbols)
    del atoms[sorted(chosen[:n_vac])]
    atoms.info.update(vacancies=int(n_vac), substitutions=int(len(chosen) - n_vac))
    return atoms


LATTICES = {
    "SrTiO3 [001]": srtio3_001,
    "SrTiO3 [110]": srtio3_110,
    "BiFeO3 [100]pc": bifeo3_100,
    "Si [110]": si_110,
}
LAYERS = {"graphene [001]": graphene_layer, "MoS2 [001]": mos2_layer}


def cell_size(zone: str) -> tuple[float, float, float]:
    """Orthogonal repeat (x, y, z) [A] of one unit of a zone (for choosing repeats)."""
    atoms = LATTICES[zone]((1, 1), 1) if zone in LATTICES else LAYERS[zone]((1, 1))
    return tuple(float(v) for v in np.diag(atoms.cell))
