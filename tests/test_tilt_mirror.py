"""The [1-10] mirror: (alpha, beta, gamma) and (-beta, -alpha, -gamma) give one image and one label (real multislice)."""

import numpy as np
import pytest

from stem_datasets.builders.stem_abf_tilt.recipe import get_recipe, label_rule, projected_period, to_dataset_image
from stem_datasets.physics.glazer import canonical_angles, determinable_quantities
from stem_datasets.simulation.simulate import simulate_stem
from stem_datasets.physics.structures import nominal_thickness_nm, tilted_perovskite

RECIPE = get_recipe("smoke")  # 0.1 A potential, 0.35 A scan, static lattice, 200 kV, 30 mrad, ABF 15-30 mrad


def _crop(angles, pattern, layers):
    structure = tilted_perovskite(angles, pattern)
    stack = simulate_stem(structure, [nominal_thickness_nm(layers, 3.905)], RECIPE.microscope, None).abf
    return to_dataset_image(RECIPE, stack[0], projected_period(angles, pattern, "SrTiO3"))[..., 0]


def _nmse(a, b):
    return float(np.mean((a - b) ** 2) / np.var(b))


def test_mirror_pair_gives_one_image_and_one_label():
    pattern, angles = "a-b-c-", (6.0, 4.0, 3.0)
    twin = (-4.0, -6.0, -3.0)
    layers = 8  # 4.4 nm, where the pair differs most of the reference thicknesses (NMSE 1.9e-4 at the small config)
    image, twin_image = _crop(angles, pattern, layers), _crop(twin, pattern, layers)
    distinct = _crop((6.0, 4.0, -3.0), pattern, layers)  # another label: gamma reversed alone
    assert _nmse(twin_image, image) < 1e-3
    assert _nmse(distinct, image) > 10 * _nmse(twin_image, image)  # the test can tell distinct labels apart
    assert canonical_angles(angles, pattern) == canonical_angles(twin, pattern) == (6.0, 4.0, 3.0)
    assert determinable_quantities(angles, pattern) == determinable_quantities(twin, pattern)
    assert "alpha + beta >= 0" in label_rule(pattern)


@pytest.mark.parametrize("pattern, expected", [
    ("a-b-c-", "mirror"), ("a-b-c+", "mirror"), ("a+b+c+", "four equivalent"), ("a-b+c-", "beta >= 0"),
])
def test_label_rule_is_stated_per_pattern(pattern, expected):
    assert expected in label_rule(pattern)
