"""Crystal structures: ABO3 perovskites with rigid, corner-sharing tilted octahedra.

Example:
    >>> atoms = tilted_perovskite((5.0, -3.0, 8.0), "a-b+c-")
    >>> len(atoms), atoms.info["pattern"]
    (40, 'a-b+c-')
    >>> slab = view_along_1m10(atoms, thickness_nm=2.2)
    >>> round(float(slab.cell[2, 2]) / 10, 1)
    2.2
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from scipy.spatial.transform import Rotation

from stem_datasets.glazer import GlazerPattern, parse_pattern

MAX_TILT_DEG = 15.0


@dataclass(frozen=True)
class Composition:
    """An ABO3 perovskite: its cations and the pseudo-cubic lattice constant [A]."""

    name: str
    a_site: str
    b_site: str
    lattice_constant: float
    source: str


# Pseudo-cubic lattice constants a_pc (A) of the real materials at room temperature.
COMPOSITIONS: dict[str, Composition] = {
    c.name: c
    for c in (
        Composition("SrTiO3", "Sr", "Ti", 3.905, "cubic Pm-3m at 295 K; Okazaki & Kawaminami, Mater. Res. Bull. 8, 545 (1973)"),
        Composition("CaTiO3", "Ca", "Ti", 3.826, "(V/4)^(1/3) of Pbnm a=5.381, b=5.443, c=7.645 A; Sasaki et al., Acta Cryst. C43, 1668 (1987)"),
        Composition("LaAlO3", "La", "Al", 3.789, "pseudo-cubic R-3c at 295 K; Hayward et al., Phys. Rev. B 72, 054110 (2005)"),
    )
}


def get_composition(name: str) -> Composition:
    """Look up a composition by formula, with a clear error for unknown ones."""
    try:
        return COMPOSITIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown composition {name!r}; known: {', '.join(COMPOSITIONS)}."
        ) from None


def _check_inputs(angles_deg, repeats) -> tuple[np.ndarray, tuple[int, int, int]]:
    angles = np.asarray(angles_deg, dtype=float)
    if angles.shape != (3,):
        raise ValueError(f"angles_deg must be three numbers (alpha, beta, gamma), got shape {angles.shape}.")
    if not np.all(np.isfinite(angles)):
        raise ValueError(f"angles_deg must be finite, got {angles.tolist()}.")
    if np.any(np.abs(angles) > MAX_TILT_DEG):
        raise ValueError(
            f"Tilt angles must lie within +-{MAX_TILT_DEG} degrees (rigid-octahedron model), "
            f"got {angles.tolist()}."
        )
    reps = tuple(int(r) for r in repeats)
    if len(reps) != 3 or any(r < 2 or r % 2 for r in reps):
        raise ValueError(
            f"repeats must be three even integers >= 2 (tilts double the cell), got {repeats}."
        )
    return angles, reps


def _octahedron_rotations(angles, glazer: GlazerPattern, reps) -> tuple[np.ndarray, np.ndarray]:
    """B-site indices (n, 3) and rotation matrices (n, 3, 3); column e of R is R @ e_hat."""
    cells = np.array(np.meshgrid(*[np.arange(r) for r in reps], indexing="ij")).reshape(3, -1).T
    signs = np.array([[glazer.sign(ax, tuple(cell)) for ax in range(3)] for cell in cells])
    return cells, Rotation.from_euler("xyz", signs * np.asarray(angles), degrees=True).as_matrix()


def _cell_lengths(rotations: np.ndarray, bond: float) -> np.ndarray:
    """Lattice constant per axis: twice the mean projection of a rotated half-bond."""
    return np.array([2 * bond * np.mean(np.abs(rotations[:, e, e])) for e in range(3)])


def pseudocubic_abc(angles_deg, pattern: str, lattice_constant: float) -> np.ndarray:
    """The contracted pseudo-cubic (a, b, c) [A] of :func:`tilted_perovskite`, without building atoms."""
    angles, reps = _check_inputs(angles_deg, (2, 2, 2))
    glazer = parse_pattern(pattern)
    glazer.check_angles(tuple(angles))
    return _cell_lengths(_octahedron_rotations(angles, glazer, reps)[1], lattice_constant / 2)


def tilted_perovskite(
    angles_deg,
    pattern: str,
    composition: str = "SrTiO3",
    repeats: tuple[int, int, int] = (2, 2, 2),
    lattice_constant: float | None = None,
) -> Atoms:
    """Pseudo-cubic ABO3 supercell with rigid BO6 octahedra rotated in a Glazer pattern.

    The octahedron at B-site (0, 0, 0) is rotated by ``R = Rz(gamma) Ry(beta) Rx(alpha)``
    (extrinsic x, then y, then z); the others take the signs the pattern implies. The B-O
    bond stays ``lattice_constant / 2``; the orthorhombic cell contracts so that the
    octahedra stay corner-sharing, and each O sits midway between the positions its two
    B neighbours predict (they differ only at second order in products of angles, which
    keeps bonds within 1% up to 12 degrees). A-cations stay at the corners.
    """
    angles, reps = _check_inputs(angles_deg, repeats)
    glazer: GlazerPattern = parse_pattern(pattern)
    glazer.check_angles(tuple(angles))
    comp = get_composition(composition)
    a0 = comp.lattice_constant if lattice_constant is None else float(lattice_constant)
    if not np.isfinite(a0) or a0 <= 0:
        raise ValueError(f"lattice_constant must be a positive number of angstrom, got {lattice_constant}.")
    bond = a0 / 2

    cells, rotations = _octahedron_rotations(angles, glazer, reps)
    abc = _cell_lengths(rotations, bond)
    index = {tuple(c): n for n, c in enumerate(cells)}
    b_pos = (cells + 0.5) * abc

    oxygens = []
    for n, cell in enumerate(cells):
        for e in range(3):
            neighbour = cell.copy()
            neighbour[e] = (neighbour[e] + 1) % reps[e]
            m = index[tuple(neighbour)]
            from_here = b_pos[n] + bond * rotations[n][:, e]
            from_there = b_pos[n] + abc[e] * np.eye(3)[e] - bond * rotations[m][:, e]
            oxygens.append(0.5 * (from_here + from_there))

    positions = np.concatenate([cells * abc, b_pos, np.array(oxygens)])
    symbols = [comp.a_site] * len(cells) + [comp.b_site] * len(cells) + ["O"] * len(oxygens)
    atoms = Atoms(symbols, positions=positions, cell=np.diag(abc * reps), pbc=True)
    atoms.wrap()
    atoms.info.update(
        angles_deg=tuple(float(a) for a in angles),
        pattern=pattern,
        composition=composition,
        lattice_constant=a0,
        pseudocubic_abc=tuple(float(x) for x in abc),
        repeats=reps,
    )
    return atoms


def layers_for_thickness(thickness_nm: float, lattice_constant: float) -> int:
    """Whole [1-10] layers (sqrt2 * a of the untilted crystal each) nearest a thickness."""
    return max(1, int(round(10 * thickness_nm / (np.sqrt(2.0) * lattice_constant))))


def nominal_thickness_nm(n_layers: int, lattice_constant: float) -> float:
    """Thickness of ``n_layers`` untilted [1-10] layers [nm] (tilts contract it by <3%)."""
    return float(round(n_layers * np.sqrt(2.0) * lattice_constant / 10, 2))


def view_along_1m10(atoms: Atoms, thickness_nm: float) -> Atoms:
    """Cut the cuboid [110] x [001] x [1-10] (beam along z) of a tilted supercell.

    The cuboid is 2 sqrt2 x 4 pseudo-cubic cells across and ``thickness_nm`` (rounded to
    whole sqrt2 * a layers) along the beam, as in the seed paper. [110] and [1-10] are
    orthogonal only when a_pc = b_pc; tilts make them differ by up to ~1.1% at 12
    degrees, so x and y are first scaled to their mean. That homogeneous strain is
    recorded in ``info["orthogonalization_strain"]``.
    """
    if not np.isfinite(thickness_nm) or thickness_nm <= 0:
        raise ValueError(f"thickness_nm must be a positive number, got {thickness_nm}.")
    a, b, c = atoms.info["pseudocubic_abc"]
    reps = atoms.info["repeats"]
    ab = 0.5 * (a + b)
    strained = atoms.get_positions() * np.array([ab / a, ab / b, 1.0])
    super_ab = np.array([ab * reps[0], ab * reps[1], c * reps[2]])

    s2 = np.sqrt(2.0)
    layer = s2 * ab
    n_layers = layers_for_thickness(thickness_nm, atoms.info["lattice_constant"])
    box = np.array([2 * s2 * ab, 4 * c, n_layers * layer])
    basis = np.array([[1, 1, 0], [0, 0, 1], [1, -1, 0]]) / np.array([[s2], [1], [s2]])

    corners = np.array(np.meshgrid(*[[0.0, side] for side in box], indexing="ij")).reshape(3, -1).T
    pc_corners = corners @ basis  # back to pseudo-cubic Cartesian coordinates
    low = np.floor(pc_corners.min(axis=0) / super_ab).astype(int) - 1
    high = np.ceil(pc_corners.max(axis=0) / super_ab).astype(int) + 1
    shifts = np.array(np.meshgrid(*[np.arange(lo, hi) for lo, hi in zip(low, high)], indexing="ij")).reshape(3, -1).T
    images = (strained[None, :, :] + (shifts * super_ab)[:, None, :]).reshape(-1, 3)
    numbers = np.tile(atoms.numbers, len(shifts))
    projected = images @ basis.T
    # Half-open box with a tiny tolerance so atoms on a face are taken exactly once.
    eps = 1e-6
    inside = np.all((projected >= -eps) & (projected < box - eps), axis=1)
    slab = Atoms(numbers=numbers[inside], positions=projected[inside], cell=np.diag(box), pbc=True)
    slab.info.update(atoms.info)
    slab.info.update(
        thickness_nm=float(box[2] / 10),
        n_layers=n_layers,
        orthogonalization_strain=float(abs(a - b) / (a + b)),
        projected_period=(float(s2 * ab), float(2 * c)),
    )
    return slab
