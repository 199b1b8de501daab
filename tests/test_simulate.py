"""Tiny real abTEM runs (a few seconds each): physics checks, caching, bad input."""

import numpy as np
import pytest

from stem_datasets.simulation import simulate as simulate_module
from stem_datasets.simulation.cache import SimulationCache
from stem_datasets.physics.glazer import shifted_angles
from stem_datasets.simulation.imaging import resample_periodic
from stem_datasets.simulation.microscope import Microscope
from stem_datasets.simulation.simulate import simulate_stem
from stem_datasets.physics.structures import tilted_perovskite

TINY = Microscope(potential_sampling=0.1, scan_step=0.25, frozen_phonons=0, haadf_detector=(50.0, 80.0))


def _at(image, fx, fy):
    ny, nx = image.shape
    return image[int(round(fy * ny)) % ny, int(round(fx * nx)) % nx]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return SimulationCache(tmp_path_factory.mktemp("sim"))


def test_tilt_changes_oxygen_columns_much_more_than_cations(cache):
    flat = simulate_stem(tilted_perovskite((0, 0, 0), "a-b-c-"), [2.2], TINY, cache).abf[0]
    tilted = simulate_stem(tilted_perovskite((8, 8, 8), "a-b-c-"), [2.2], TINY, cache).abf[0]
    # Fractional positions in the one-period image (see StemImages): Sr-O columns at
    # x = 0.25, 0.75 and y = 0, 0.5; pure O columns at x = 0, 0.5 and y = 0.25, 0.75.
    cations = [(fx, fy) for fx in (0.25, 0.75) for fy in (0.0, 0.5)]
    oxygens = [(fx, fy) for fx in (0.0, 0.5) for fy in (0.25, 0.75)]
    change = lambda sites: np.mean([abs(_at(tilted, *s) - _at(flat, *s)) / _at(flat, *s) for s in sites])  # noqa: E731
    assert change(oxygens) > 5 * change(cations)
    assert change(oxygens) > 0.05
    # ABF: columns are dark on a bright background.
    assert _at(flat, 0.25, 0.0) < np.median(flat)


def test_cache_reuses_results_and_recovers_from_corruption(cache, monkeypatch):
    structure = tilted_perovskite((0, 0, 6), "a0a0c-")
    first = simulate_stem(structure, [1.1], TINY, cache)

    def fail(*args, **kwargs):
        raise AssertionError("multislice ran although the result was cached")

    with monkeypatch.context() as patch:
        patch.setattr(simulate_module, "_run_multislice", fail)
        again = simulate_stem(structure, [1.1], TINY, cache)
    np.testing.assert_array_equal(first.abf, again.abf)
    assert first.thicknesses_nm == again.thicknesses_nm == (1.1,)

    for path in cache.directory.rglob("*.npz"):
        path.write_bytes(b"corrupt" + path.read_bytes()[7:])
    rerun = simulate_stem(structure, [1.1], TINY, cache)
    np.testing.assert_allclose(rerun.abf, first.abf, rtol=1e-5)


@pytest.mark.slow
def test_label_convention_matches_the_crystal_under_a_shift(cache):
    """Moving the reference one column (or cell) gives the crystal with shifted_angles."""
    pattern, angles = "a-b-c-", (6.0, -4.0, 8.0)

    def image(a, offset):
        sim = simulate_stem(tilted_perovskite(a, pattern), [2.2], TINY, cache)
        px, py = sim.period
        shape = (40, 40)
        big = resample_periodic(sim.abf[0], sim.period, 0.15, (shape[0] + 60, shape[1] + 60))
        dx, dy = (int(round(offset[0] * px / 2 / 0.15)), int(round(offset[1] * py / 2 / 0.15)))
        return big[dy:dy + shape[0], dx:dx + shape[1]]

    def nmse(a, b):
        return np.mean((a - b) ** 2) / np.var(b)

    for columns, cells in [(1, 0), (0, 1)]:
        moved = image(angles, (columns, cells))
        labelled = image(shifted_angles(angles, pattern, columns, cells), (0, 0))
        unchanged = image(angles, (0, 0))
        assert nmse(labelled, moved) < 0.1 * nmse(unchanged, moved)


def test_bad_simulation_input(cache):
    structure = tilted_perovskite((0, 0, 6), "a0a0c-")
    with pytest.raises(ValueError, match="thicknesses_nm"):
        simulate_stem(structure, [0.0], TINY, cache)
    with pytest.raises(ValueError, match="thicknesses_nm"):
        simulate_stem(structure, [], TINY, cache)
    with pytest.raises(ValueError, match="HAADF inner angle"):
        simulate_stem(structure, [1.1], TINY.replace(haadf_detector=(90.0, 200.0)), cache)
    with pytest.raises(ValueError, match="scan_step"):
        Microscope(scan_step=float("nan"))
    with pytest.raises(ValueError, match="abf_detector"):
        Microscope(abf_detector=(30.0, 15.0))
