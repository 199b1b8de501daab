"""TensorFlow augmentation for ``stem_cbed_interface`` stacks, as in the seed paper.

A small rotation of every pattern of a stack about k = 0 (one angle per stack: detector
or specimen rotation) and Poisson noise at a random dose (electrons per probe position,
log-uniform). Stateless: the same seed gives the same stack, bit for bit.

Example:
    >>> import tensorflow as tf
    >>> stack = tf.random.stateless_uniform((8, 32, 32), seed=(0, 1)) * 1e-3
    >>> noisy = augment_cbed(stack, tf.constant([3, 4]), CbedAugmentSpec())
    >>> tuple(noisy.shape)
    (8, 32, 32)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf


@dataclass(frozen=True)
class CbedAugmentSpec:
    """Rotation range (uniform in +-deg), dose range (electrons per probe position) and k = 0 pixel."""

    rotation_deg: float = 3.0
    dose_range: tuple[float, float] = (1e4, 1e6)
    centre_px: float = 15.75  # CbedDetector(32, 2).centre_px()


def augment_cbed(stack: tf.Tensor, seed: tf.Tensor, spec: CbedAugmentSpec) -> tf.Tensor:
    """One rotated, noisy copy of a (positions, ky, kx) stack of fractions of the probe."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)
    stack = tf.cast(stack, tf.float32)
    theta = tf.random.stateless_uniform([], seed=seeds[0], minval=-1.0, maxval=1.0) * math.radians(spec.rotation_deg)
    c, s, k0 = tf.cos(theta), tf.sin(theta), spec.centre_px
    # output (x, y) -> input (x, y): rotation about (k0, k0)
    transform = tf.stack([c, -s, k0 - c * k0 + s * k0, s, c, k0 - s * k0 - c * k0, 0.0, 0.0])
    rotated = tf.raw_ops.ImageProjectiveTransformV3(
        images=stack[..., None],
        transforms=tf.tile(transform[None], [tf.shape(stack)[0], 1]),
        output_shape=tf.shape(stack)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )[..., 0]
    low, high = math.log(spec.dose_range[0]), math.log(spec.dose_range[1])
    dose = tf.exp(low + tf.random.stateless_uniform([], seed=seeds[1]) * (high - low))
    counts = tf.random.stateless_poisson(tf.shape(rotated), seed=seeds[2], lam=tf.maximum(rotated, 0.0) * dose, dtype=tf.float32)
    return counts / dose


def preprocess_cbed(stack: tf.Tensor) -> tf.Tensor:
    """The models' input: sqrt (Poisson variance-stabilising), standardized per stack, channel axis."""
    root = tf.sqrt(tf.maximum(tf.cast(stack, tf.float32), 0.0))
    mean, var = tf.nn.moments(root, axes=[-3, -2, -1], keepdims=True)
    return ((root - mean) / (tf.sqrt(var) + 1e-6))[..., None]
