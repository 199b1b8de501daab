"""CBED augmentation: deterministic, rotation about k = 0, Poisson noise at the dose."""

import numpy as np
import tensorflow as tf

from stem_datasets.pipeline.augment_cbed import CbedAugmentSpec, augment_cbed, preprocess_cbed
from stem_datasets.simulation.simulate import CbedDetector

EXACT = (1e12, 1e12 + 1)  # a dose so high that the noise vanishes


def _disc(radius=9.0):
    k0 = CbedDetector(32, 2).centre_px()
    yy, xx = np.mgrid[:32, :32]
    return ((yy - k0) ** 2 + (xx - k0) ** 2 < radius**2).astype(np.float32)[None].repeat(3, axis=0) * 1e-3


def test_same_seed_same_stack_and_no_rotation_at_infinite_dose_is_identity():
    stack = _disc() * np.linspace(1, 2, 32)[None, None, :]
    a = augment_cbed(stack, tf.constant([1, 2]), CbedAugmentSpec()).numpy()
    b = augment_cbed(stack, tf.constant([1, 2]), CbedAugmentSpec()).numpy()
    c = augment_cbed(stack, tf.constant([1, 3]), CbedAugmentSpec()).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    still = augment_cbed(stack, tf.constant([1, 2]), CbedAugmentSpec(rotation_deg=0.0, dose_range=EXACT)).numpy()
    np.testing.assert_allclose(still, stack, rtol=1e-4, atol=1e-9)


def test_rotation_is_about_the_pattern_centre_and_noise_follows_the_dose():
    disc = _disc()
    rotated = augment_cbed(disc, tf.constant([5, 6]), CbedAugmentSpec(rotation_deg=45.0, dose_range=EXACT)).numpy()
    assert np.abs(rotated - disc).sum() / disc.sum() < 0.08  # a centred disc barely changes (edge interpolation)
    off = np.roll(disc, 6, axis=2)
    moved = augment_cbed(off, tf.constant([5, 6]), CbedAugmentSpec(rotation_deg=45.0, dose_range=EXACT)).numpy()
    assert np.abs(moved - off).sum() / off.sum() > 0.2  # an off-centre disc moves
    flat = np.full((4, 32, 32), 1e-3, np.float32)
    noisy = augment_cbed(flat, tf.constant([0, 1]), CbedAugmentSpec(rotation_deg=0.0, dose_range=(1e5, 1e5 + 1))).numpy()
    counts = noisy * 1e5  # 100 electrons per pixel on average
    assert abs(counts.mean() - 100) < 2 and abs(counts.var() - 100) < 15  # Poisson: variance = mean
    x = preprocess_cbed(noisy).numpy()
    assert x.shape == (4, 32, 32, 1) and abs(x.mean()) < 1e-5 and abs(x.std() - 1) < 1e-3
