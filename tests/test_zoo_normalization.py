"""The local normalization: definition, NumPy = TensorFlow, invariances, training crops = map windows."""

import numpy as np
import pytest

from stem_zoo.micrograph import (
    local_standardize, local_standardize_tf, normalization_margin, normalization_window,
)
from stem_zoo.registry import get_entry

SPEC = get_entry("tilt_dcnn").input
WINDOW = normalization_window(SPEC)


def _lattice_image(shape, seed=0):
    """Dark columns on a bright background plus noise: the kind of image the model reads."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    columns = np.cos(2 * np.pi * cols / 18.4) * np.cos(2 * np.pi * rows / 26.0)
    return (0.8 - 0.1 * columns + 0.02 * rng.normal(size=shape)).astype(np.float32)


def test_margin_and_window_of_the_tilt_model():
    assert normalization_margin(SPEC) == (13, 18)
    assert WINDOW == (27, 37)


def test_local_standardize_is_the_box_definition():
    image = np.random.default_rng(1).normal(2.0, 3.0, size=(12, 15))
    window = (5, 7)
    expected = np.empty((8, 9))
    for i in range(8):
        for j in range(9):
            box = image[i:i + 5, j:j + 7]
            expected[i, j] = (image[i + 2, j + 3] - box.mean()) / (box.std() + 1e-6)
    np.testing.assert_allclose(local_standardize(image, window), expected, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_numpy_and_tensorflow_agree(seed):
    batch = np.stack([_lattice_image((78, 110), seed), 5.0 + 30.0 * _lattice_image((78, 110), seed + 10)])[..., None]
    tf_out = local_standardize_tf(batch, WINDOW).numpy()
    assert tf_out.shape == (2, 52, 74, 1) and tf_out.dtype == np.float32
    for k in range(2):
        np.testing.assert_allclose(tf_out[k, ..., 0], local_standardize(batch[k, ..., 0], WINDOW), atol=1e-5)
    np.testing.assert_allclose(local_standardize_tf(batch[0], WINDOW).numpy(), tf_out[0], atol=1e-6)  # one field


def test_offset_and_gain_do_not_change_the_standardized_image():
    # Exact up to the 1e-6 added to the box std: relative changes of 1e-6 / std, so counts-like contrast here.
    image = 40.0 * _lattice_image((90, 120)).astype(np.float64)
    reference = local_standardize(image, WINDOW)
    for gain, offset in [(3.7, 100.0), (0.5, -5.0), (250.0, 1e4)]:
        np.testing.assert_allclose(local_standardize(gain * image + offset, WINDOW), reference, atol=1e-5)
        tf_out = local_standardize_tf((gain * image + offset)[None, ..., None].astype(np.float32), WINDOW).numpy()
        np.testing.assert_allclose(tf_out[0, ..., 0], reference, atol=1e-4)  # float32 input rounding


def test_a_map_window_sees_what_a_training_crop_sees():
    """An interior window of the standardized micrograph equals the standardized field around it."""
    from stem_zoo.micrograph import standardize_micrograph

    image = _lattice_image((150, 200), seed=3)
    standardized = standardize_micrograph(image, SPEC)
    assert standardized.shape == image.shape
    (h, w), (my, mx) = SPEC.crop_shape, normalization_margin(SPEC)
    for r, c in [(my, mx), (40, 77), (150 - h - my, 200 - w - mx)]:
        field = image[r - my:r + h + my, c - mx:c + w + mx]
        crop = local_standardize_tf(field[..., None], WINDOW).numpy()[..., 0]
        np.testing.assert_allclose(standardized[r:r + h, c:c + w], crop, atol=1e-5)


def test_the_training_field_yields_exactly_the_crop():
    import tensorflow as tf

    from stem_datasets.pipeline.augment import reference_crop
    from stem_zoo.data import augment_spec

    spec = augment_spec(SPEC)
    assert spec.margin == (13, 18) and spec.field_shape() == (78, 110)
    image = tf.constant(_lattice_image((128, 144))[..., None])
    crop = local_standardize_tf(reference_crop(image, spec), WINDOW)
    assert tuple(crop.shape) == (52, 74, 1)


@pytest.mark.parametrize("image, window, message", [
    (np.zeros((20, 20)), (4, 5), "odd"),
    (np.zeros((20, 20)), (27, 37), "smaller than the normalization window"),
    (np.zeros((2, 20, 20)), (3, 3), "2-D"),
])
def test_bad_normalization_input(image, window, message):
    with pytest.raises(ValueError, match=message):
        local_standardize(image, window)
