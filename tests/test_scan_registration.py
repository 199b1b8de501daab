"""Scan registration from the ADF signal: a shifted scan is put back on the lattice, bad input is refused."""

import numpy as np
import pytest

from stem_datasets.physics.structures import lao_sto_interface
from stem_datasets.pipeline.scan_registration import A_SUBSTRATE as A, column_image, fit_scan_offset, register_scan
from stem_datasets.simulation.microscope import Microscope
from stem_datasets.simulation.simulate import CbedDetector, InterfaceScan, simulate_4dstem

SCAN = InterfaceScan(positions=8, lines=8, oversample=2, margin=2)
NOMINAL_Y = SCAN.lines_y(A)


@pytest.mark.parametrize("dx, y0", [(0.25, 1.3), (-0.3, 3.6), (0.0, 0.0)])
def test_model_columns_give_back_their_offset(dx, y0):
    x = SCAN.raw_x(A)
    fit = fit_scan_offset(column_image(x + dx, NOMINAL_Y + y0, sigma=0.5), x, NOMINAL_Y)
    assert fit.dx == pytest.approx(dx, abs=0.01) and (fit.y0 - y0 + A / 2) % A - A / 2 == pytest.approx(0, abs=0.01)
    assert fit.sigma == pytest.approx(0.5, abs=0.02)


@pytest.fixture(scope="module")
def shifted_and_nominal():
    """A 4-cell interface scanned twice: on the lattice, and 0.27 A / 1.9 A off (no phonons: the two see the same atoms)."""
    structure = lao_sto_interface(4 * A, step_fraction=0.5)
    microscope = Microscope(semiangle=20.0, potential_sampling=0.1, frozen_phonons=0)
    run = lambda offset: simulate_4dstem(structure, [4 * A], microscope, SCAN, CbedDetector(16, 2), None,  # noqa: E731
                                         offset=(offset[0], 3 * A + offset[1]))
    return run((0.27, 1.9)), run((0.0, 0.0))


def test_a_shifted_scan_is_registered_and_resampled_onto_the_lattice(shifted_and_nominal):
    shifted, nominal = shifted_and_nominal
    noisy = np.random.default_rng(0).poisson(shifted.adf[0] * 1e4) / 1e4  # 1e4 electrons per position
    registered = register_scan(shifted.cbed[0], noisy, SCAN.raw_x(A), NOMINAL_Y, SCAN.model_x(A))
    assert registered.offset.dx == pytest.approx(0.27, abs=0.03)
    assert registered.offset.y0 == pytest.approx(1.9, abs=0.05)
    # the truth: the nominal scan's patterns at the model's positions (every other raw position from the margin)
    truth = nominal.cbed[0][:, SCAN.on_model_positions()]
    unregistered = shifted.cbed[0][:, SCAN.on_model_positions()]
    change = lambda a, b: np.linalg.norm(a.mean(0) - b.mean(0)) / np.linalg.norm(b.mean(0))  # noqa: E731
    assert registered.cbed.shape == truth.shape and registered.lines_y.shape == (SCAN.lines,)
    assert change(registered.cbed, truth) < 0.5 * change(unregistered, truth), (change(registered.cbed, truth), change(unregistered, truth))
    assert change(registered.cbed, truth) < 0.05
    # line 0 is the one nearest the A columns
    assert min(registered.lines_y[0], A - registered.lines_y[0]) <= A / (2 * SCAN.lines) + 0.05


def test_bad_adf_and_scans_that_miss_the_model_positions_are_refused():
    x = SCAN.raw_x(A)
    adf = column_image(x, NOMINAL_Y)
    with pytest.raises(ValueError, match="NaN or inf"):
        fit_scan_offset(np.where(adf > 0.5, np.nan, adf), x, NOMINAL_Y)
    with pytest.raises(ValueError, match="flat"):
        fit_scan_offset(np.ones_like(adf), x, NOMINAL_Y)
    with pytest.raises(ValueError, match=r"\(lines, positions\)"):
        fit_scan_offset(adf.T, x, NOMINAL_Y)
    cbed = np.ones((SCAN.lines, len(x), 4, 4), np.float32)
    with pytest.raises(ValueError, match="scan past both ends"):
        register_scan(cbed, adf, x, NOMINAL_Y, SCAN.model_x(A) + 2.0)
