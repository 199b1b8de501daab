"""Glazer tilt patterns and the label convention for octahedral-tilt angles.

A Glazer symbol such as ``"a-b+c-"`` gives, per pseudo-cubic axis, whether successive
octahedra along that axis rotate in phase (``+``), out of phase (``-``) or not at all
(``0``). Octahedra that are neighbours *perpendicular* to a rotation axis always rotate
in opposite senses (corner sharing forces it), so the rotation sign of the octahedron
at B-site ``(i, j, k)`` about axis ``x`` is ``(-1)**(j + k) * ((-1)**i if x is '-')``.

Label convention (used by the dataset, the augmentation and the models): the angles
``(alpha, beta, gamma)`` are those of the octahedron around the B-cation column at the
*reference position* of an image or crop (see :mod:`stem_datasets.builders.stem_abf_tilt.recipe`). Two
operations leave a [1-10] image (all but unchanged) and so make labels equivalent:

- **the shift** (:func:`same_crystal_angles`): an in-phase (``+``) rotation about ``a`` or
  ``b`` alternates sign *along* the beam, so flipping the sign of all such angles is the
  same crystal shifted by one cell along the beam: the same structure, the same image.
- **the mirror** perpendicular to the beam swaps the a and b axes; rotations are axial
  vectors, so it maps (alpha, beta, gamma) to (-beta, -alpha, -gamma). It keeps a pattern
  whose a and b letters carry the same sign (``a-b-c-``, ``a-b-c+``, ``a+b+c+``; it maps
  ``a-b+c-`` to ``a+b-c-``). The projected potential is unchanged; multislice images of a
  mirror pair differ by NMSE ~1e-5-2e-4 (only weak dynamical effects), far below what a
  crop at any practical dose resolves (``shared notes: what-abf-determines.md``).

Labels are the canonical representative of the orbit under these operations
(:func:`canonical_angles`): the one with the largest (alpha + beta, gamma, beta - alpha),
compared in that order. For the patterns the mirror keeps, that is alpha + beta >= 0, then
gamma >= 0, then beta - alpha >= 0; for a pattern with one in-phase a/b axis (``a-b+c-``)
it is that angle >= 0 (the shift's rule). What a crop determines is then exactly the
canonical triple, or the :func:`determinable_quantities` computed from it.

Example:
    >>> p = parse_pattern("a-b+c-")
    >>> p.out_of_phase
    (True, False, True)
    >>> canonical_angles((3.0, -4.0, 5.0), "a-b+c-")
    (3.0, 4.0, 5.0)
    >>> canonical_angles((6.0, -8.0, 3.0), "a-b-c-")  # the mirror twin (8, -6, -3) has alpha + beta = 2
    (8.0, -6.0, -3.0)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_PATTERN_RE = re.compile(r"^a([+\-0])([abc])([+\-0])([abc])([+\-0])$")
_AXES = ("alpha", "beta", "gamma")


@dataclass(frozen=True)
class GlazerPattern:
    """A parsed Glazer symbol: per axis, tilted or not and in/out of phase."""

    symbol: str
    tilted: tuple[bool, bool, bool]
    out_of_phase: tuple[bool, bool, bool]

    def sign(self, axis: int, cell: tuple[int, int, int]) -> int:
        """Rotation sign about ``axis`` of the octahedron at B-site index ``cell``."""
        perpendicular = sum(c for n, c in enumerate(cell) if n != axis)
        along = cell[axis] if self.out_of_phase[axis] else 0
        return -1 if (perpendicular + along) % 2 else 1

    def check_angles(self, angles_deg: tuple[float, float, float]) -> None:
        """Raise ValueError if an angle on an untilted ('0') axis is non-zero."""
        for name, tilted, value in zip(_AXES, self.tilted, angles_deg):
            if not np.isfinite(value):
                raise ValueError(f"{name} = {value} is not a finite number of degrees.")
            if not tilted and value != 0:
                raise ValueError(
                    f"Pattern {self.symbol!r} has no rotation about the axis of {name}, "
                    f"but {name} = {value} degrees; set it to 0 or use a pattern with "
                    f"'+' or '-' on that axis."
                )


def parse_pattern(symbol: str) -> GlazerPattern:
    """Parse a Glazer symbol written with explicit a, b, c letters (``"a0a0c-"``)."""
    match = _PATTERN_RE.match(symbol) if isinstance(symbol, str) else None
    if match is None:
        raise ValueError(
            f"Unknown tilt pattern {symbol!r}: write a Glazer symbol as three letters each "
            "followed by '+', '-' or '0', e.g. 'a-b+c-', 'a0a0c-' or 'a-a-a-'."
        )
    signs = (match.group(1), match.group(3), match.group(5))
    return GlazerPattern(
        symbol=symbol,
        tilted=tuple(s != "0" for s in signs),
        out_of_phase=tuple(s == "-" for s in signs),
    )


def _in_phase_ab(pattern: GlazerPattern) -> list[int]:
    return [axis for axis in (0, 1) if pattern.tilted[axis] and not pattern.out_of_phase[axis]]


def has_mirror(pattern: str | GlazerPattern) -> bool:
    """Whether the [1-10] mirror (a <-> b) keeps the pattern: its a and b letters carry the same sign.

    >>> has_mirror("a-b-c+"), has_mirror("a-b+c-")
    (True, False)
    """
    p = parse_pattern(pattern) if isinstance(pattern, str) else pattern
    return p.tilted[0] == p.tilted[1] and p.out_of_phase[0] == p.out_of_phase[1]


def equivalent_transforms(pattern: str | GlazerPattern) -> np.ndarray:
    """(n, 3, 3) linear maps of (alpha, beta, gamma) whose images agree: identity, shift, mirror, both.

    >>> len(equivalent_transforms("a-b-c-")), len(equivalent_transforms("a+b+c+")), len(equivalent_transforms("a-b+c-"))
    (2, 4, 2)
    """
    p = parse_pattern(pattern) if isinstance(pattern, str) else pattern
    group = [np.eye(3)]
    flippable = _in_phase_ab(p)
    if flippable:
        group.append(np.diag([-1.0 if axis in flippable else 1.0 for axis in range(3)]))
    if has_mirror(p):
        mirror = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
        group += [mirror @ g for g in group]
    return np.array(group)


def same_crystal_angles(angles_deg, pattern: str | GlazerPattern) -> tuple[float, float, float]:
    """The representative of angles that describe the *same crystal* (the shift only, no mirror).

    Structures are built and cached at these angles; labels use :func:`canonical_angles`.
    The first non-zero in-phase a/b angle is made positive, flipping the other with it.

    >>> same_crystal_angles((-3.0, -4.0, 5.0), "a+b+c-")
    (3.0, 4.0, 5.0)
    """
    p = parse_pattern(pattern) if isinstance(pattern, str) else pattern
    angles = [float(a) for a in angles_deg]
    flippable = _in_phase_ab(p)
    for axis in flippable:
        if angles[axis] != 0:
            if angles[axis] < 0:
                for other in flippable:
                    angles[other] = -angles[other]
            break
    return tuple(a + 0.0 for a in angles)  # + 0.0 turns -0.0 into 0.0


def canonical_angles(angles_deg, pattern: str | GlazerPattern) -> tuple[float, float, float]:
    """The canonical label of angles whose [1-10] images agree (shift and mirror; module docstring).

    >>> canonical_angles((-6.0, -4.0, 3.0), "a-b-c-")
    (4.0, 6.0, -3.0)
    >>> canonical_angles((5.0, -3.0, -2.0), "a+b+c+")  # four equivalent triples
    (-3.0, 5.0, 2.0)
    """
    x = np.array([float(a) for a in angles_deg])
    if x.shape != (3,) or not np.all(np.isfinite(x)):
        raise ValueError(f"angles must be three finite numbers (alpha, beta, gamma) [deg], got {list(angles_deg)}.")
    best = canonical_transforms(x[None], pattern)[0] @ x
    return tuple(float(a) + 0.0 for a in best)  # + 0.0 turns -0.0 into 0.0


def canonical_transforms(angles_deg: np.ndarray, pattern: str | GlazerPattern) -> np.ndarray:
    """The orbit maps (n, 3, 3) that take each of (n, 3) angle triples to its canonical label.

    >>> t = canonical_transforms(np.array([[-6.0, -4.0, 3.0]]), "a-b-c-")
    >>> (t[0] @ [-6.0, -4.0, 3.0]).tolist()
    [4.0, 6.0, -3.0]
    """
    p = parse_pattern(pattern) if isinstance(pattern, str) else pattern
    x = np.asarray(angles_deg, float).reshape(-1, 3)
    group = equivalent_transforms(p)
    orbit = np.einsum("gij,nj->gni", group, x)
    keys = np.round(1e6 * np.stack([orbit[..., 0] + orbit[..., 1], orbit[..., 2], orbit[..., 1] - orbit[..., 0]], -1))
    candidates = np.ones(orbit.shape[:2], bool)
    for k in range(3):  # lexicographic maximum of (alpha + beta, gamma, beta - alpha); the first wins ties
        best = np.where(candidates, keys[..., k], -np.inf).max(axis=0)
        candidates &= keys[..., k] == best
    return group[np.argmax(candidates, axis=0)]


def neighbour_transform(pattern: str | GlazerPattern, columns_x: int, cells_y: int) -> np.ndarray:
    """The sign flips (3, 3) from the reference octahedron's angles to those ``columns_x`` B columns along [110]
    and ``cells_y`` cells along [001] away in the [1-10] image (:func:`shifted_angles` before canonicalizing).

    >>> np.diag(neighbour_transform("a-b-c-", 1, 0)).tolist(), np.diag(neighbour_transform("a+b+c+", 1, 0)).tolist()
    ([-1.0, -1.0, -1.0], [1.0, -1.0, -1.0])
    """
    p = parse_pattern(pattern) if isinstance(pattern, str) else pattern
    cell = (int(columns_x), 0, int(cells_y))
    return np.diag([float(p.sign(axis, cell)) for axis in range(3)])


DETERMINABLE = ("alpha_plus_beta", "beta_minus_alpha", "abs_gamma", "sign_gamma_alpha_plus_beta")


def determinable_quantities(angles_deg, pattern: str | GlazerPattern) -> dict[str, float]:
    """What a [1-10] crop determines, from any member of an orbit (module docstring).

    ``alpha_plus_beta`` and ``beta_minus_alpha`` are those of the canonical triple (for the
    mirror patterns alpha + beta = |alpha + beta|; for ``a+b+c+`` beta - alpha carries the
    sign of gamma (alpha + beta) (beta - alpha), the only sign left there), ``abs_gamma`` is
    |gamma| and ``sign_gamma_alpha_plus_beta`` is sign(gamma (alpha + beta)) in {-1, 0, 1}
    (for ``a+b+c+``, where the shift flips it, that of the canonical triple: never negative).

    >>> determinable_quantities((-6.0, -4.0, 3.0), "a-b-c-")
    {'alpha_plus_beta': 10.0, 'beta_minus_alpha': 2.0, 'abs_gamma': 3.0, 'sign_gamma_alpha_plus_beta': -1.0}
    """
    a, b, g = canonical_angles(angles_deg, pattern)
    return {
        "alpha_plus_beta": a + b + 0.0,
        "beta_minus_alpha": b - a + 0.0,
        "abs_gamma": abs(g),
        "sign_gamma_alpha_plus_beta": float(np.sign(round(g * (a + b), 9))) + 0.0,
    }


def shifted_angles(
    angles_deg, pattern: str | GlazerPattern, columns_x: int, cells_y: int
) -> tuple[float, float, float]:
    """Angles of the octahedron reached by moving the reference in the [1-10] image.

    ``columns_x`` counts B-column steps along [110] (a / sqrt 2 each), ``cells_y`` steps
    along [001] (a each). A step along [110] is the crystal translation (1, 0, 0) seen in
    projection; along [001] it is (0, 0, 1). The result is canonical.
    """
    p = parse_pattern(pattern) if isinstance(pattern, str) else pattern
    return canonical_angles(neighbour_transform(p, columns_x, cells_y) @ np.asarray(angles_deg, float), p)
