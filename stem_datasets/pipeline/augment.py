"""TensorFlow augmentation for ``stem_abf_tilt`` that keeps the label convention.

As in the seed paper (Methods 3.2): a global affine distortion (rotation, shears,
translation), a global scaling of about +-5 %, Poisson noise at a random dose, and a
crop of 2 x 2 projected cells. Crops start one B-column (along [110]) or one cell
(along [001]) away from the reference at random; the labels then become the angles of
the octahedron now at the crop's reference position (:func:`stem_datasets.physics.glazer.shifted_angles`).
The affine map is taken about that reference, so the labelled column stays put.

Besides the paper's distortions, the imperfections of a real micrograph: a finite
effective source (Gaussian blur of the intensity), scan-line jitter and linear drift
(per-row displacements along the fast-scan axis x) and scan-line gain noise; ranges and
units in :class:`AugmentSpec`. Order: blur (specimen frame), bilinear sampling at the
affine-mapped, row-displaced positions, line gain, Poisson noise.

The output is a *field*: the crop plus ``margin`` context pixels on every side
(:meth:`AugmentSpec.field_shape`), the crop itself being ``field[my:my+h, mx:mx+w]``.
The input images carry the same margin, so the reference column sits at
``reference_px() + margin`` in both. Every random draw is stateless: the same seed gives
the same field, bit for bit.

Example:
    >>> import tensorflow as tf
    >>> from stem_datasets.builders.stem_abf_tilt.recipe import RECIPES, describe
    >>> spec = AugmentSpec.from_metadata(describe(RECIPES["smoke"]))  # or builder.info.metadata
    >>> spec.crop_shape, spec.margin, spec.lattice_constant, spec.field_shape()
    ((52, 74), (13, 18), 3.905, (78, 110))
    >>> image = tf.random.stateless_uniform((128, 144, 1), seed=(0, 1))
    >>> field, angles = augment(image, tf.constant([1.0, -2.0, 3.0]), tf.constant("a-b+c-"), tf.constant([4, 2]), spec)
    >>> tuple(field.shape), tuple(reference_crop(image, spec).shape)
    ((78, 110, 1), (78, 110, 1))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf

_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))  # 2.3548


@dataclass(frozen=True)
class AugmentSpec:
    """Ranges of the random transformations, drawn per example.

    Geometry (pixels are ``pixel_size`` A):
        crop_shape: (rows, cols) of the crop, 2 x 2 projected cells.
        lattice_constant: pseudo-cubic lattice constant of the dataset's material [A], as
            its recipe declares it (``stem_abf_tilt``: SrTiO3's); places the reference column.
        margin: (rows, cols) of context pixels on each side of the crop, in the input
            image and in the output field alike.
        rotation_deg: rotation, uniform in +-value [degree].
        shear: the two shear coefficients, each uniform in +-value [dimensionless].
        scale: global scaling 1 + uniform in +-value [fraction].
        jitter_fraction: translation of the reference, uniform in +-value [fraction of a
            B-column spacing along x, of a cell along y]; < 0.5 keeps the reference unambiguous.
        max_shift_columns, max_shift_cells: the crop starts 0..value B columns / cells
            away from the stored reference, uniform [integer]; labels follow.
    Imperfections:
        source_size_fwhm_A: FWHM of the Gaussian effective source, uniform in the range [A].
        line_jitter_A: per-row std of the x displacement of each scan line, uniform in
            [0, value] [A]; rows are displaced independently (Gaussian).
        drift_A_per_row: linear drift along x, uniform in +-value [A per row], zero at
            the reference column's row.
        line_gain: per-row std of the multiplicative gain 1 + g_r, uniform in [0, value]
            [fraction]; g_r Gaussian.
        dose_range: electron dose, log-uniform in the range [electrons / A^2]; ``None``
            for no Poisson noise.
    """

    crop_shape: tuple[int, int]
    pixel_size: float = 0.15  # A per pixel
    lattice_constant: float | None = None  # A, required: the dataset's (metadata "lattice_constant_angstrom")
    rotation_deg: float = 3.0  # degree, +-
    shear: float = 0.03  # dimensionless, +-
    scale: float = 0.05  # fraction, +-
    jitter_fraction: float = 0.25  # of a column spacing / cell, +-; keeps the reference unambiguous
    dose_range: tuple[float, float] | None = (1e4, 1e6)  # electrons per A^2, log-uniform; None: no noise
    max_shift_columns: int = 1
    max_shift_cells: int = 1
    margin: tuple[int, int] = (0, 0)  # (rows, cols) of context pixels on each side of the crop
    source_size_fwhm_A: tuple[float, float] = (0.0, 0.8)  # A, FWHM of the effective source, uniform
    line_jitter_A: float = 0.15  # A, per-row x displacement std, itself uniform in [0, value]
    drift_A_per_row: float = 0.01  # A per row, uniform in +-value
    line_gain: float = 0.02  # fraction, per-row gain std, itself uniform in [0, value]

    def __post_init__(self) -> None:
        if not (isinstance(self.lattice_constant, (int, float)) and self.lattice_constant > 0):
            raise ValueError(
                f"AugmentSpec needs the lattice constant of the dataset's material in A, got {self.lattice_constant!r}: "
                "AugmentSpec.from_metadata(builder.info.metadata) or lattice_constant=recipe.lattice_constant.")

    @classmethod
    def from_metadata(cls, metadata, **changes) -> "AugmentSpec":
        """The spec of a built dataset's crops: crop shape, margin, pixel size and lattice constant from its metadata."""
        return cls(**{"crop_shape": tuple(metadata["crop_shape"]), "margin": tuple(metadata["crop_margin_px"]),
                      "pixel_size": float(metadata["pixel_size_angstrom"]),
                      "lattice_constant": float(metadata["lattice_constant_angstrom"]), **changes})

    def reference_px(self) -> tuple[float, float]:
        """(x, y) pixel position of the reference B column inside the crop."""
        a = self.lattice_constant
        return (a / (2 * math.sqrt(2)) / self.pixel_size, a / 2 / self.pixel_size)

    def field_shape(self) -> tuple[int, int]:
        """(rows, cols) of the crop plus its margin on every side."""
        return (self.crop_shape[0] + 2 * self.margin[0], self.crop_shape[1] + 2 * self.margin[1])


def _pattern_flags(pattern: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    signs = tf.stack([tf.strings.substr(pattern, i, 1) for i in (1, 3, 5)])
    return tf.not_equal(signs, "0"), tf.equal(signs, "-")


def canonical_angles_tf(angles: tf.Tensor, pattern: tf.Tensor) -> tf.Tensor:
    """TensorFlow twin of :func:`stem_datasets.physics.glazer.canonical_angles` for one triple.

    The orbit is (identity, shift, mirror, mirror after shift), the shift and the mirror
    acting as the identity where the pattern lacks them; the member with the largest
    (alpha + beta, gamma, beta - alpha), compared in that order (rounded to 1e-6 deg), wins.
    """
    tilted, out_of_phase = _pattern_flags(pattern)
    flippable = tf.logical_and(tf.logical_and(tilted, tf.logical_not(out_of_phase)), tf.constant([True, True, False]))
    mirror = tf.logical_and(tf.equal(tilted[0], tilted[1]), tf.equal(out_of_phase[0], out_of_phase[1]))
    shifted = tf.where(flippable, -angles, angles)
    mirrored = lambda x: tf.where(mirror, -tf.gather(x, [1, 0, 2]), x)  # noqa: E731
    orbit = tf.stack([angles, shifted, mirrored(angles), mirrored(shifted)])
    keys = tf.round(1e6 * tf.stack([orbit[:, 0] + orbit[:, 1], orbit[:, 2], orbit[:, 1] - orbit[:, 0]], axis=1))
    candidates = tf.ones([4], dtype=tf.bool)
    for k in range(3):  # lexicographic maximum
        best = tf.reduce_max(tf.where(candidates, keys[:, k], -math.inf))
        candidates = tf.logical_and(candidates, tf.equal(keys[:, k], best))
    return orbit[tf.argmax(tf.cast(candidates, tf.int32))] + 0.0


def shifted_angles_tf(angles: tf.Tensor, pattern: tf.Tensor, columns_x: tf.Tensor, cells_y: tf.Tensor) -> tf.Tensor:
    """TensorFlow twin of :func:`stem_datasets.physics.glazer.shifted_angles`."""
    _, out_of_phase = _pattern_flags(pattern)
    oop = tf.cast(out_of_phase, tf.int32)
    parity = tf.stack([cells_y + columns_x * oop[0], columns_x + cells_y, columns_x + cells_y * oop[2]])
    signs = tf.cast(1 - 2 * tf.math.floormod(parity, 2), angles.dtype)
    return canonical_angles_tf(angles * signs, pattern)


def _gaussian_blur_valid(window: tf.Tensor, sigma_px: tf.Tensor, radius: int) -> tf.Tensor:
    """Separable Gaussian blur of an (H, W, C) window, 2 radius + 1 taps, 'valid' part only.

    Plain shifted-slice sums rather than a convolution op: bit-for-bit the same on every
    backend and thread count, and no slower than ``conv2d`` with one channel.
    """
    offsets = tf.range(-radius, radius + 1, dtype=tf.float32)
    weights = tf.exp(-0.5 * tf.square(offsets / tf.maximum(sigma_px, 1e-3)))
    weights = weights / tf.reduce_sum(weights)
    taps = 2 * radius + 1
    height, width = tf.shape(window)[0] - 2 * radius, tf.shape(window)[1] - 2 * radius
    rows = tf.add_n([weights[k] * window[k:k + height] for k in range(taps)])
    return tf.add_n([weights[k] * rows[:, k:k + width] for k in range(taps)])


def _reflect(index: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """Integer indices mirrored into [0, size) (``d c b a | a b c d | d c b a``)."""
    period = tf.math.floormod(index, 2 * size)
    return tf.where(period < size, period, 2 * size - 1 - period)


def _sample(image: tf.Tensor, x: tf.Tensor, y: tf.Tensor, sigma_px: tf.Tensor | None, radius: int) -> tf.Tensor:
    """Bilinear samples at float pixel coordinates (x, y) of the image blurred by sigma_px.

    Mirrored borders for both. Only the window the samples need (plus the kernel radius)
    is cut out, through mirrored 1-D indices, and blurred: about half the image.
    """
    x0, y0 = tf.floor(x), tf.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
    left, top = tf.reduce_min(x0) - radius, tf.reduce_min(y0) - radius
    cols = tf.range(left, tf.reduce_max(x0) + radius + 2)
    rows = tf.range(top, tf.reduce_max(y0) + radius + 2)
    window = tf.gather(tf.gather(image, _reflect(rows, tf.shape(image)[0]), axis=0),
                       _reflect(cols, tf.shape(image)[1]), axis=1)
    if sigma_px is not None:
        window = _gaussian_blur_valid(window, sigma_px, radius)
    width = tf.size(cols) - 2 * radius
    flat = tf.reshape(window, [-1, tf.shape(window)[2]])
    index = (y0 - top - radius) * width + (x0 - left - radius)
    corners = tf.gather(flat, tf.stack([index, index + 1, index + width, index + width + 1]))
    upper = corners[0] + fx * (corners[1] - corners[0])
    lower = corners[2] + fx * (corners[3] - corners[2])
    return upper + fy * (lower - upper)


def augment(image: tf.Tensor, angles: tf.Tensor, pattern: tf.Tensor, seed: tf.Tensor, spec: AugmentSpec):
    """One augmented field (crop plus margin) and its labels, deterministic in ``seed`` (two ints).

    ``image`` is (H, W, C) with the reference column at ``reference_px() + margin``; the
    field is ``spec.field_shape() + (C,)`` float32 with the reference at the same place.
    """
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=16)
    uniform = lambda n, s: tf.random.stateless_uniform([n], seed=seeds[s], minval=-1.0, maxval=1.0)  # noqa: E731
    unit = lambda s: tf.random.stateless_uniform([], seed=seeds[s])  # noqa: E731
    height, width = spec.field_shape()
    my, mx = spec.margin
    shift = tf.stack([
        tf.random.stateless_uniform([], seed=seeds[0], minval=0, maxval=spec.max_shift_columns + 1, dtype=tf.int32),
        tf.random.stateless_uniform([], seed=seeds[1], minval=0, maxval=spec.max_shift_cells + 1, dtype=tf.int32),
    ])
    x_ref, y_ref = spec.reference_px()
    column_px, cell_px = 2 * x_ref, 2 * y_ref
    ref_out = tf.constant([x_ref + mx, y_ref + my])
    jitter = uniform(2, 2) * spec.jitter_fraction * tf.constant([column_px, cell_px])
    ref_in = ref_out + tf.cast(shift, tf.float32) * tf.constant([column_px, cell_px]) + jitter

    theta = uniform(1, 3)[0] * math.radians(spec.rotation_deg)
    shears = uniform(2, 4) * spec.shear
    scale = 1.0 + uniform(1, 5)[0] * spec.scale
    rotation = tf.reshape(tf.stack([tf.cos(theta), -tf.sin(theta), tf.sin(theta), tf.cos(theta)]), (2, 2))
    shear = tf.reshape(tf.stack([1.0, shears[0], shears[1], 1.0]), (2, 2))
    inverse = tf.linalg.inv(scale * rotation @ shear)  # field (x, y) -> image (x, y), about the reference

    # Scan distortions live in the scan (field) frame: row r is read at x + dx_r, then mapped.
    rows = tf.range(height, dtype=tf.float32)
    drift = uniform(1, 8)[0] * spec.drift_A_per_row * (rows - (y_ref + my))
    line_std = unit(9) * spec.line_jitter_A
    line_jitter = line_std * tf.random.stateless_normal([height], seed=seeds[10])
    dx = (drift + line_jitter) / spec.pixel_size
    y_out, x_out = tf.meshgrid(rows, tf.range(width, dtype=tf.float32), indexing="ij")
    x_rel, y_rel = x_out + dx[:, None] - ref_out[0], y_out - ref_out[1]
    x_in = ref_in[0] + inverse[0, 0] * x_rel + inverse[0, 1] * y_rel
    y_in = ref_in[1] + inverse[1, 0] * x_rel + inverse[1, 1] * y_rel

    low, high = spec.source_size_fwhm_A
    max_sigma_px = high / _FWHM_PER_SIGMA / spec.pixel_size
    sigma_px, radius = None, 0
    if max_sigma_px > 0:  # static: the kernel size is fixed by the range, sigma is drawn
        sigma_px = (low + unit(11) * (high - low)) / _FWHM_PER_SIGMA / spec.pixel_size
        radius = max(1, math.ceil(3 * max_sigma_px))
    field = _sample(tf.cast(image, tf.float32), x_in, y_in, sigma_px, radius)

    gain_std = unit(12) * spec.line_gain
    field = field * (1.0 + gain_std * tf.random.stateless_normal([height], seed=seeds[13]))[:, None, None]

    labels = shifted_angles_tf(tf.cast(angles, tf.float32), pattern, shift[0], shift[1])
    if spec.dose_range is None:
        return field, labels
    log_low, log_high = math.log(spec.dose_range[0]), math.log(spec.dose_range[1])
    dose = tf.exp(log_low + (uniform(1, 6)[0] + 1) / 2 * (log_high - log_low))
    electrons_per_pixel = dose * spec.pixel_size**2
    counts = tf.random.stateless_poisson(
        tf.shape(field), seed=seeds[7], lam=tf.maximum(field, 0.0) * electrons_per_pixel, dtype=tf.float32
    )
    return counts / electrons_per_pixel, labels


def reference_crop(image: tf.Tensor, spec: AugmentSpec) -> tf.Tensor:
    """The un-augmented field (2 x 2-cell crop plus margin) at the image origin (labels unchanged)."""
    height, width = spec.field_shape()
    return tf.cast(image, tf.float32)[:height, :width, :]


def augment_dataset(ds: tf.data.Dataset, spec: AugmentSpec, seed: int) -> tf.data.Dataset:
    """Map a ``stem_abf_tilt`` dataset of feature dicts to (field, angles), example i seeded (seed, i)."""

    def _one(index, example):
        return augment(example["image"], example["angles"], example["pattern"],
                       tf.stack([tf.cast(seed, tf.int64), index]), spec)

    return ds.enumerate().map(_one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
