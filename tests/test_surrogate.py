"""The GP surrogate on real (tiny) multislice images."""

import numpy as np
import pytest

from stem_datasets.cache import SimulationCache
from stem_datasets.microscope import Microscope
from stem_datasets.simulate import simulate_stem
from stem_datasets.structures import tilted_perovskite
from stem_datasets.surrogate import TiltSurrogate

TINY = Microscope(potential_sampling=0.1, scan_step=0.25, frozen_phonons=0, haadf_detector=(50.0, 80.0))
PATTERN = "a0a0c-"


def _images(angles, cache):
    return np.stack([simulate_stem(tilted_perovskite(a, PATTERN), [1.1], TINY, cache).abf[0] for a in angles])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    cache = SimulationCache(tmp_path_factory.mktemp("gp"))
    grid = np.array([[0.0, 0.0, g] for g in (-10.0, -5.0, 0.0, 5.0, 10.0)])
    held_out = np.array([[0.0, 0.0, 2.5], [0.0, 0.0, -7.5]])
    gp = TiltSurrogate(PATTERN, n_restarts=2).fit(grid, _images(grid, cache))
    return gp, grid, _images(grid, cache), held_out, _images(held_out, cache)


def _nmse(a, b):
    return float(np.mean((a - b) ** 2) / np.var(b))


def test_gp_reproduces_its_training_images(fitted):
    gp, grid, images, _, _ = fitted
    mean, std = gp.predict(grid)
    assert max(_nmse(m, t) for m, t in zip(mean, images)) < 1e-4
    assert mean.shape == images.shape and std.shape == images.shape


def test_gp_interpolates_held_out_multislice(fitted):
    gp, grid, images, held_out, truth = fitted
    mean, std = gp.predict(held_out)
    for angles, guess, real in zip(held_out, mean, truth):
        nearest = images[np.argmin(np.abs(grid[:, 2] - angles[2]))]
        assert _nmse(guess, real) < 1e-2
        assert _nmse(guess, real) < 0.5 * _nmse(nearest, real)
    assert np.all(std > 0)


def test_gp_refuses_to_extrapolate_and_bad_input(fitted):
    gp, *_ = fitted
    gp.predict(np.array([[0.0, 0.0, 11.25]]))  # inside the 1.25 degree margin
    with pytest.raises(ValueError, match="outside the fitted range"):
        gp.predict(np.array([[0.0, 0.0, 12.0]]))
    with pytest.raises(ValueError, match="must be 0"):
        gp.predict(np.array([[1.0, 0.0, 5.0]]))
    with pytest.raises(ValueError, match="NaN"):
        gp.predict(np.array([[0.0, 0.0, np.nan]]))
    with pytest.raises(ValueError, match="shape"):
        gp.predict(np.array([0.0, 0.0, 5.0]))
    with pytest.raises(ValueError, match="images must be"):
        TiltSurrogate(PATTERN).fit(np.zeros((3, 3)), np.zeros((2, 4, 4)))
    with pytest.raises(RuntimeError, match="before fit"):
        TiltSurrogate(PATTERN).predict(np.zeros((1, 3)))
