"""TensorFlow augmentation for ``stem_abf_tilt`` that keeps the label convention.

As in the seed paper (Methods 3.2): a global affine distortion (rotation, shears,
translation), a global scaling of about +-5 %, Poisson noise at a random dose, and a
crop of 2 x 2 projected cells. Crops start one B-column (along [110]) or one cell
(along [001]) away from the reference at random; the labels then become the angles of
the octahedron now at the crop's reference position (:func:`stem_datasets.glazer.shifted_angles`).
The affine map is taken about that reference, so the labelled column stays put.
Every random draw is stateless: the same seed gives the same crop, bit for bit.

Example:
    >>> import tensorflow as tf
    >>> spec = AugmentSpec(crop_shape=(52, 74))
    >>> image = tf.random.stateless_uniform((96, 104, 1), seed=(0, 1))
    >>> crop, angles = augment(image, tf.constant([1.0, -2.0, 3.0]), tf.constant("a-b+c-"), tf.constant([4, 2]), spec)
    >>> tuple(crop.shape)
    (52, 74, 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf


@dataclass(frozen=True)
class AugmentSpec:
    """Ranges of the random transformations (uniform in +-value unless stated)."""

    crop_shape: tuple[int, int]
    pixel_size: float = 0.15
    lattice_constant: float = 3.905
    rotation_deg: float = 3.0
    shear: float = 0.03
    scale: float = 0.05
    jitter_fraction: float = 0.25  # of a column spacing / cell, keeps the reference unambiguous
    dose_range: tuple[float, float] = (1e4, 1e6)  # electrons per A^2, log-uniform
    max_shift_columns: int = 1
    max_shift_cells: int = 1

    def reference_px(self) -> tuple[float, float]:
        """(x, y) pixel position of the reference B column in image and crop."""
        a = self.lattice_constant
        return (a / (2 * math.sqrt(2)) / self.pixel_size, a / 2 / self.pixel_size)


def _pattern_flags(pattern: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    signs = tf.stack([tf.strings.substr(pattern, i, 1) for i in (1, 3, 5)])
    return tf.not_equal(signs, "0"), tf.equal(signs, "-")


def canonical_angles_tf(angles: tf.Tensor, pattern: tf.Tensor) -> tf.Tensor:
    """TensorFlow twin of :func:`stem_datasets.glazer.canonical_angles` for one triple."""
    tilted, out_of_phase = _pattern_flags(pattern)
    flippable = tf.logical_and(tilted, tf.logical_not(out_of_phase))
    flippable = tf.logical_and(flippable, tf.constant([True, True, False]))
    candidates = tf.logical_and(flippable, tf.not_equal(angles, 0.0))
    first = tf.argmax(tf.cast(candidates, tf.int32))
    negative_first = tf.logical_and(tf.reduce_any(candidates), angles[first] < 0)
    flip = tf.logical_and(flippable, negative_first)
    return tf.where(flip, -angles, angles) + 0.0


def shifted_angles_tf(angles: tf.Tensor, pattern: tf.Tensor, columns_x: tf.Tensor, cells_y: tf.Tensor) -> tf.Tensor:
    """TensorFlow twin of :func:`stem_datasets.glazer.shifted_angles`."""
    _, out_of_phase = _pattern_flags(pattern)
    oop = tf.cast(out_of_phase, tf.int32)
    parity = tf.stack([cells_y + columns_x * oop[0], columns_x + cells_y, columns_x + cells_y * oop[2]])
    signs = tf.cast(1 - 2 * tf.math.floormod(parity, 2), angles.dtype)
    return canonical_angles_tf(angles * signs, pattern)


def augment(image: tf.Tensor, angles: tf.Tensor, pattern: tf.Tensor, seed: tf.Tensor, spec: AugmentSpec):
    """One augmented crop and its labels, deterministic in ``seed`` (two int32)."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=8)
    uniform = lambda n, s: tf.random.stateless_uniform([n], seed=seeds[s], minval=-1.0, maxval=1.0)  # noqa: E731
    shift = tf.stack([
        tf.random.stateless_uniform([], seed=seeds[0], minval=0, maxval=spec.max_shift_columns + 1, dtype=tf.int32),
        tf.random.stateless_uniform([], seed=seeds[1], minval=0, maxval=spec.max_shift_cells + 1, dtype=tf.int32),
    ])
    x_ref, y_ref = spec.reference_px()
    column_px, cell_px = 2 * x_ref, 2 * y_ref
    jitter = uniform(2, 2) * spec.jitter_fraction * tf.constant([column_px, cell_px])
    ref_in = tf.constant([x_ref, y_ref]) + tf.cast(shift, tf.float32) * tf.constant([column_px, cell_px]) + jitter

    theta = uniform(1, 3)[0] * math.radians(spec.rotation_deg)
    shears = uniform(2, 4) * spec.shear
    scale = 1.0 + uniform(1, 5)[0] * spec.scale
    rotation = tf.reshape(tf.stack([tf.cos(theta), -tf.sin(theta), tf.sin(theta), tf.cos(theta)]), (2, 2))
    shear = tf.reshape(tf.stack([1.0, shears[0], shears[1], 1.0]), (2, 2))
    inverse = tf.linalg.inv(scale * rotation @ shear)  # crop (x, y) -> image (x, y), about the reference
    offset = ref_in - tf.linalg.matvec(inverse, tf.constant([x_ref, y_ref]))
    transform = tf.stack([inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1], 0.0, 0.0])
    crop = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(image, tf.float32)[None],
        transforms=transform[None],
        output_shape=tf.constant(spec.crop_shape, tf.int32),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )[0]

    log_low, log_high = math.log(spec.dose_range[0]), math.log(spec.dose_range[1])
    dose = tf.exp(log_low + (uniform(1, 6)[0] + 1) / 2 * (log_high - log_low))
    electrons_per_pixel = dose * spec.pixel_size**2
    counts = tf.random.stateless_poisson(
        tf.shape(crop), seed=seeds[7], lam=tf.maximum(crop, 0.0) * electrons_per_pixel, dtype=tf.float32
    )
    labels = shifted_angles_tf(tf.cast(angles, tf.float32), pattern, shift[0], shift[1])
    return counts / electrons_per_pixel, labels


def reference_crop(image: tf.Tensor, spec: AugmentSpec) -> tf.Tensor:
    """The un-augmented 2 x 2-cell crop at the image origin (labels unchanged)."""
    return tf.cast(image, tf.float32)[: spec.crop_shape[0], : spec.crop_shape[1], :]


def augment_dataset(ds: tf.data.Dataset, spec: AugmentSpec, seed: int) -> tf.data.Dataset:
    """Map a ``stem_abf_tilt`` dataset of feature dicts to (crop, angles), example i seeded (seed, i)."""

    def _one(index, example):
        return augment(example["image"], example["angles"], example["pattern"],
                       tf.stack([tf.cast(seed, tf.int64), index]), spec)

    return ds.enumerate().map(_one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
