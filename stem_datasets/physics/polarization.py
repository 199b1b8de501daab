"""Polarization fields of BiFeO3 viewed down [100]pc: domains, walls, Sm doping and the ground truth.

The quantity throughout is the seed paper's per-cell polarization (after Nelson et al., Nano Lett. 11,
828 (2011)): the projected displacement, in pm, of an Fe column from the mean of its four nearest Bi
columns, delta_FeBi. In R3c the Bi sublattice moves further along P than Fe, so delta_FeBi points
opposite to the ferroelectric P (as in :func:`stem_datasets.physics.lattices.bifeo3_100`); the sign triples
of the variants below give the direction of delta_FeBi.

Axes: the beam runs along pseudo-cubic (pc) x; the image plane is pc (y, z), with image x = pc y
and image y = pc z (the rotation of ``bifeo3_100``). Fields are arrays (ny, nx, 2) over pc cells,
indexed [row iy, column ix], holding (x_img, y_img) components in pm; cell (iy, ix) is the Fe
column at ((ix + 1/2) a, (iy + 1/2) a), between the Bi columns at (ix, iy) a ... (ix + 1, iy + 1) a.

Example:
    >>> rng = np.random.default_rng(0)
    >>> field = polarization_field("wall_109", (4, 4), rng, jitter_pm=0.0)
    >>> field.shape
    (4, 4, 2)
    >>> atoms = bfo_field((4, 4), 1, field, sm_fraction=0.1, rng=rng)
    >>> bool(np.allclose(measured_field(atoms), atoms.info["displacement_pm"], atol=1e-6))
    True
    >>> variant_projection((1, 1, -1), 30.0).round(2).tolist()
    [17.32, -17.32]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from scipy.spatial import cKDTree

from stem_datasets.physics import lattices
from stem_datasets.physics.structures import get_composition

VARIANTS: tuple[tuple[int, int, int], ...] = tuple(itertools.product((1, -1), repeat=3))  # the eight pc <111>
KINDS = ("single", "wall_71", "wall_109", "rotation")
PURE_MAGNITUDE_PM = (25.0, 35.0)  # projected |delta_FeBi| of pure BiFeO3 in the seed paper
MAX_DISPLACEMENT_PM = 100.0  # a quarter of a_pc: beyond it an Fe column would no longer sit in its Bi cage
# Sm model (a model, not a fit): linear mean-field suppression keeping SM_RETAINED_AT_10PCT of the pure
# displacement at 10% Sm, valid below the morphotropic boundary (~14% Sm), plus a local reduction.
SM_RETAINED_AT_10PCT = 0.6
SM_MORPHOTROPIC_X = 0.14
SM_LOCAL_REDUCTION = 0.3


def _signs(signs) -> np.ndarray:
    s = np.asarray(signs)
    if s.shape != (3,) or not np.all(np.isin(s, (-1, 1))):
        raise ValueError(f"a variant is three signs (sx, sy, sz), each +1 or -1, got {signs!r}.")
    return s.astype(int)


def variant_projection(signs, magnitude_3d_pm: float) -> np.ndarray:
    """Projected (x_img, y_img) displacement [pm] of the variant (sx, sy, sz): d / sqrt(3) * (sy, sz).

    The beam component sx is lost, so variants differing only in sx look alike. A 71 deg wall
    (one sign flipped) is invisible when it flips sx and turns the projection by 90 deg when it
    flips sy or sz; a 109 deg wall (two flipped) turns it by 90 deg (sx and sy or sz) or 180 deg (sy, sz).

    >>> variant_projection((1, 1, 1), 30.0).tolist() == variant_projection((-1, 1, 1), 30.0).tolist()
    True
    """
    return float(magnitude_3d_pm) / np.sqrt(3.0) * _signs(signs)[1:].astype(float)


def wall_angle_deg(a, b) -> float:
    """Angle between the 3-D displacements of two variants (70.5, 109.5 or 180 deg; 0 if equal)."""
    return float(np.degrees(np.arccos(np.clip(_signs(a) @ _signs(b) / 3.0, -1, 1))))


def neutral_wall_normal(a, b) -> np.ndarray:
    """The pc normal of the uncharged, strain-compatible wall between two variants (Streiffer et al.,
    J. Appl. Phys. 83, 2742 (1998)): for a 71 deg wall flipping component i, the {101} plane
    s_j e_j + s_k e_k (it contains e_i); for a 109 deg wall flipping i and j, the {100} plane e_k.

    >>> neutral_wall_normal((1, 1, -1), (-1, 1, -1)).tolist(), neutral_wall_normal((1, 1, 1), (-1, -1, 1)).tolist()
    ([0, 1, -1], [0, 0, 1])
    """
    a, b = _signs(a), _signs(b)
    same = a == b
    if same.sum() == 2:
        return np.where(same, a, 0)
    if same.sum() == 1:
        return same.astype(int)
    raise ValueError(f"variants {a.tolist()} and {b.tolist()} share no 71 or 109 deg wall (equal or 180 deg).")


def _cells(cells) -> tuple[int, int]:
    try:
        nx, ny = (int(c) for c in cells)
    except (TypeError, ValueError):
        raise ValueError(f"cells must be (nx, ny), two positive integers, got {cells!r}.") from None
    if nx < 1 or ny < 1 or (nx, ny) != tuple(cells):
        raise ValueError(f"cells must be (nx, ny), two positive integers, got {cells!r}.")
    return nx, ny


def _range(magnitude_pm) -> tuple[float, float]:
    lo, hi = (float(m) for m in magnitude_pm)
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo <= hi <= MAX_DISPLACEMENT_PM):
        raise ValueError(f"magnitude_pm must be (low, high) pm with 0 <= low <= high <= {MAX_DISPLACEMENT_PM}, "
                         f"got {magnitude_pm!r}.")
    return lo, hi


def _mean_tanh(s: np.ndarray, width: float, spread: float) -> np.ndarray:
    """tanh(s / width), averaged over wall positions spread uniformly across ``spread`` (an inclined wall)."""
    if spread <= 0:
        return np.tanh(s / width)
    logcosh = lambda u: np.logaddexp(u, -u)  # noqa: E731  (ln 2 cancels)
    return width / spread * (logcosh((s + spread / 2) / width) - logcosh((s - spread / 2) / width))


def polarization_field(kind: str, cells: tuple[int, int], rng: np.random.Generator,
                       magnitude_pm: tuple[float, float] = PURE_MAGNITUDE_PM, jitter_pm: float = 2.0,
                       wall_width_cells: float = 1.5, thickness_cells: float = 0.0,
                       max_rotation_deg: float = 360.0, return_info: bool = False):
    """A per-cell delta_FeBi field (ny, nx, 2) [pm] over ``cells`` = (nx, ny), drawn from ``rng``.

    ``magnitude_pm`` bounds the projected magnitude (one value drawn per domain field). Kinds:

    * ``"single"``: one of the eight variants everywhere.
    * ``"wall_71"``: a variant and the one with sy or sz flipped (the visible 71 deg walls; flipping sx
      gives the same projection). Their neutral wall, s_x e_x + s_k e_k, is inclined 45 deg to the
      beam; its trace is a horizontal (sy flipped) or vertical (sz flipped) line. Through a specimen
      ``thickness_cells`` thick the trace moves by that much, so the projected profile is the tanh
      averaged over it (0: a sharp projection).
    * ``"wall_109"``: flips sx and sy (wall plane pc z = const: a horizontal line) or sx and sz (pc y =
      const: vertical); both walls contain the beam (edge-on). The 109 deg wall flipping sy and sz lies
      in the image plane (e_x normal), so it is not drawn here: stacked along the beam it is no lateral wall.
    * ``"rotation"``: the projected vector turns smoothly by up to ``max_rotation_deg`` (at least 90,
      random sense) along a random direction, its magnitude varying linearly within the range.

    Walls cross the field at a random offset (within +-20% of its extent from the centre) with the
    profile P(s) = P_mean + dP tanh(s / ``wall_width_cells``) / 2 in the flipped component; a field with
    a wall is not periodic across the cell boundary (use the interior). Gaussian ``jitter_pm`` per cell
    and component mimics local disorder. ``return_info`` adds a dict of what was drawn.
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown polarization field kind {kind!r}; known: {', '.join(KINDS)}.")
    nx, ny = _cells(cells)
    lo, hi = _range(magnitude_pm)
    for name, value in (("jitter_pm", jitter_pm), ("thickness_cells", thickness_cells)):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a non-negative number, got {value!r}.")
    if not (np.isfinite(wall_width_cells) and wall_width_cells > 0 and np.isfinite(max_rotation_deg)
            and max_rotation_deg >= 90):
        raise ValueError(f"need wall_width_cells > 0 and max_rotation_deg >= 90, got {wall_width_cells!r}, "
                         f"{max_rotation_deg!r}.")
    iy, ix = np.mgrid[0:ny, 0:nx]
    r = np.stack([ix + 0.5 - nx / 2, iy + 0.5 - ny / 2], axis=-1)  # cell centres from the field centre [cells]
    info: dict = {"kind": kind}
    if kind == "rotation":
        theta0, direction = rng.uniform(0, 2 * np.pi, size=2)
        turn = np.radians(rng.uniform(90.0, max_rotation_deg)) * rng.choice((-1, 1))
        m_start, m_end = rng.uniform(lo, hi, size=2)
        g = np.array([np.cos(direction), np.sin(direction)])
        t = r @ g / (abs(g[0]) * nx + abs(g[1]) * ny) + 0.5  # 0 .. 1 across the field along g
        theta, m = theta0 + turn * t, m_start + (m_end - m_start) * t
        field = np.stack([m * np.cos(theta), m * np.sin(theta)], axis=-1)
        info.update(theta0_deg=float(np.degrees(theta0)), turn_deg=float(np.degrees(turn)),
                    direction_deg=float(np.degrees(direction)), magnitude_pm=(float(m_start), float(m_end)))
    else:
        a = np.array(VARIANTS[rng.integers(len(VARIANTS))])
        m = rng.uniform(lo, hi)
        d3 = m * np.sqrt(1.5)  # 3-D magnitude whose projection is m
        field = np.broadcast_to(variant_projection(a, d3), (ny, nx, 2)).copy()
        info.update(variants=[tuple(int(v) for v in a)], magnitude_pm=float(m))
        if kind != "single":
            b = a.copy()
            if kind == "wall_71":
                b[1 + rng.integers(2)] *= -1  # sy or sz
            else:
                b[[0, 1 + rng.integers(2)]] *= -1  # sx and sy, or sx and sz
            n = neutral_wall_normal(a, b)
            u = n[1:] / np.linalg.norm(n[1:])  # the trace's normal in the image
            extent = abs(u[0]) * nx + abs(u[1]) * ny
            offset = rng.uniform(-0.2, 0.2) * extent
            spread = thickness_cells if n[0] else 0.0
            f = 0.5 * (1 + _mean_tanh(r @ u - offset, wall_width_cells, spread))  # 0: variant a, 1: b
            pa, pb = variant_projection(a, d3), variant_projection(b, d3)
            field = (1 - f)[..., None] * pa + f[..., None] * pb
            info.update(variants=[tuple(int(v) for v in a), tuple(int(v) for v in b)],
                        wall_normal_pc=tuple(int(v) for v in n), wall_offset_cells=float(offset),
                        inclined=bool(n[0]), angle_3d_deg=wall_angle_deg(a, b))
    field = field + rng.normal(0.0, jitter_pm, size=field.shape) if jitter_pm else field
    return (field, info) if return_info else field


