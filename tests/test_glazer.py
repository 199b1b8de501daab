import itertools

import numpy as np
import pytest

from stem_datasets.glazer import canonical_angles, parse_pattern, shifted_angles


def test_parse_pattern_flags():
    p = parse_pattern("a-b+c0")
    assert p.tilted == (True, True, False)
    assert p.out_of_phase == (True, False, False)


@pytest.mark.parametrize("bad", ["a-b+", "a-b+c*", "abc", "", None, "x-y-z-"])
def test_unknown_pattern_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="Glazer symbol"):
        parse_pattern(bad)


def test_perpendicular_neighbours_rotate_oppositely_and_phase_along_axis():
    minus, plus = parse_pattern("a0a0c-"), parse_pattern("a0a0c+")
    assert minus.sign(2, (1, 0, 0)) == plus.sign(2, (1, 0, 0)) == -1  # neighbour in the plane
    assert minus.sign(2, (0, 0, 1)) == -1  # out of phase along c
    assert plus.sign(2, (0, 0, 1)) == 1  # in phase along c


def test_canonical_flips_in_phase_ab_angles_together():
    assert canonical_angles((-3.0, -4.0, 5.0), "a+b+c-") == (3.0, 4.0, 5.0)
    assert canonical_angles((0.0, -4.0, -5.0), "a+b+c-") == (0.0, 4.0, -5.0)
    assert canonical_angles((-3.0, -4.0, -5.0), "a-b-c-") == (-3.0, -4.0, -5.0)


def test_shifts_compose_like_translations():
    rng = np.random.default_rng(0)
    for pattern in ("a-b-c-", "a-b+c-", "a+b+c+", "a0a0c+"):
        p = parse_pattern(pattern)
        angles = tuple(float(x) if t else 0.0 for x, t in zip(rng.uniform(-10, 10, 3), p.tilted))
        for (x1, y1), (x2, y2) in itertools.product([(0, 1), (1, 0), (1, 1)], repeat=2):
            twice = shifted_angles(shifted_angles(angles, pattern, x1, y1), pattern, x2, y2)
            assert twice == shifted_angles(angles, pattern, x1 + x2, y1 + y2)
        assert shifted_angles(angles, pattern, 2, 2) == canonical_angles(angles, pattern)
