"""The shipped CBED classifiers on interfaces simulated outside every draw of ``stem_cbed_interface``.

Nuisance values beyond the dataset's ranges (its ``Nuisance``): 12.5 nm thick (32 cells,
between the 10 and 20 nm classes and below the unseen 15 nm class), defocus -40 A
(dataset: |defocus| <= 25 A), 1.4 mrad mistilt (<= 1), a step edge at 21 degrees to y
(<= 15) on a 4.5-cell terrace (>= 5), the scan 0.45 A off the interface plane (<= 0.3).
Imaging as `small` (200 kV, 20 mrad, 2 frozen-phonon configurations with a seed the
dataset never draws). About 20 s of multislice on 2 cores.
"""

import numpy as np
import pytest

from stem_datasets.builders.stem_cbed_interface.recipe import A, RECIPES, thickness_range
from stem_datasets.simulation.cache import SimulationCache
from stem_datasets.simulation.simulate import simulate_4dstem
from stem_datasets.physics.structures import lao_sto_interface
from stem_zoo.tasks.cbed.classify import classify_stacks

RECIPE = RECIPES["small"]
CELLS = 32
NUISANCE = dict(defocus=-40.0, mistilt=(1.2, -0.72), seed=987654321)
OFFSET = (0.45, 0.6)  # scan start off the TiO2 plane [A], line 0 from the A columns [A]
LINES_CENTRE = 3 * A + OFFSET[1] + A / 2 - A / (2 * RECIPE.scan.lines)


def test_holdout_values_lie_outside_the_dataset_draws():
    n = RECIPE.nuisance
    for t in (*RECIPE.thicknesses_angstrom, RECIPE.unseen_thickness_angstrom):
        low, high = thickness_range(t, n.thickness_jitter)
        assert not low <= CELLS <= high
    assert abs(NUISANCE["defocus"]) > n.defocus and np.hypot(*NUISANCE["mistilt"]) > n.mistilt_mrad
    assert abs(OFFSET[0]) > n.scan_offset_x and 21.0 > n.step_angle_deg and 4.5 < n.terrace_width_cells[0]


def _stacks(structure):
    microscope = RECIPE.microscope.replace(**NUISANCE)
    return simulate_4dstem(structure, [CELLS * A], microscope, RECIPE.scan, RECIPE.detector, SimulationCache(),
                           offset=(OFFSET[0], OFFSET[1] + 3 * A))


@pytest.fixture(scope="module")
def rough():
    structure = lao_sto_interface(CELLS * A, step_fraction=0.5, step_angle_deg=21.0, step_y_angstrom=LINES_CENTRE,
                                  terrace_width_angstrom=4.5 * A, terrace_offset_angstrom=0.4 * A)
    return _stacks(structure)


@pytest.fixture(scope="module")
def intermixed():
    return _stacks(lao_sto_interface(CELLS * A, intermix_fraction=0.35, seed=424242))


@pytest.mark.slow
def test_shipped_interface_model_tells_rough_from_intermixed(rough, intermixed):
    p_rough = classify_stacks(rough.cbed[0], "cbed_interface_cnn").probabilities[:, 0]
    p_mixed = classify_stacks(intermixed.cbed[0], "cbed_interface_cnn").probabilities[:, 1]
    assert p_rough.mean() > 0.5 and (p_rough > 0.5).sum() >= 3, p_rough  # at least 3 of the 4 lines
    assert p_mixed.mean() > 0.5 and (p_mixed > 0.5).sum() >= 3, p_mixed


@pytest.mark.xfail(strict=True, reason=(
    "issue 10 (closed as blocked) on the step goal: cbed_step_cnn on 2.0.0 is 0.33-0.44 exact on unseen structures and reads this "
    "0.5 t step as 0.9 t; a step one tenth deeper changes the stack by 6%, less than small's phonon noise (10%) and "
    "imaging nuisances (bench/cbed_signal_vs_nuisance.py). strict: the suite fails once weights pass, and the mark goes."))
@pytest.mark.slow
def test_shipped_step_model_finds_the_step_within_one_tenth(rough):
    predicted = classify_stacks(rough.cell_average()[0], "cbed_step_cnn").names[0]
    assert abs(int(predicted.split("_")[1]) - 5) <= 1, predicted