def sm_scaled_magnitude(x_sm: float, magnitude_pm=PURE_MAGNITUDE_PM,
                        retained_at_10pct: float = SM_RETAINED_AT_10PCT):
    """The mean-field part of the Sm model: |delta_FeBi| of Bi(1-x)Sm(x)FeO3, scaled linearly with x.

    Factor 1 - (1 - ``retained_at_10pct``) * x / 0.1 (0.6 of the pure value at 10% Sm by default;
    the seed shows weaker but nonzero polarization there). Sm-BFO turns non-polar near the
    morphotropic boundary (x ~ 0.14), so larger x raises ValueError. The local part, a reduction of
    Fe columns next to Sm-holding Bi columns, is applied by :func:`bfo_field`.
    Returns a float or (low, high) as given.

    >>> sm_scaled_magnitude(0.1)
    (15.0, 21.0)
    """
    if not (np.isfinite(x_sm) and 0 <= x_sm < SM_MORPHOTROPIC_X):
        raise ValueError(f"x_sm must lie in [0, {SM_MORPHOTROPIC_X}) (below the morphotropic boundary), got {x_sm!r}.")
    factor = 1 - (1 - retained_at_10pct) * x_sm / 0.10
    if np.ndim(magnitude_pm) == 0:
        return float(magnitude_pm) * factor
    return tuple(round(float(m) * factor, 10) for m in magnitude_pm)


