"""A tiny real 4D-STEM run: shapes, caching, and rough vs intermixed stacks that differ."""

import numpy as np
import pytest

from stem_datasets.simulation.cache import SimulationCache
from stem_datasets.simulation.microscope import Microscope
from stem_datasets.simulation.simulate import CbedDetector, InterfaceScan, simulate_4dstem
from stem_datasets.physics.structures import lao_sto_interface, snap_interface_thickness

T = snap_interface_thickness(16.0)  # 4 cells: a few seconds
MICROSCOPE = Microscope(semiangle=20.0, potential_sampling=0.2, frozen_phonons=1)
SCAN, DETECTOR = InterfaceScan(positions=3, lines=2), CbedDetector(pixels=16, binning=2)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    cache = SimulationCache(tmp_path_factory.mktemp("cbed"))
    rough = simulate_4dstem(lao_sto_interface(T, step_fraction=0.0), [T / 2, T], MICROSCOPE, SCAN, DETECTOR, cache)
    mixed = simulate_4dstem(lao_sto_interface(T, intermix_fraction=0.5, seed=1), [T / 2, T], MICROSCOPE, SCAN, DETECTOR, cache)
    again = simulate_4dstem(lao_sto_interface(T, step_fraction=0.0), [T / 2, T], MICROSCOPE, SCAN, DETECTOR, cache)
    return rough, mixed, again


def test_stack_shape_sampling_and_intensity(stacks):
    rough, _, _ = stacks
    assert rough.cbed.shape == (2, 2, 3, 16, 16) and rough.cell_average().shape == (2, 3, 16, 16)
    assert rough.thicknesses_angstrom == pytest.approx((T / 2, T))
    assert rough.angular_sampling == pytest.approx(2e3 * MICROSCOPE.wavelength / (7 * 3.905))
    total = rough.cbed.sum(axis=(-2, -1))
    assert np.all((total > 0.3) & (total <= 1.0 + 1e-4))  # +-14.7 mrad of a 20 mrad disc: a part of the probe


def test_rough_and_intermixed_stacks_differ_and_cache_returns_the_same(stacks):
    rough, mixed, again = stacks
    difference = np.abs(rough.cbed - mixed.cbed).sum(axis=(-2, -1)) / mixed.cbed.sum(axis=(-2, -1))
    assert difference.max() > 0.02  # 4.5% at 1.6 nm; 16-59% near the interface at 10 nm (shared notes)
    np.testing.assert_array_equal(again.cbed, rough.cbed)


def test_bad_thickness_and_detector_are_refused():
    atoms = lao_sto_interface(T)
    with pytest.raises(ValueError, match="whole numbers"):
        simulate_4dstem(atoms, [T + 1.0], MICROSCOPE, SCAN, DETECTOR)
    with pytest.raises(ValueError, match="potential_sampling"):
        simulate_4dstem(atoms, [T], MICROSCOPE.replace(potential_sampling=0.5), SCAN, CbedDetector(pixels=64, binning=2))
    with pytest.raises(ValueError, match="positions >= 2"):
        InterfaceScan(positions=1)
