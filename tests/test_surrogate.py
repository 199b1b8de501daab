"""The GP surrogate on real (tiny) multislice images."""

import numpy as np
import pytest

from stem_datasets.simulation.cache import SimulationCache
from stem_datasets.simulation.imaging import resample_periodic
from stem_datasets.simulation.microscope import Microscope
from stem_datasets.simulation.simulate import simulate_stem
from stem_datasets.physics.structures import tilted_perovskite
from stem_datasets.simulation.surrogate import TiltSurrogate

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



def _synthetic_surrogate(pattern, grid, lead, ny, nx, seed=0):
    """A GP fitted on periodic images with content up to the Nyquist frequency (no multislice)."""
    fields = np.random.default_rng(seed).random((4, *lead, ny, nx))
    images = np.stack([1 + 0.3 * fields[0] + 0.02 * a * fields[1] + 0.01 * b * fields[2] + 0.015 * c * fields[3]
                       for a, b, c in grid])
    return TiltSurrogate(pattern, n_restarts=0).fit(grid, images)


@pytest.mark.parametrize("ny, nx", [(10, 8), (9, 7), (10, 7), (23, 16)])
def test_on_grid_equals_resampled_prediction(ny, nx):
    """The fast grid path is resample_periodic of predict's images, to 1e-4 of each image's range."""
    grid = np.array([[a, 0.0, c] for a in (-10.0, 0.0, 10.0) for c in (-10.0, 0.0, 10.0)])
    gp = _synthetic_surrogate("a-b0c-", grid, (2, 3), ny, nx)
    angles = np.array([[0.0, 0.0, 0.0], [3.5, 0.0, -7.0], [-9.75, 0.0, 10.5], [6.0, 0.0, 2.25]])
    periods = np.array([[5.52, 7.81], [5.49, 7.77], [5.40, 7.62], [5.51, 7.80]])  # (x, y) [A], each different
    shape, start = (40, 52), (-18 * 0.15, -13 * 0.15)
    on = gp.on_grid(angles, periods, 0.15, shape, start)
    means, stds = gp.predict(angles)
    worst = 0.0
    for i, (mean, std, period) in enumerate(zip(means, stds, periods)):
        stack = on.stack(i)
        assert stack.shape == (2, 3, *shape)
        for d in range(2):
            for t in range(3):
                old = resample_periodic(mean[d, t], tuple(period), 0.15, shape, start)
                scale = float(old.max() - old.min())
                for new in (on.image(i, d, t), stack[d, t], on.images(d, t)[i]):
                    worst = max(worst, float(np.abs(new - old).max()) / scale)
                assert on.rms_std(i, d, t) == pytest.approx(float(np.sqrt(np.mean(std[d, t] ** 2))), rel=1e-5)
    assert worst < 1e-4
    # The check can fail: the same images at a period off by 1e-3 (0.005 A) are far outside the tolerance.
    off = gp.on_grid(angles[:1], periods[:1] * 1.001, 0.15, shape, start).image(0, 1, 2)
    old = resample_periodic(means[0, 1, 2], tuple(periods[0]), 0.15, shape, start)
    assert float(np.abs(off - old).max()) / float(old.max() - old.min()) > 1e-3


def test_dataset_grid_fast_path_equals_to_dataset_image():
    """abf_tilt's GP images (surrogate_on_grid) are to_dataset_image of the predicted period, on the smoke grid."""
    from stem_datasets.builders.stem_abf_tilt import recipe as abf_tilt

    recipe = abf_tilt.get_recipe("smoke")
    grid = np.array([[a, b, c] for a in (-10.0, 10.0) for b in (-10.0, 0.0, 10.0) for c in (-10.0, 10.0)])
    gp = _synthetic_surrogate("a-b-c-", grid, (3, 2), 23, 16, seed=1)
    angles = np.array([[2.25, -3.5, 4.75], [-8.0, 9.5, -9.75], [10.0, 10.0, 10.0]])
    on = abf_tilt.surrogate_on_grid(recipe, gp, "a-b-c-", angles)
    means, _ = gp.predict(angles)
    periods = [abf_tilt.projected_period(g, "a-b-c-", recipe.composition) for g in angles]
    assert len({p for p in periods}) == 3
    for i, (mean, period) in enumerate(zip(means, periods)):
        for d, t in ((0, 0), (2, 1), (1, 0)):
            old = abf_tilt.to_dataset_image(recipe, mean[d, t], period)[..., 0]
            new = on.image(i, d, t)
            assert new.shape == old.shape == recipe.image_shape
            assert float(np.abs(new - old).max()) < 1e-4 * float(old.max() - old.min())
