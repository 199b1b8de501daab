import itertools

import numpy as np
import pytest

from stem_datasets.physics.glazer import (
    canonical_angles, determinable_quantities, equivalent_transforms, has_mirror, parse_pattern, same_crystal_angles,
    shifted_angles,
)


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


def test_same_crystal_flips_in_phase_ab_angles_together():
    assert same_crystal_angles((-3.0, -4.0, 5.0), "a+b+c-") == (3.0, 4.0, 5.0)
    assert same_crystal_angles((0.0, -4.0, -5.0), "a+b+c-") == (0.0, 4.0, -5.0)
    assert same_crystal_angles((-3.0, -4.0, -5.0), "a-b-c-") == (-3.0, -4.0, -5.0)


def test_canonical_labels_follow_the_rule_of_each_pattern():
    # mirror patterns: alpha + beta >= 0, then gamma >= 0
    assert canonical_angles((-3.0, -4.0, -5.0), "a-b-c-") == (4.0, 3.0, 5.0)
    assert canonical_angles((6.0, -6.0, -2.0), "a-b-c+") == (6.0, -6.0, 2.0)
    # a-b+c-: the mirror leaves the pattern, only the shift (beta >= 0)
    assert canonical_angles((3.0, -4.0, 5.0), "a-b+c-") == (3.0, 4.0, 5.0)
    assert canonical_angles((-3.0, -4.0, 5.0), "a-b+c-") == (-3.0, 4.0, 5.0)
    # a+b+c+: four equivalent triples; alpha + beta >= 0, gamma >= 0, then beta - alpha >= 0
    orbit = [(2.0, 5.0, -3.0), (-2.0, -5.0, -3.0), (-5.0, -2.0, 3.0), (5.0, 2.0, 3.0)]
    assert {canonical_angles(a, "a+b+c+") for a in orbit} == {(5.0, 2.0, 3.0)}
    assert canonical_angles((-2.0, 2.0, 0.0), "a+b+c+") == (-2.0, 2.0, 0.0)


@pytest.mark.parametrize("pattern", ["a-b-c-", "a-b-c+", "a-b+c-", "a+b+c+", "a0a0c-"])
def test_canonical_is_constant_on_orbits_and_determinable_quantities_agree(pattern):
    rng = np.random.default_rng(3)
    p = parse_pattern(pattern)
    for _ in range(50):
        angles = np.where(p.tilted, np.round(rng.uniform(-10, 10, 3) * 4) / 4, 0.0)
        labels = {canonical_angles(g @ angles, pattern) for g in equivalent_transforms(pattern)}
        assert len(labels) == 1
        quantities = {tuple(determinable_quantities(g @ angles, pattern).values()) for g in equivalent_transforms(pattern)}
        assert len(quantities) == 1
        a, b, g = angles
        q = determinable_quantities(angles, pattern)
        assert q["abs_gamma"] == abs(g)
        if has_mirror(pattern):
            assert q["alpha_plus_beta"] == pytest.approx(abs(a + b))
        if has_mirror(pattern) and len(equivalent_transforms(pattern)) == 2:
            assert q["sign_gamma_alpha_plus_beta"] == np.sign(round(g * (a + b), 9))
        if pattern == "a+b+c+":  # the one sign left: that of gamma (alpha + beta) (beta - alpha)
            assert np.sign(round(q["beta_minus_alpha"], 9)) == np.sign(round(g * (a + b) * (b - a), 9)) or g * (a + b) == 0
    assert len(equivalent_transforms(pattern)) == {"a-b+c-": 2, "a+b+c+": 4}.get(pattern, 2)


def test_shifts_compose_like_translations():
    rng = np.random.default_rng(0)
    for pattern in ("a-b-c-", "a-b+c-", "a+b+c+", "a0a0c+"):
        p = parse_pattern(pattern)
        angles = tuple(float(x) if t else 0.0 for x, t in zip(rng.uniform(-10, 10, 3), p.tilted))
        for (x1, y1), (x2, y2) in itertools.product([(0, 1), (1, 0), (1, 1)], repeat=2):
            twice = shifted_angles(shifted_angles(angles, pattern, x1, y1), pattern, x2, y2)
            assert twice == shifted_angles(angles, pattern, x1 + x2, y1 + y2)
        assert shifted_angles(angles, pattern, 2, 2) == canonical_angles(angles, pattern)


@pytest.mark.parametrize("bad", [(1.0, float("nan"), 2.0), (1.0, 2.0), (1.0, 2.0, 3.0, 4.0), (float("inf"), 0.0, 0.0)])
def test_canonical_angles_of_bad_input_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="three finite numbers"):
        canonical_angles(bad, "a-b-c-")
    with pytest.raises(ValueError, match="three finite numbers"):
        determinable_quantities(bad, "a-b-c-")
