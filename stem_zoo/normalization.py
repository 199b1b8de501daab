"""The tilt model's input normalization, shared by training, evaluation and maps.

Each pixel becomes (x - m) / (s + 1e-6), where m and s are the mean and standard deviation
of the odd-sized box centred on it. The box of ``tilt_dcnn`` is 27 x 37 pixels at 0.15 A/px
(about one cell along [001] x two B-column spacings along [110]), so in a perfect crystal
every box holds whole lattice periods and the statistics do not depend on where a crop
starts. Only pixels whose whole box lies inside the image get a value ("valid"): the
output is smaller by ``window - 1`` in each dimension. Training crops therefore come with
``margin = (window - 1) / 2`` pixels of context on every side (the *field*), and a
micrograph is reflect-padded by the same margin before it is mapped, so every map window
sees its pixels normalized by the same rule as a training crop.

Example:
    >>> import numpy as np
    >>> image = np.random.default_rng(0).normal(3.0, 2.0, size=(40, 50))
    >>> out = local_standardize(image, (27, 37))
    >>> out.shape, out.dtype
    ((14, 14), dtype('float32'))
    >>> bool(np.allclose(local_standardize(5 * image - 1, (27, 37)), out, atol=1e-5))
    True
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-6
DEFAULT_MARGIN = (13, 18)  # tilt_dcnn: half a cell (a / 2) x one B-column spacing (a / sqrt 2) at 0.15 A/px


def normalization_margin(input_spec) -> tuple[int, int]:
    """Context pixels (rows, cols) on each side of a crop that the normalization reads.

    The box is ``(2 * rows + 1, 2 * cols + 1)`` pixels.

    >>> from stem_zoo.registry import get_entry
    >>> normalization_margin(get_entry("tilt_dcnn").input)
    (13, 18)
    """
    margin = tuple(getattr(input_spec, "margin", None) or DEFAULT_MARGIN)
    if len(margin) != 2 or any(int(m) != m or m < 0 for m in margin):
        raise ValueError(f"InputSpec.margin must be two non-negative integers (rows, cols), got {margin!r}.")
    return (int(margin[0]), int(margin[1]))


def normalization_window(input_spec) -> tuple[int, int]:
    """The (odd) box size (rows, cols) of the normalization: ``2 * margin + 1``."""
    my, mx = normalization_margin(input_spec)
    return (2 * my + 1, 2 * mx + 1)


def _check_window(window) -> tuple[int, int]:
    window = tuple(int(w) for w in window)
    if len(window) != 2 or any(w < 1 or w % 2 == 0 for w in window):
        raise ValueError(f"the normalization window must be two odd positive sizes (rows, cols), got {window!r}.")
    return window


def _box_sums(values: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """Sums over every fully contained ``window`` box (summed-area table, float64)."""
    h, w = window
    table = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
    table[1:, 1:] = values.cumsum(axis=0).cumsum(axis=1)
    return table[h:, w:] - table[:-h, w:] - table[h:, :-w] + table[:-h, :-w]


def local_standardize(image: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """(x - box mean) / (box std + 1e-6) over the ``window`` box centred on each pixel, "valid" only.

    ``image`` is (H, W); the result is (H - h + 1, W - w + 1), float32, computed in float64.

    >>> import numpy as np
    >>> image = np.array([[0, 0, 0, 0], [0, 9, 0, 0], [0, 0, 0, 0]], dtype=float)
    >>> local_standardize(image, (3, 3)).astype(float).round(3).tolist()  # box of pixel (1, 1): mean 1, std sqrt(8)
    [[2.828, -0.354]]
    """
    window = _check_window(window)
    array = np.asarray(image, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"local_standardize takes one 2-D image (rows, cols), got shape {array.shape}.")
    if array.shape[0] < window[0] or array.shape[1] < window[1]:
        raise ValueError(f"the image ({array.shape[0]} x {array.shape[1]} px) is smaller than the normalization "
                         f"window ({window[0]} x {window[1]} px).")
    # Centre and scale globally first: the result is the same, the sums are better conditioned.
    array = array - array.mean()
    scale = float(array.std()) or 1.0
    array = array / scale
    n = window[0] * window[1]
    mean = _box_sums(array, window) / n
    var = np.maximum(_box_sums(array * array, window) / n - mean * mean, 0.0)
    my, mx = window[0] // 2, window[1] // 2
    centre = array[my:array.shape[0] - my, mx:array.shape[1] - mx]
    return ((centre - mean) * scale / (np.sqrt(var) * scale + EPSILON)).astype(np.float32)


def local_standardize_tf(batch, window: tuple[int, int]):
    """TensorFlow twin of :func:`local_standardize` for (n, H, W, 1) batches (or one (H, W, 1) field).

    Box means of x and x^2 from summed-area tables in float64, as in the NumPy version
    (average pooling with a 27 x 37 box is ~40x slower on CPU and was the training
    pipeline's bottleneck); the result is (n, H - h + 1, W - w + 1, 1) float32 and equals
    the NumPy one to ~1e-6.

    >>> import numpy as np
    >>> x = np.random.default_rng(1).random((2, 30, 40, 1)).astype("float32")
    >>> out = local_standardize_tf(x, (27, 37)).numpy()
    >>> out.shape, bool(np.abs(out[1, ..., 0] - local_standardize(x[1, ..., 0], (27, 37))).max() < 1e-5)
    ((2, 4, 4, 1), True)
    """
    import tensorflow as tf

    window = _check_window(window)
    x = tf.cast(batch, tf.float64)
    single = x.shape.rank == 3
    if single:
        x = x[None]
    if x.shape.rank != 4:
        raise ValueError(f"local_standardize_tf takes (n, H, W, 1) batches or one (H, W, 1) field, "
                         f"got rank {x.shape.rank}.")
    # Per-example centring and scaling, as in the NumPy version (better-conditioned box moments).
    x = x - tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    scale = tf.math.reduce_std(x, axis=[1, 2, 3], keepdims=True)
    scale = tf.where(scale > 0, scale, tf.ones_like(scale))
    x = x / scale
    n = float(window[0] * window[1])
    mean = _box_sums_tf(x, window) / n
    var = tf.maximum(_box_sums_tf(x * x, window) / n - mean * mean, 0.0)
    my, mx = window[0] // 2, window[1] // 2
    centre = x[:, my:tf.shape(x)[1] - my, mx:tf.shape(x)[2] - mx, :]
    out = (centre - mean) * scale / (tf.sqrt(var) * scale + EPSILON)
    out = tf.cast(out, tf.float32)
    return out[0] if single else out


def _box_sums_tf(x, window: tuple[int, int]):
    """Sums over every fully contained ``window`` box of (n, H, W, C), from a zero-padded summed-area table."""
    import tensorflow as tf

    h, w = window
    table = tf.pad(tf.cumsum(tf.cumsum(x, axis=1), axis=2), [[0, 0], [1, 0], [1, 0], [0, 0]])
    return table[:, h:, w:] - table[:, :-h, w:] - table[:, h:, :-w] + table[:, :-h, :-w]