def bfo_field(cells: tuple[int, int], layers: int, displacement_pm: np.ndarray, sm_fraction: float = 0.0,
              rng: np.random.Generator | None = None, tilt_deg: float = 11.0,
              sm_local_reduction: float = SM_LOCAL_REDUCTION) -> Atoms:
    """BiFeO3 down [100]pc (as :func:`lattices.bifeo3_100`: a-a-a- tilts, beam along z) with a per-column field.

    ``cells`` = (nx, ny) pc cells, both even (the tilts repeat every 2 cells); the cell is exactly
    nx a_pc x ny a_pc (a_pc contracted by the tilts) and ``layers`` units of 2 a_pc deep. Every Fe of the
    column of cell (iy, ix) moves by ``displacement_pm[iy, ix]`` (x_img, y_img) in the image plane (the
    component along the beam is invisible and not modelled); Bi and O stay put. Sm replaces Bi sites at
    random (``lattices.point_defects``, binomial count), and a Fe column with k of its four Bi columns
    holding Sm moves by (1 - ``sm_local_reduction`` * k / 4) of its displacement. ``info`` records the
    zone, family, source, ``cells``, ``displacement_pm`` as applied, ``sm_neighbours`` (k) and
    ``lattice_constant_pc``. The cell is periodic; a field with a wall is not, across its boundary.
    """
    nx, ny, disp = _checked_field(cells, layers, displacement_pm, sm_fraction, sm_local_reduction, rng)
    atoms = lattices.bifeo3_100((nx // 2, ny // 2), int(layers), polarization_pm=(0.0, 0.0), tilt_deg=tilt_deg)
    atoms.info.pop("polarization_pm", None)
    atoms, k = _with_sm(atoms, nx, ny, sm_fraction, rng)
    applied = disp * (1 - sm_local_reduction * k / 4)[..., None]
    a = np.diag(atoms.cell)[:2] / (nx, ny)
    symbols = np.array(atoms.get_chemical_symbols())
    fe = symbols == "Fe"
    index = np.floor(atoms.positions[fe, :2] / a).astype(int) % (nx, ny)
    atoms.positions[fe, :2] += applied[index[:, 1], index[:, 0]] / 100.0
    atoms.wrap()
    atoms.info.update(cells=(nx, ny), displacement_pm=applied, sm_fraction=float(sm_fraction), sm_neighbours=k,
                      sm_local_reduction=float(sm_local_reduction), tilt_deg=float(tilt_deg),
                      lattice_constant_pc=tuple(float(v) for v in a),
                      source=get_composition("BiFeO3").source + "; per-cell polarization field")
    atoms.info.setdefault("substitutions", 0)
    return atoms


def _checked_field(cells, layers, displacement_pm, sm_fraction: float, sm_local_reduction: float, rng):
    """(nx, ny, displacement array) of a field's arguments, each checked with a message that says what to pass."""
    nx, ny = _cells(cells)
    if nx % 2 or ny % 2:
        raise ValueError(f"cells must be even (the a-a-a- tilts repeat every 2 pc cells), got {(nx, ny)}.")
    if int(layers) != layers or layers < 1:
        raise ValueError(f"layers must be a positive integer (units of 2 a_pc along the beam), got {layers!r}.")
    disp = np.asarray(displacement_pm, dtype=float)
    if disp.shape != (ny, nx, 2):
        raise ValueError(f"displacement_pm must have shape (ny, nx, 2) = {(ny, nx, 2)}, got {disp.shape}.")
    if not np.all(np.isfinite(disp)):
        raise ValueError("displacement_pm holds NaN or infinite values.")
    if np.max(np.hypot(disp[..., 0], disp[..., 1])) > MAX_DISPLACEMENT_PM:
        raise ValueError(f"displacements must stay within {MAX_DISPLACEMENT_PM} pm of the Bi cage centre.")
    for name, value in (("sm_fraction", sm_fraction), ("sm_local_reduction", sm_local_reduction)):
        if not (np.isfinite(value) and 0 <= value <= 1):
            raise ValueError(f"{name} must lie in [0, 1], got {value!r}.")
    if sm_fraction > 0 and rng is None:
        raise ValueError("Sm doping needs rng (a numpy Generator) to place the Sm atoms.")
    return nx, ny, disp


def _with_sm(atoms: Atoms, nx: int, ny: int, sm_fraction: float, rng) -> tuple[Atoms, np.ndarray]:
    """Bi sites replaced by Sm at random, and per cell (ny, nx) how many of its four Bi columns hold Sm."""
    if sm_fraction > 0:
        atoms = lattices.point_defects(atoms, rng, 0.0, sm_fraction, "Bi", "Sm")
    a = np.diag(atoms.cell)[:2] / (nx, ny)
    symbols = np.array(atoms.get_chemical_symbols())
    sm_sites = np.round(atoms.positions[symbols == "Sm", :2] / a).astype(int) % (nx, ny)
    has_sm = np.zeros((ny, nx), int)
    has_sm[sm_sites[:, 1], sm_sites[:, 0]] = 1
    return atoms, has_sm + np.roll(has_sm, -1, 1) + np.roll(has_sm, -1, 0) + np.roll(has_sm, (-1, -1), (0, 1))


def bfo_r3c_field(cells: tuple[int, int], layers: int, displacement_pm: np.ndarray, beam_sign=1,
                  o_scale: float = 1.0, sm_fraction: float = 0.0, rng: np.random.Generator | None = None,
                  sm_local_reduction: float = SM_LOCAL_REDUCTION) -> Atoms:
    """R3c BiFeO3 down [100]pc as refined (:mod:`stem_datasets.physics.bfo_r3c`) with a per-column field.

    As :func:`bfo_field` (``cells``, ``layers`` of 2 a_pc, ``displacement_pm`` (ny, nx, 2) delta_FeBi per
    column in the image frame, Sm and its local reduction, the same ``info``), on the published
    structure: a_pc 3.9644 A, Bi on the pc lattice, each Fe at its Bi cage's centre plus its cell's
    delta_FeBi in the image plane and ``beam_sign`` x |delta| / sqrt(2) along the beam (a <111> variant
    has equal components; the beam one is not seen). Each cell's three O take the refined O
    positions of its variant (the signs of beam, x and y: tilts and polar O shifts mirror with P),
    their offsets from the cubic face centres scaled by ``o_scale`` (0: cubic O, 1: as refined), so
    that the O sublattice beside Fe, which decides how much of an Fe shift a HAADF image shows,
    can vary. ``beam_sign``: +1, -1 or an (ny, nx) array of them.
    """
    from stem_datasets.physics import bfo_r3c

    nx, ny, disp = _checked_field(cells, layers, displacement_pm, sm_fraction, sm_local_reduction, rng)
    beam = np.broadcast_to(np.asarray(beam_sign), (ny, nx))
    if not np.all(np.isin(beam, (-1, 1))):
        raise ValueError("beam_sign must be +1, -1 or an (ny, nx) array of them.")
    if not (np.isfinite(o_scale) and 0 <= o_scale <= 2):
        raise ValueError(f"o_scale must lie in [0, 2] (1: the refined O positions), got {o_scale!r}.")
    o_offsets = {}  # variant -> {O site in quarters of the 2 a_pc cube: offset from the face centre [A]}
    for variant in VARIANTS:
        cube = bfo_r3c.r3c_pseudocubic(variant=variant)
        a = cube.info["lattice_constant_pc"]
        o = cube.get_scaled_positions()[np.array(cube.get_chemical_symbols()) == "O"]
        quarters = np.round(o * 4).astype(int) % 4
        o_offsets[variant] = {tuple(q): (f - np.round(f * 4) / 4) * cube.cell[0, 0] for q, f in zip(quarters, o)}
    depth = 2 * int(layers)
    k, ix, iy = (g.ravel() for g in np.mgrid[0:depth, 0:nx, 0:ny])  # pc (beam, image x, image y) cell indices
    p = disp[iy, ix] / 100.0
    s_beam = beam[iy, ix]
    variants = [(int(b), 1 if px >= 0 else -1, 1 if py >= 0 else -1) for b, (px, py) in zip(s_beam, p)]
    corner = np.stack([k, ix, iy], axis=1).astype(float)
    fe = (corner + 0.5) * a + np.column_stack([s_beam * np.hypot(p[:, 0], p[:, 1]) / np.sqrt(2), p])
    o_sites = []
    for axis in range(3):  # the cell's O on the face centre below its Fe along each axis
        site = corner + 0.5
        site[:, axis] -= 0.5
        quarters = np.round(site * 2).astype(int) % 4
        shift = np.array([o_offsets[v][tuple(q)] for v, q in zip(variants, quarters)])
        o_sites.append(site * a + o_scale * shift)
    pc = np.concatenate([corner * a, fe, *o_sites])
    symbols = ["Bi"] * len(k) + ["Fe"] * len(k) + ["O"] * (3 * len(k))
    atoms = Atoms(symbols, positions=pc[:, [1, 2, 0]], cell=np.diag([nx * a, ny * a, depth * a]), pbc=True)
    atoms.wrap()
    atoms, k_sm = _with_sm(atoms, nx, ny, sm_fraction, rng)
    applied = disp * (1 - sm_local_reduction * k_sm / 4)[..., None]
    if sm_fraction > 0:  # Fe next to Sm moves less: place the Fe columns again with the reduced field
        symbols = np.array(atoms.get_chemical_symbols())
        fe_index = np.flatnonzero(symbols == "Fe")
        cell_xy = np.floor(atoms.positions[fe_index, :2] / a).astype(int) % (nx, ny)
        atoms.positions[fe_index, :2] += (applied - disp)[cell_xy[:, 1], cell_xy[:, 0]] / 100.0
    atoms.info.update(zone="BiFeO3 [100]pc", family="perovskite", cells=(nx, ny), displacement_pm=applied,
                      sm_fraction=float(sm_fraction), sm_neighbours=k_sm, sm_local_reduction=float(sm_local_reduction),
                      o_scale=float(o_scale), lattice_constant_pc=(a, a),
                      source=bfo_r3c.PALEWICZ_2007.source + "; per-cell polarization field")
    atoms.info.setdefault("substitutions", 0)
    return atoms


@dataclass(frozen=True)
class CellPolarization:
    """Per Fe column: its position [A], delta_FeBi [pm] (NaN for an incomplete cage) and whether the cage is complete."""

    fe_xy: np.ndarray
    pm: np.ndarray
    complete: np.ndarray


def cell_polarization(a_xy, fe_xy, cell=None,
                      lattice_constant: float | None = get_composition("BiFeO3").lattice_constant) -> CellPolarization:
    """delta_FeBi of every Fe column: its offset [pm] from the mean of its four nearest A (Bi/Sm) columns.

    Positions in A. With ``cell`` (lengths (2,) or a 3x3 cell) distances are minimum-image; without,
    a column whose four nearest A columns are not all within ``lattice_constant`` (a cage cut by the
    border) gets NaN (None skips the check).
    """
    a_xy, fe_xy = np.asarray(a_xy, float).reshape(-1, 2), np.asarray(fe_xy, float).reshape(-1, 2)
    if len(a_xy) < 4 or not (np.all(np.isfinite(a_xy)) and np.all(np.isfinite(fe_xy))):
        raise ValueError("need at least four finite A-column positions and finite Fe positions.")
    if cell is None:
        distance, index = cKDTree(a_xy).query(fe_xy, k=4)
        offsets = a_xy[index] - fe_xy[:, None]
    else:
        box = np.asarray(cell, float)
        box = np.diag(box)[:2] if box.ndim == 2 else box.reshape(2)
        a_w, fe_w = lattices.wrap(a_xy, box), lattices.wrap(fe_xy, box)
        distance, index = cKDTree(a_w, boxsize=box).query(fe_w, k=4)
        offsets = a_w[index] - fe_w[:, None]
        offsets -= box * np.round(offsets / box)
    pm = -100.0 * offsets.mean(axis=1)
    complete = np.ones(len(fe_xy), bool) if lattice_constant is None else np.all(distance <= lattice_constant, axis=1)
    pm[~complete] = np.nan
    return CellPolarization(fe_xy, pm, complete)


def column_positions(atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
    """Projected A (Bi/Sm) and Fe column positions [A] of a static structure, each the plain mean of its cations.

    ``lattices.projected_columns`` of the whole structure would weight in the O atoms that share the Fe
    column ('Fe+O') and pull it ~10% back towards the cage centre; the ground truth uses cations alone.
    Pass the static structure (before thermal displacements).
    """
    symbols = np.array(atoms.get_chemical_symbols())

    def centres(mask: np.ndarray) -> np.ndarray:
        sub = atoms[mask]
        sub.set_chemical_symbols(["Fe"] * len(sub))  # equal weights
        return lattices.projected_columns(sub).xy

    return centres(np.isin(symbols, ("Bi", "Sm"))), centres(symbols == "Fe")


def measured_field(atoms: Atoms) -> np.ndarray:
    """delta_FeBi (ny, nx, 2) [pm] measured from the positions of a :func:`bfo_field` structure (the labels)."""
    nx, ny = atoms.info["cells"]
    box = np.diag(atoms.cell)[:2]
    a_xy, fe_xy = column_positions(atoms)
    p = cell_polarization(a_xy, fe_xy, box)
    index = np.floor(lattices.wrap(fe_xy, box) / (box / (nx, ny))).astype(int) % (nx, ny)
    out = np.full((ny, nx, 2), np.nan)
    out[index[:, 1], index[:, 0]] = p.pm
    return out
