"""Fields of atomic columns without a lattice prior: random lattices with random bases, and random columns.

Training fields for column finding (``stem_atom_columns`` 2.0.0) that no crystal family
shares: a network trained on them cannot learn where columns *should* be, only what a
column looks like. Every structure is an orthogonal periodic cell (beam along z) at least
``field_min`` wide, so PRISM can image it.

* :func:`random_lattice`: a rectangular lattice (a, b in 2.8-5.5 A) with a basis of one to
  four sites at random positions (sublattices displaced by random vectors, at least
  ``min_spacing`` apart in projection), each site its own element drawn across the periodic
  table, its own occupancy along the beam and its own height offset; whole columns missing
  at random (vacancies) and, in half of the structures, an amorphous patch of random columns.
* :func:`random_columns`: columns at random positions with a minimum spacing over the whole
  cell (an amorphous film seen in projection), each column one of 1-3 elements of the
  structure with its own length.

Elements are drawn by class first (light Z <= 10, intermediate 11-36, heavy >= 37, as
:data:`stem_datasets.physics.lattices.CLASS_Z_EDGES`), then uniformly within the class,
skipping noble gases and the radioactive Tc and Pm.

Example:
    >>> atoms = random_lattice(np.random.default_rng(1), field_min=14.0)
    >>> bool(atoms.cell[0, 0] >= 14.0 and atoms.cell[1, 1] >= 14.0), atoms.info["family"]
    (True, 'random')
    >>> from stem_datasets.physics.lattices import projected_columns
    >>> cols = projected_columns(random_columns(np.random.default_rng(2), field_min=14.0))
    >>> d = np.linalg.norm(cols.xy[:, None] - cols.xy[None], axis=-1) + 99 * np.eye(len(cols))
    >>> bool(d.min() >= 1.0)  # every column stays a column of its own
    True
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from stem_datasets.physics.lattices import CLASS_Z_EDGES

EXCLUDED_Z = frozenset({2, 10, 18, 36, 54, 43, 61})  # noble gases; Tc and Pm (radioactive)
MAX_Z = 83  # Bi: the heaviest stable element
MIN_SPACING = (1.05, 1.6)  # A: closest columns in projection (above lattices.COLUMN_TOLERANCE = 1.0 A)
THICKNESS = (15.0, 60.0)  # A along the beam
# One Debye-Waller displacement for elements without a measured value here: u_rms = 0.08 A per axis (B = 8 pi^2 u^2
# = 0.5 A^2, typical of oxides and metals at room temperature). It blurs a column by ~0.1 A; positions are unaffected.
GENERIC_THERMAL_SIGMA = 0.08


def element_pool(z_class: int) -> list[int]:
    """Atomic numbers of one class (1 light, 2 intermediate, 3 heavy).

    >>> [chemical_symbols[z] for z in element_pool(1)]
    ['Li', 'Be', 'B', 'C', 'N', 'O', 'F']
    """
    edges = (3, CLASS_Z_EDGES[0] + 1, CLASS_Z_EDGES[1] + 1, MAX_Z + 1)
    return [z for z in range(edges[z_class - 1], edges[z_class]) if z not in EXCLUDED_Z]


def random_element(rng: np.random.Generator) -> str:
    """A symbol: a class uniformly, then an element of it uniformly."""
    return chemical_symbols[int(rng.choice(element_pool(int(rng.integers(1, 4)))))]


def thermal_sigmas(atoms: Atoms, known: dict[str, float]) -> dict[str, float]:
    """``known`` displacements, and :data:`GENERIC_THERMAL_SIGMA` for every other element of ``atoms``."""
    return {s: known.get(s, GENERIC_THERMAL_SIGMA) for s in set(atoms.get_chemical_symbols())}


def spaced_points(rng: np.random.Generator, box: np.ndarray, min_spacing: float, tries: int = 4000,
                  start: np.ndarray | None = None) -> np.ndarray:
    """Random points in a periodic box, each at least ``min_spacing`` from every other (dart throwing).

    ``start`` points are kept and others avoid them. Returns (n, 2), the ``start`` points first.
    """
    points = [] if start is None else [tuple(p) for p in np.asarray(start, float).reshape(-1, 2)]
    candidates = rng.uniform(0, 1, size=(tries, 2)) * box
    tree_points = np.array(points, float).reshape(-1, 2)
    for p in candidates:
        if len(tree_points):
            d = np.abs(tree_points - p)
            d = np.minimum(d, box - d)
            if np.min(np.hypot(d[:, 0], d[:, 1])) < min_spacing:
                continue
        tree_points = np.vstack([tree_points, p])
    return tree_points


def _stack(symbol: str, xy, period: float, offset: float, present: np.ndarray) -> tuple[list[str], list]:
    """The atoms of one column: ``present[k]`` says whether layer k holds an atom at height k * period + offset."""
    zs = np.flatnonzero(present) * period + offset
    return [symbol] * len(zs), [(xy[0], xy[1], z) for z in zs]


def _layers(rng: np.random.Generator, period: float, parity: int | None) -> int:
    lo, hi = int(np.ceil(THICKNESS[0] / period)), int(THICKNESS[1] // period)
    options = [n for n in range(lo, hi + 1) if parity is None or n % 2 == parity]
    return int(rng.choice(options))


def random_lattice(rng: np.random.Generator, field_min: float, parity: int | None = None) -> Atoms:
    """A random rectangular lattice with a random 1-4 site basis, vacancies and (half of them) an amorphous patch.

    ``parity``: the number of layers along the beam is even (0) or odd (1), as the dataset's splits ask.
    """
    a, b = rng.uniform(2.8, 5.5, size=2)
    spacing = rng.uniform(*MIN_SPACING)
    n_sites = int(rng.integers(1, 5))
    basis = spaced_points(rng, np.array([a, b]), spacing, tries=200, start=[[0.0, 0.0]])[:n_sites]
    species = [random_element(rng) for _ in basis]
    occupancy = rng.uniform(0.5, 1.0, size=len(basis))
    period = rng.uniform(2.0, 4.0)
    offsets = rng.uniform(0, period, size=len(basis))
    layers = _layers(rng, period, parity)
    repeats = (int(np.ceil(field_min / a)), int(np.ceil(field_min / b)))
    box = np.array([repeats[0] * a, repeats[1] * b])
    vacancy = rng.uniform(0, 0.05)
    columns = [(species[s], (basis[s] + (i * a, j * b)) % box, occupancy[s], offsets[s])
               for i in range(repeats[0]) for j in range(repeats[1]) for s in range(len(basis))]
    columns = [c for c in columns if rng.random() >= vacancy]
    patch = None
    if rng.random() < 0.5:  # an amorphous patch: its columns replaced by random ones
        centre, radius = rng.uniform(0, 1, size=2) * box, rng.uniform(4.0, 8.0)
        inside = lambda xy: np.hypot(*np.minimum(np.abs(xy - centre), box - np.abs(xy - centre))) < radius  # noqa: E731
        kept = [c for c in columns if not inside(c[1])]
        fresh = spaced_points(rng, box, spacing, start=[c[1] for c in kept])[len(kept):]
        columns = kept + [(species[int(rng.integers(len(species)))], p, rng.uniform(0.3, 1.0), rng.uniform(0, period))
                          for p in fresh if inside(p)]
        patch = (float(centre[0]), float(centre[1]), float(radius))
    symbols, positions = [], []
    for symbol, xy, occ, offset in columns:
        present = rng.random(layers) < occ
        present[rng.integers(layers)] = True  # every column holds at least one atom
        s, p = _stack(symbol, xy, period, offset, present)
        symbols += s
        positions += p
    atoms = Atoms(symbols, positions=positions, cell=[box[0], box[1], layers * period], pbc=True)
    atoms.info.update(zone="random lattice", family="random", source="random (stem_datasets.physics.random_columns)",
                      lattice=(float(a), float(b)), basis=basis.tolist(), species=species, patch=patch,
                      column_spacing=float(spacing), layers=layers)
    return atoms


def random_columns(rng: np.random.Generator, field_min: float, parity: int | None = None) -> Atoms:
    """Columns at random positions (minimum spacing 1.05-2.0 A) over a ``field_min`` square cell, 1-3 elements,
    each column its own length (a run of 30-100% of the layers at a random height).
    """
    spacing = rng.uniform(MIN_SPACING[0], 2.0)
    box = np.array([field_min, field_min])
    points = spaced_points(rng, box, spacing)
    species = [random_element(rng) for _ in range(int(rng.integers(1, 4)))]
    period = rng.uniform(2.0, 4.0)
    layers = _layers(rng, period, parity)
    symbols, positions = [], []
    for xy in points:
        length = max(1, int(round(rng.uniform(0.3, 1.0) * layers)))
        start = int(rng.integers(0, layers - length + 1))
        present = np.zeros(layers, bool)
        present[start:start + length] = True
        s, p = _stack(species[int(rng.integers(len(species)))], xy, period, rng.uniform(0, period), present)
        symbols += s
        positions += p
    atoms = Atoms(symbols, positions=positions, cell=[box[0], box[1], layers * period], pbc=True)
    atoms.info.update(zone="random columns", family="random", source="random (stem_datasets.physics.random_columns)",
                      species=species, column_spacing=float(spacing), layers=layers)
    return atoms


RANDOM_FIELDS = {"random lattice": random_lattice, "random columns": random_columns}
