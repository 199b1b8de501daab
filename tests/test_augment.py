import numpy as np
import pytest
import tensorflow as tf

from stem_datasets.augment import AugmentSpec, augment, augment_dataset, reference_crop, shifted_angles_tf
from stem_datasets.glazer import shifted_angles

SPEC = AugmentSpec(crop_shape=(52, 74))


def _image():
    y, x = np.mgrid[0:96, 0:104].astype(np.float32)
    return tf.constant((0.5 + 0.2 * np.cos(x / 3.0) * np.sin(y / 5.0))[..., None])


def test_same_seed_same_crop_different_seed_different_crop():
    args = (_image(), tf.constant([3.0, -2.0, 5.0]), tf.constant("a-b+c-"))
    first = augment(*args, tf.constant([1, 2]), SPEC)
    again = augment(*args, tf.constant([1, 2]), SPEC)
    other = augment(*args, tf.constant([1, 3]), SPEC)
    np.testing.assert_array_equal(first[0].numpy(), again[0].numpy())
    assert first[0].shape == (52, 74, 1) and first[0].dtype == tf.float32
    assert not np.array_equal(first[0].numpy(), other[0].numpy())


def test_labels_follow_the_shift_and_noise_keeps_the_mean():
    spec = AugmentSpec(crop_shape=(52, 74), rotation_deg=0, shear=0, scale=0, jitter_fraction=0, dose_range=(1e6, 1e6))
    image = _image()
    seen = set()
    for seed in range(12):
        crop, labels = augment(image, tf.constant([3.0, -2.0, 5.0]), tf.constant("a-b-c-"), tf.constant([seed, 0]), spec)
        seen.add(tuple(labels.numpy().tolist()))
        assert abs(float(tf.reduce_mean(crop)) - 0.5) < 0.02
    expected = {shifted_angles((3.0, -2.0, 5.0), "a-b-c-", x, y) for x in (0, 1) for y in (0, 1)}
    assert seen <= expected and len(seen) > 1


def test_tf_label_shift_matches_numpy():
    for pattern in ("a-b-c-", "a-b+c-", "a+b+c+", "a0a0c+"):
        for x in range(3):
            for y in range(3):
                angles = tuple(0.0 if pattern[2 * i + 1] == "0" else v for i, v in enumerate((-1.5, -2.0, 4.0)))
                got = shifted_angles_tf(tf.constant(angles), tf.constant(pattern), tf.constant(x), tf.constant(y))
                assert tuple(got.numpy().tolist()) == pytest.approx(shifted_angles(angles, pattern, x, y))


def test_reference_crop_and_dataset_mapping_are_deterministic():
    crop = reference_crop(_image(), SPEC)
    np.testing.assert_array_equal(crop.numpy(), _image().numpy()[:52, :74])
    ds = tf.data.Dataset.from_tensor_slices({
        "image": tf.stack([_image()] * 3), "angles": tf.constant([[1.0, 2.0, 3.0]] * 3),
        "pattern": tf.constant(["a-b-c-"] * 3),
    })
    first = [c.numpy() for c, _ in augment_dataset(ds, SPEC, seed=5)]
    again = [c.numpy() for c, _ in augment_dataset(ds, SPEC, seed=5)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], first[1])


def test_affine_distortion_keeps_the_reference_column_in_place():
    spec = AugmentSpec(crop_shape=(52, 74), rotation_deg=5, shear=0.05, scale=0.05, jitter_fraction=0,
                       max_shift_columns=0, max_shift_cells=0, dose_range=(1e9, 1e9))
    x_ref, y_ref = spec.reference_px()
    y, x = np.mgrid[0:96, 0:104].astype(np.float32)
    spot = np.exp(-((x - x_ref) ** 2 + (y - y_ref) ** 2) / (2 * 1.5**2))[..., None] + 0.01
    for seed in range(5):
        crop, _ = augment(tf.constant(spot), tf.constant([1.0, 1.0, 1.0]), tf.constant("a-b-c-"),
                          tf.constant([seed, 9]), spec)
        row, col = np.unravel_index(np.argmax(crop.numpy()[..., 0]), crop.shape[:2])
        assert abs(row - y_ref) <= 1 and abs(col - x_ref) <= 1
