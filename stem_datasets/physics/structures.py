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
from functools import lru_cache

import numpy as np
from ase import Atoms
from scipy.spatial.transform import Rotation

from stem_datasets.physics.glazer import GlazerPattern, parse_pattern

MAX_TILT_DEG = 15.0


@dataclass(frozen=True)
class Composition:
    """An ABO3 perovskite: its cations and the pseudo-cubic lattice constant [A].

    ``tilted_source``: the tabulated constant is (V/Z)^(1/3) of a *tilted* structure (its
    volume per formula unit already includes the tilts' contraction), so a tilted model of it
    keeps that volume (:func:`tilted_perovskite` derives the B-O bond from it); otherwise it
    is an untilted (cubic) cell and the bond is half of it (the rigid-octahedron model).
    """

    name: str
    a_site: str
    b_site: str
    lattice_constant: float
    source: str
    tilted_source: bool = False


# Pseudo-cubic lattice constants a_pc (A) of the real materials at room temperature.
COMPOSITIONS: dict[str, Composition] = {
    c.name: c
    for c in (
        Composition("SrTiO3", "Sr", "Ti", 3.905, "cubic Pm-3m at 295 K; Okazaki & Kawaminami, Mater. Res. Bull. 8, 545 (1973)"),
        Composition("CaTiO3", "Ca", "Ti", 3.826, "(V/4)^(1/3) of Pbnm a=5.381, b=5.443, c=7.645 A; Sasaki et al., Acta Cryst. C43, 1668 (1987)", tilted_source=True),

        Composition("LaAlO3", "La", "Al", 3.789, "pseudo-cubic R-3c at 295 K; Hayward et al., Phys. Rev. B 72, 054110 (2005)", tilted_source=True),

        Composition("BiFeO3", "Bi", "Fe", 3.965, "(V/6)^(1/3) of R3c a=5.579, c=13.869 A (hexagonal); Kubel & Schmid, Acta Cryst. B46, 698 (1990)", tilted_source=True),

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


@lru_cache(maxsize=64)
def _cells_and_signs(glazer: GlazerPattern, reps: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    cells = np.array(np.meshgrid(*[np.arange(r) for r in reps], indexing="ij")).reshape(3, -1).T
    signs = np.array([[glazer.sign(ax, tuple(cell)) for ax in range(3)] for cell in cells])
    cells.flags.writeable = signs.flags.writeable = False
    return cells, signs


def _octahedron_rotations(angles, glazer: GlazerPattern, reps) -> tuple[np.ndarray, np.ndarray]:
    """B-site indices (n, 3) and rotation matrices (n, 3, 3); column e of R is R @ e_hat."""
    cells, signs = _cells_and_signs(glazer, tuple(reps))
    return cells, Rotation.from_euler("xyz", signs * np.asarray(angles), degrees=True).as_matrix()


def _cell_lengths(rotations: np.ndarray, bond: float) -> np.ndarray:
    """Lattice constant per axis: twice the mean projection of a rotated half-bond."""
    return np.array([2 * bond * np.mean(np.abs(rotations[:, e, e])) for e in range(3)])


def _bond(rotations: np.ndarray, lattice_constant: float, keep_volume: bool) -> float:
    """B-O bond [A]: half the constant (rigid octahedra), or the bond whose tilted cell has volume constant^3."""
    if not keep_volume:
        return lattice_constant / 2
    contraction = np.prod(_cell_lengths(rotations, 0.5))  # a b c / constant^3 of rigid octahedra (bond = 1/2)
    return lattice_constant / 2 / float(contraction) ** (1 / 3)


def pseudocubic_abc(angles_deg, pattern: str, lattice_constant: float, keep_volume: bool = False) -> np.ndarray:
    """The contracted pseudo-cubic (a, b, c) [A] of :func:`tilted_perovskite`, without building atoms.

    ``keep_volume``: the constant is that of the tilted structure (a ``tilted_source``
    composition), so a b c = constant^3.

    >>> [round(float(x), 3) for x in pseudocubic_abc((8.0, 8.0, 8.0), "a-b-c-", 3.965, keep_volume=True)]
    [3.965, 3.965, 3.965]
    """
    angles, reps = _check_inputs(angles_deg, (2, 2, 2))
    glazer = parse_pattern(pattern)
    glazer.check_angles(tuple(angles))
    rotations = _octahedron_rotations(angles, glazer, reps)[1]
    return _cell_lengths(rotations, _bond(rotations, lattice_constant, keep_volume))


def tilted_perovskite(
    angles_deg,
    pattern: str,
    composition: str = "SrTiO3",
    repeats: tuple[int, int, int] = (2, 2, 2),
    lattice_constant: float | None = None,
    keep_volume: bool | None = None,
) -> Atoms:
    """Pseudo-cubic ABO3 supercell with rigid BO6 octahedra rotated in a Glazer pattern.

    The octahedron at B-site (0, 0, 0) is rotated by ``R = Rz(gamma) Ry(beta) Rx(alpha)``
    (extrinsic x, then y, then z); the others take the signs the pattern implies. The
    orthorhombic cell contracts so that the octahedra stay corner-sharing, and each O sits
    midway between the positions its two B neighbours predict (they differ only at second
    order in products of angles, which keeps bonds within 1% up to 12 degrees). A-cations
    stay at the corners. The B-O bond is ``lattice_constant / 2`` for an untilted source
    (SrTiO3's cubic cell: rigid octahedra); for a ``tilted_source`` composition (CaTiO3,
    LaAlO3, BiFeO3, whose tabulated constant is (V/Z)^(1/3) of the tilted structure) it is
    derived so that the tilted cell keeps the tabulated volume (``keep_volume``, by default
    the composition's ``tilted_source``).
    """
    angles, reps = _check_inputs(angles_deg, repeats)
    glazer: GlazerPattern = parse_pattern(pattern)
    glazer.check_angles(tuple(angles))
    comp = get_composition(composition)
    a0 = comp.lattice_constant if lattice_constant is None else float(lattice_constant)
    if not np.isfinite(a0) or a0 <= 0:
        raise ValueError(f"lattice_constant must be a positive number of angstrom, got {lattice_constant}.")
    cells, rotations = _octahedron_rotations(angles, glazer, reps)
    bond = _bond(rotations, a0, comp.tilted_source if keep_volume is None else bool(keep_volume))
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
        bond=float(bond),
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


# --- LaAlO3/SrTiO3 interface cross-sections (the 4D-STEM dataset) ------------------------

INTERFACE_FILM_CELLS = 3
INTERFACE_SUBSTRATE_CELLS = 3
INTERFACE_WIDTH_CELLS = 7  # substrate + film + cap = 7 cells along x too: a square cell, square CBED pixels
STEP_POSITIONS = 11  # step at 0, 0.1, ..., 1.0 of the thickness
# LaAlO3 clamped to SrTiO3 in-plane (3.905 A) contracts out of plane: 3.72-3.79 A is reported for
# coherent films; bulk 3.789 A with Poisson ratio ~0.24 gives 3.72 A elastically. Neglecting it
# (c = 3.905) changes 10 nm CBED stacks by 23-28%, more than the rough/intermixed difference of
# that cubic model (19%; bench/validate_cbed_approximations.py), so the film has its own c.
LAO_FILM_C = 3.75


def interface_slice_thickness(lattice_constant: float = COMPOSITIONS["SrTiO3"].lattice_constant) -> float:
    """One atomic plane per slice along [100]: half the lattice constant [A]."""
    return lattice_constant / 2


def snap_interface_thickness(thickness_angstrom: float) -> float:
    """The nearest whole number of SrTiO3 unit cells along the beam [A] (e.g. 100 -> 101.53)."""
    a = COMPOSITIONS["SrTiO3"].lattice_constant
    return float(max(1, round(thickness_angstrom / a)) * a)


def lao_sto_interface(
    thickness_angstrom: float,
    step_fraction: float | None = None,
    intermix_fraction: float = 0.0,
    intermix_layers: int = 1,
    a_site_fraction: float = 0.0,
    seed: int = 0,
    substrate_cells: int = INTERFACE_SUBSTRATE_CELLS,
    film_cells: int = INTERFACE_FILM_CELLS,
    width_cells: int = INTERFACE_WIDTH_CELLS,
    film_c_angstrom: float = LAO_FILM_C,
    step_angle_deg: float = 0.0,
    step_y_angstrom: float | None = None,
    terrace_width_angstrom: float | None = None,
    terrace_offset_angstrom: float = 0.0,
) -> Atoms:
    """Cross-section of the LaAlO3/SrTiO3(001) interface with the beam in the interface plane.

    x runs across the interface (the [001] growth direction), y along it and z along the
    beam ([100]). Along x: a TiO2-terminated SrTiO3 substrate, an AlO2-terminated LaAlO3
    film and one SrO cap layer, so that the periodic cell stacks AO/BO2 planes throughout
    (substrate TiO2 | LaO ... AlO2 | SrO cap | substrate TiO2). The film is coherent with
    the substrate in y and z (SrTiO3's 3.905 A) and has its own spacing along x,
    ``film_c_angstrom`` (tetragonal LaAlO3, 3.75 A): film planes, and the cap, sit c/2 apart
    from the local terminating TiO2 plane; what the cell's 7 SrTiO3 cells leave over
    (0.47 A) widens the cap/substrate seam, 3 cells from the interface. Pass 3.905 for the
    cubic model of version 1.0.0.

    ``step_fraction`` f buries a step: atomic planes at depths z >= f * thickness (in whole
    slices of a/2) have the interface one unit cell further into the film (the first LaO
    and AlO2 planes become SrO and TiO2). f = 1 is the flat interface, f = 0 the flat
    interface one cell further out. The step edge need not be a straight line along y:
    it runs at ``step_angle_deg`` to y in the y-z (interface) plane, through depth
    f * thickness at y = ``step_y_angstrom`` (default: the cell's centre), and the raised
    terrace is ``terrace_width_angstrom`` wide in y, centred ``terrace_offset_angstrom``
    from that point (default: the whole cell, an edge without ends); on the atomic
    lattice this gives kinks.
    ``intermix_fraction`` replaces that fraction of the
    Al sites in the first ``intermix_layers`` AlO2 planes by Ti, ``a_site_fraction`` that
    of La in the first LaO plane by Sr, at random sites drawn from ``seed``.

    >>> flat = lao_sto_interface(19.525, intermix_fraction=0.2, seed=1)
    >>> flat.info["intermix_fraction"], flat.info["n_slices"]
    (0.2, 10)
    """
    a = COMPOSITIONS["SrTiO3"].lattice_constant
    dz = interface_slice_thickness(a)
    n_slices = thickness_angstrom / dz if np.isfinite(thickness_angstrom) else np.nan
    if not (np.isfinite(n_slices) and n_slices >= 1 and abs(n_slices - round(n_slices)) < 1e-6):
        raise ValueError(
            f"thickness_angstrom={thickness_angstrom} is not a whole number of slices of {dz} A "
            f"(one atomic plane each); use snap_interface_thickness({thickness_angstrom}) = "
            f"{snap_interface_thickness(thickness_angstrom) if np.isfinite(thickness_angstrom) else 'n/a'}."
        )
    n_slices = int(round(n_slices))
    if step_fraction is not None and not (np.isfinite(step_fraction) and 0.0 <= step_fraction <= 1.0):
        raise ValueError(f"step_fraction must lie in [0, 1] (fraction of the thickness along the beam), got {step_fraction}.")
    for name, value in (("intermix_fraction", intermix_fraction), ("a_site_fraction", a_site_fraction)):
        if not (np.isfinite(value) and 0.0 <= value <= 1.0):
            raise ValueError(f"{name} must lie in [0, 1], got {value}.")
    if not 1 <= intermix_layers <= film_cells:
        raise ValueError(f"intermix_layers must be 1..{film_cells} (the film's AlO2 planes), got {intermix_layers}.")
    if not (np.isfinite(step_angle_deg) and abs(step_angle_deg) < 60):
        raise ValueError(f"step_angle_deg must lie in (-60, 60) degrees (edge direction against y), got {step_angle_deg}.")
    for name, value in (("step_y_angstrom", 0.0 if step_y_angstrom is None else step_y_angstrom),
                        ("terrace_offset_angstrom", terrace_offset_angstrom)):
        if not np.isfinite(value):
            raise ValueError(f"{name} must be a finite length in y [A], got {value}.")
    if terrace_width_angstrom is not None and not (np.isfinite(terrace_width_angstrom) and terrace_width_angstrom > 0):
        raise ValueError(f"terrace_width_angstrom must be a positive width in y [A] or None, got {terrace_width_angstrom}.")
    if substrate_cells < 1 or film_cells < 2 or width_cells < 1:
        raise ValueError("need substrate_cells >= 1, film_cells >= 2 (room for the step) and width_cells >= 1.")
    if not (np.isfinite(film_c_angstrom) and 0.9 * a <= film_c_angstrom <= a):
        raise ValueError(f"film_c_angstrom must lie in [{0.9 * a:.3f}, {a}] A (LaAlO3 strained to SrTiO3 contracts), "
                         f"got {film_c_angstrom}.")

    # Plane j sits at x = (j + 1/2) a/2: TiO2 for even j < 2 n_sub + 1, SrO for odd ones;
    # then LaO/AlO2 pairs, then the SrO cap.
    terminating = 2 * substrate_cells
    kinds = ["B:Ti" if j % 2 == 0 else "A:Sr" for j in range(terminating + 1)]
    kinds += ["A:La" if j % 2 == 0 else "B:Al" for j in range(2 * film_cells)]
    kinds += ["A:Sr"]
    step_slice = n_slices if step_fraction is None else int(round(step_fraction * n_slices))
    width = width_cells * a
    step_y = width / 2 if step_y_angstrom is None else float(step_y_angstrom)
    half_terrace = np.inf if terrace_width_angstrom is None else terrace_width_angstrom / 2
    slope = np.tan(np.radians(step_angle_deg))

    def stepped_at(y: float, z: float) -> bool:
        """Whether the atom at (y, z) lies on the raised terrace, past the (inclined) edge."""
        dy = (y - step_y + width / 2) % width - width / 2
        on_terrace = abs((dy - terrace_offset_angstrom + width / 2) % width - width / 2) < half_terrace
        return on_terrace and z >= step_slice * dz + dy * slope

    symbols, positions, roles = [], [], []
    def plane_x(j: int, stepped: bool) -> float:
        """x of plane j: a/2 apart up to the local terminating TiO2 plane, then c/2 apart."""
        local = terminating + 2 if stepped else terminating
        if j <= local:
            return (j + 0.5) * dz
        return (local + 0.5) * dz + (j - local) * film_c_angstrom / 2

    for j, kind in enumerate(kinds):
        site, element = kind.split(":")
        for s in range(n_slices):
            z = (s + 0.5) * dz  # atomic planes at slice centres
            in_plane = s % 2  # AO planes: A at y = 0 in even slices, O at y = a/2 in odd ones
            for iy in range(width_cells):
                y0 = iy * a
                if site == "A":
                    sites = [(element, y0, "A")] if in_plane == 0 else [("O", y0 + a / 2, "O")]
                else:  # BO2: O at y = a/2 in even slices; B at a/2 and O at 0 in odd ones
                    sites = [("O", y0 + a / 2, "O")] if in_plane == 0 else [(element, y0 + a / 2, "B"), ("O", y0, "O")]
                for symbol, y, role in sites:
                    stepped = step_fraction is not None and stepped_at(y, z)
                    if stepped and j in (terminating + 1, terminating + 2) and role != "O":
                        symbol = "Sr" if role == "A" else "Ti"  # the step: one more substrate cell
                    symbols.append(symbol)
                    positions.append((plane_x(j, stepped), y, z))
                    roles.append((j, role))

    symbols = np.array(symbols, dtype=object)
    roles_j = np.array([r[0] for r in roles])
    roles_site = np.array([r[1] for r in roles])
    rng = np.random.default_rng(seed)
    al_planes = [terminating + 2 + 2 * k for k in range(intermix_layers)]
    al_sites = np.flatnonzero(np.isin(roles_j, al_planes) & (roles_site == "B") & (symbols == "Al"))
    la_sites = np.flatnonzero((roles_j == terminating + 1) & (roles_site == "A") & (symbols == "La"))
    n_ti = int(round(intermix_fraction * len(al_sites)))
    n_sr = int(round(a_site_fraction * len(la_sites)))
    symbols[rng.choice(al_sites, n_ti, replace=False)] = "Ti"
    symbols[rng.choice(la_sites, n_sr, replace=False)] = "Sr"

    cell = np.diag([len(kinds) * dz, width_cells * a, n_slices * dz])
    atoms = Atoms(list(symbols), positions=np.array(positions), cell=cell, pbc=True)
    atoms.info.update(
        lattice_constant=a,
        thickness_angstrom=float(n_slices * dz),
        n_slices=n_slices,
        slice_thickness=dz,
        interface_x=float((terminating + 0.5) * dz),  # the terminating TiO2 plane
        step_slice=step_slice,
        step_fraction=None if step_fraction is None else step_slice / n_slices,
        step_angle_deg=float(step_angle_deg),
        step_y=step_y,
        terrace_width=None if terrace_width_angstrom is None else float(terrace_width_angstrom),
        terrace_offset=float(terrace_offset_angstrom),
        intermix_fraction=n_ti / len(al_sites) if len(al_sites) else 0.0,
        a_site_fraction=n_sr / len(la_sites) if len(la_sites) else 0.0,
        seed=seed,
        film_c=float(film_c_angstrom),
    )
    return atoms
