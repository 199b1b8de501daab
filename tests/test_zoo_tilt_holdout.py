"""The shipped tilt_dcnn on a multislice micrograph that no split of its dataset holds.

The case lies outside every draw of ``stem_abf_tilt``: angles with three decimals (labels
sit on 0.25 deg, test angles on odd multiples of 0.125 deg, design angles on 0.01 deg),
21.5 nm (layer 39: past the training range, between the ``beyond`` layers), defocus
12 A with 6 A of two-fold astigmatism, a 27 mrad probe and a 12-27 mrad ABF detector.
The image goes through the user's path: a periodic micrograph, lattice registration,
per-column maps (``pattern="a-b-c-"``) with stds, scored on what the crop determines.
About 20 s of multislice on 2 cores.
"""

from dataclasses import replace

import numpy as np
import pytest

import stem_zoo
from stem_datasets.builders.stem_abf_tilt.recipe import RECIPES, stitched_domains
from stem_datasets.physics.glazer import canonical_angles
from stem_zoo.tasks.tilt.maps import predict_map

ANGLES = (5.371, -3.629, 2.913)  # a-b-c-, deg
LAYERS = 39


def holdout_recipe():
    small = RECIPES["small"]
    microscope = replace(small.microscope, scan_step=0.35, defocus=12.0, C12=6.0, semiangle=27.0, abf_detector=(12.0, 27.0))
    return replace(small, microscope=microscope)


def test_holdout_case_is_in_no_split():
    recipe = RECIPES["small"]
    assert LAYERS not in recipe.train_layers() and LAYERS not in recipe.beyond_layers
    for step in (0.01, 0.125):  # design angles are rounded to 0.01 deg; labels and test angles sit on 1/8 deg
        assert not np.isclose(np.asarray(ANGLES) / step, np.round(np.asarray(ANGLES) / step), atol=1e-6).any()


@pytest.mark.xfail(strict=True, reason=(
    "issue 24 (open): tilt_dcnn v0.2.0 (stem_abf_tilt/small 3.0.0, 51 min on 2 CPU cores) reads this 21.5 nm image as "
    "alpha + beta 1.71 (truth 1.74), |beta - alpha| 8.67 (9.00) and |gamma| 0.36 (2.91): gamma, its weakest quantity "
    "(test_multislice RMSE 3.95 deg at 1e4), is 2.6 deg off. strict: the suite fails as soon as weights pass it."))
@pytest.mark.slow
def test_shipped_tilt_dcnn_reads_an_unseen_multislice_image():
    image, _ = stitched_domains(holdout_recipe(), "a-b-c-", (ANGLES,), shape=(120, 180), layers=LAYERS)
    maps = predict_map(image, stem_zoo.load("tilt_dcnn"), pixel_size=0.15, pattern="a-b-c-", require_std=True)
    assert len(maps.columns) >= 10
    # What the crop determines whichever B column is the reference: alpha + beta, |beta - alpha|, |gamma|.
    read = np.array([maps.columns["alpha_plus_beta"].mean(), np.abs(maps.columns["beta_minus_alpha"]).mean(),
                     maps.columns["abs_gamma"].mean()])
    alpha, beta, gamma = canonical_angles(ANGLES, "a-b-c-")
    truth = np.array([alpha + beta, abs(beta - alpha), abs(gamma)])
    assert np.abs(read - truth).max() < 2.0, f"(alpha + beta, |beta - alpha|, |gamma|) per column {read.round(2)} vs {truth.round(2)}"
    stds = np.array([maps.columns[f"std_{n}"].mean() for n in ("alpha_plus_beta", "beta_minus_alpha", "gamma")])
    assert np.all((stds > 0.1) & (stds < 5.0)), f"per-column std {stds.round(2)} deg"  # stated, and not vacuous
