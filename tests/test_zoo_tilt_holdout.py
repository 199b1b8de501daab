"""The shipped tilt_dcnn on a multislice micrograph that no split of its dataset holds.

The case lies outside every draw of ``stem_abf_tilt``: angles with three decimals (labels
sit on 0.25 deg, test angles on odd multiples of 0.125 deg, design angles on 0.01 deg),
21.5 nm (layer 39: past the training range, between the ``beyond`` layers), defocus
12 A with 6 A of two-fold astigmatism, a 27 mrad probe and a 12-27 mrad ABF detector.
The image goes through the user's path: a periodic micrograph, lattice registration,
per-column maps in the frame of the registered (0, 0) column (``pattern="a-b-c-"``), with stds.
About 20 s of multislice on 2 cores.
"""

from dataclasses import replace

import numpy as np

import stem_zoo
from stem_datasets.abf_tilt import RECIPES, stitched_domains
from stem_zoo.maps import predict_map
from stem_zoo.models.tilt_dcnn import frame_truths, reference_px

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


def test_shipped_tilt_dcnn_reads_an_unseen_multislice_image():
    image, _ = stitched_domains(holdout_recipe(), "a-b-c-", (ANGLES,), shape=(120, 180), layers=LAYERS)
    maps = predict_map(image, stem_zoo.load("tilt_dcnn"), pixel_size=0.15, pattern="a-b-c-", require_std=True)
    assert len(maps.columns) >= 10
    truth = frame_truths(maps, (ANGLES,), "a-b-c-", reference_px(RECIPES["small"]))[0]  # canonical, in the map's frame
    values = np.stack([maps.columns[n] for n in maps.output_names], axis=1).mean(axis=0)
    error = np.abs(values - truth)
    assert error.max() < 2.0, f"mean per column {values.round(2)} vs truth {truth}"
    stds = np.stack([maps.columns[f"std_{n}"] for n in maps.output_names], axis=1).mean(axis=0)
    assert np.all((stds > 0.1) & (stds < 5.0)), f"per-column std {stds.round(2)} deg"  # stated, and not vacuous
