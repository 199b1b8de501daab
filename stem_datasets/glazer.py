"""Glazer tilt patterns and the label convention for octahedral-tilt angles.

A Glazer symbol such as ``"a-b+c-"`` gives, per pseudo-cubic axis, whether successive
octahedra along that axis rotate in phase (``+``), out of phase (``-``) or not at all
(``0``). Octahedra that are neighbours *perpendicular* to a rotation axis always rotate
in opposite senses (corner sharing forces it), so the rotation sign of the octahedron
at B-site ``(i, j, k)`` about axis ``x`` is ``(-1)**(j + k) * ((-1)**i if x is '-')``.

Label convention (used by the dataset, the augmentation and the models): the angles
``(alpha, beta, gamma)`` are those of the octahedron around the B-cation column at the
*reference position* of an image or crop (see :mod:`stem_datasets.abf_tilt`). Viewed
along pseudo-cubic [1-10], an in-phase (``+``) rotation about ``a`` or ``b`` alternates
sign *along* the beam, so flipping the sign of all such angles is the same crystal
shifted by one cell along the beam: the projected image cannot tell them apart. Labels
are therefore stored in canonical form: the first non-zero in-phase ``a``/``b`` angle is
made positive (flipping the other one with it, as the shift does).

Example:
    >>> p = parse_pattern("a-b+c-")
    >>> p.out_of_phase
    (True, False, True)
    >>> canonical_angles((3.0, -4.0, 5.0), "a-b+c-")
    (3.0, 4.0, 5.0)
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


def canonical_angles(angles_deg, pattern: str | GlazerPattern) -> tuple[float, float, float]:
    """Return the canonical representative of angles that give the same [1-10] image."""
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


def shifted_angles(
    angles_deg, pattern: str | GlazerPattern, columns_x: int, cells_y: int
) -> tuple[float, float, float]:
    """Angles of the octahedron reached by moving the reference in the [1-10] image.

    ``columns_x`` counts B-column steps along [110] (a / sqrt 2 each), ``cells_y`` steps
    along [001] (a each). A step along [110] is the crystal translation (1, 0, 0) seen in
    projection; along [001] it is (0, 0, 1). The result is canonical.
    """
    p = parse_pattern(pattern) if isinstance(pattern, str) else pattern
    cell = (columns_x, 0, cells_y)
    flipped = [a * p.sign(axis, cell) for axis, a in enumerate(angles_deg)]
    return canonical_angles(flipped, p)
