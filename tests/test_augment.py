import numpy as np
import pytest
import tensorflow as tf

from stem_datasets.builders.stem_abf_tilt.recipe import RECIPES
from stem_datasets.pipeline.augment import AugmentSpec, augment, augment_dataset, reference_crop, shifted_angles_tf
from stem_datasets.physics.glazer import shifted_angles

A = RECIPES["smoke"].lattice_constant  # what the stem_abf_tilt recipe declares (SrTiO3)
SPEC = AugmentSpec(crop_shape=(52, 74), lattice_constant=A)


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
    spec = AugmentSpec(crop_shape=(52, 74), lattice_constant=A, rotation_deg=0, shear=0, scale=0, jitter_fraction=0, dose_range=(1e6, 1e6))
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
    spec = AugmentSpec(crop_shape=(52, 74), lattice_constant=A, rotation_deg=5, shear=0.05, scale=0.05, jitter_fraction=0,
                       max_shift_columns=0, max_shift_cells=0, dose_range=(1e9, 1e9), line_jitter_A=0)
    x_ref, y_ref = spec.reference_px()
    y, x = np.mgrid[0:96, 0:104].astype(np.float32)
    spot = np.exp(-((x - x_ref) ** 2 + (y - y_ref) ** 2) / (2 * 1.5**2))[..., None] + 0.01
    for seed in range(5):
        crop, _ = augment(tf.constant(spot), tf.constant([1.0, 1.0, 1.0]), tf.constant("a-b-c-"),
                          tf.constant([seed, 9]), spec)
        row, col = np.unravel_index(np.argmax(crop.numpy()[..., 0]), crop.shape[:2])
        assert abs(row - y_ref) <= 1 and abs(col - x_ref) <= 1


MARGIN = (13, 18)
# Everything off: only what a test switches on acts (shifts, distortions, imperfections, noise).
STILL = dict(crop_shape=(52, 74), lattice_constant=A, margin=MARGIN, rotation_deg=0, shear=0, scale=0, jitter_fraction=0,
             max_shift_columns=0, max_shift_cells=0, source_size_fwhm_A=(0.0, 0.0), line_jitter_A=0.0,
             drift_A_per_row=0.0, line_gain=0.0, dose_range=None)
ARGS = (tf.constant([3.0, -2.0, 5.0]), tf.constant("a-b-c-"))


def _field(image, seed, **changes):
    spec = AugmentSpec(**{**STILL, **changes})
    return augment(tf.constant(image, tf.float32), *ARGS, tf.constant(seed), spec)


def _dot(x0, y0, shape=(128, 144), width=1.5):
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    return (np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * width**2)) + 0.01)[..., None]


def _vertical_line(x0, shape=(128, 144), width=1.5):
    x = np.arange(shape[1], dtype=np.float32)
    return np.broadcast_to(np.exp(-((x - x0) ** 2) / (2 * width**2)), shape)[..., None].copy()


def _row_centres(field):
    profile = field[..., 0]
    return (profile * np.arange(profile.shape[1])).sum(1) / profile.sum(1)


def _argmax(field):
    return np.unravel_index(np.argmax(field[..., 0]), field.shape[:2])


def test_field_shape_and_reference_crop_carry_the_margin():
    spec = AugmentSpec(crop_shape=(52, 74), lattice_constant=A, margin=MARGIN)
    assert spec.field_shape() == (78, 110) and SPEC.field_shape() == (52, 74)
    image = tf.random.stateless_uniform((128, 144, 1), seed=(3, 4))
    np.testing.assert_array_equal(reference_crop(image, spec).numpy(), image.numpy()[:78, :110])
    field, _ = augment(image, *ARGS, tf.constant([0, 1]), spec)
    assert field.shape == (78, 110, 1) and field.dtype == tf.float32


def test_reference_stays_at_reference_plus_margin():
    x_ref, y_ref = SPEC.reference_px()
    xr, yr = x_ref + MARGIN[1], y_ref + MARGIN[0]
    dot = _dot(xr, yr)
    field, _ = _field(dot, [0, 0])
    np.testing.assert_allclose(field.numpy(), dot[:78, :110], atol=1e-5)  # all off: the reference field
    assert _argmax(field.numpy()) == (round(yr), round(xr))
    for seed in range(4):  # distortions and drift act about the reference: it stays put
        field, _ = _field(dot, [seed, 1], rotation_deg=5, shear=0.05, scale=0.05, drift_A_per_row=0.02,
                          source_size_fwhm_A=(0.0, 0.8), line_gain=0.02)
        row, col = _argmax(field.numpy())
        assert abs(row - yr) <= 1 and abs(col - xr) <= 1


def test_shifted_crop_brings_the_next_column_to_the_reference_and_relabels():
    x_ref, y_ref = SPEC.reference_px()
    xr, yr = x_ref + MARGIN[1], y_ref + MARGIN[0]
    dot = _dot(xr + 2 * x_ref, yr)  # a dot one B column to the right of the stored reference
    shifted_labels = shifted_angles((3.0, -2.0, 5.0), "a-b-c-", 1, 0)
    seen = set()
    for seed in range(8):
        field, labels = _field(dot, [seed, 2], max_shift_columns=1)
        shifted = tuple(labels.numpy().tolist()) == pytest.approx(shifted_labels)
        seen.add(shifted)
        row, col = _argmax(field.numpy())
        assert (row, col) == (round(yr), round(xr + (0 if shifted else 2 * x_ref)))
    assert seen == {True, False}


def test_source_blur_smooths_detail_and_keeps_a_constant_constant():
    y, x = np.mgrid[0:128, 0:144]
    checker = (1.0 + (-1.0) ** (x + y))[..., None]
    sharp, _ = _field(checker, [0, 3])
    blurred, _ = _field(checker, [0, 3], source_size_fwhm_A=(0.8, 0.8))
    assert float(tf.math.reduce_variance(sharp)) > 0.9
    assert float(tf.math.reduce_variance(blurred)) < 0.01 * float(tf.math.reduce_variance(sharp))
    flat, _ = _field(np.full((128, 144, 1), 0.7), [0, 3], source_size_fwhm_A=(0.8, 0.8), rotation_deg=3)
    np.testing.assert_allclose(flat.numpy(), 0.7, rtol=1e-5)
    tiny, _ = _field(checker, [0, 3], source_size_fwhm_A=(0.0, 1e-6))  # sigma ~ 0: the identity
    np.testing.assert_allclose(tiny.numpy(), sharp.numpy(), atol=1e-6)


def test_line_jitter_makes_a_vertical_line_ragged():
    line = _vertical_line(60.3)
    straight, _ = _field(line, [0, 4])
    assert np.ptp(_row_centres(straight.numpy())) < 1e-3
    spreads = []
    for seed in range(3):
        ragged, _ = _field(line, [seed, 4], line_jitter_A=0.3)
        steps = np.diff(_row_centres(ragged.numpy()))
        assert np.all(np.abs(steps) > 1e-6)  # every row its own displacement
        spreads.append(np.std(steps))
    assert max(spreads) > 0.5  # pixels


def test_drift_shears_rows_about_the_reference_row():
    x_ref, y_ref = SPEC.reference_px()
    xr, yr = x_ref + MARGIN[1], y_ref + MARGIN[0]
    rows = np.arange(78)
    tilts = []
    for seed in range(4):
        field, _ = _field(_vertical_line(xr), [seed, 5], drift_A_per_row=0.02)
        centres = _row_centres(field.numpy())
        assert abs(centres[round(yr)] - xr) < 0.05
        slope, intercept = np.polyfit(rows, centres, 1)
        np.testing.assert_allclose(centres, slope * rows + intercept, atol=0.05)  # linear in the row
        tilts.append(abs(slope) * 0.15)  # A per row
    assert max(tilts) > 0.005 and all(t <= 0.02 for t in tilts)


def test_line_gain_scales_whole_rows():
    field, _ = _field(np.ones((128, 144, 1)), [0, 6], line_gain=0.2)
    rows = field.numpy()[..., 0]
    np.testing.assert_allclose(rows, rows[:, :1] * np.ones_like(rows), rtol=1e-6)
    assert np.std(rows[:, 0]) > 0.01 and abs(np.mean(rows) - 1.0) < 0.1


def test_all_imperfections_are_deterministic_in_the_seed():
    spec = AugmentSpec(crop_shape=(52, 74), lattice_constant=A, margin=MARGIN, line_jitter_A=0.3, drift_A_per_row=0.02, line_gain=0.05)
    image = tf.random.stateless_uniform((128, 144, 1), seed=(7, 8))
    first, labels = augment(image, *ARGS, tf.constant([11, 12]), spec)
    again, labels_again = augment(image, *ARGS, tf.constant([11, 12]), spec)
    other, _ = augment(image, *ARGS, tf.constant([11, 13]), spec)
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    np.testing.assert_array_equal(labels.numpy(), labels_again.numpy())
    assert not np.array_equal(first.numpy(), other.numpy())
    # A traced graph (as tf.data runs it) gives the eager result: the labels exactly, the field without noise to float
    # rounding (with Poisson noise a rounding difference can move a rare pixel by one count).
    import dataclasses

    clean = dataclasses.replace(spec, dose_range=None)
    graph = tf.function(lambda s: augment(image, *ARGS, s, clean))
    for seed in ([11, 12], [3, 4], [0, 7]):
        eager, eager_labels = augment(image, *ARGS, tf.constant(seed), clean)
        traced, traced_labels = graph(tf.constant(seed))
        np.testing.assert_allclose(traced.numpy(), eager.numpy(), rtol=0, atol=1e-5)
        np.testing.assert_array_equal(traced_labels.numpy(), eager_labels.numpy())


AUGMENT_IN_A_PROCESS = """
import sys
import numpy as np, tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(int(sys.argv[1]))
from stem_datasets.builders.stem_abf_tilt.recipe import RECIPES
from stem_datasets.pipeline.augment import AugmentSpec, augment, augment_dataset
spec = AugmentSpec(crop_shape=(52, 74), lattice_constant=RECIPES["smoke"].lattice_constant, margin=(13, 18),
                   line_jitter_A=0.3, drift_A_per_row=0.02, line_gain=0.05, source_size_fwhm_A=(0.0, 0.6))
image = tf.random.stateless_uniform((128, 144, 1), seed=(7, 8))
args = (tf.constant([3.0, -2.0, 5.0]), tf.constant("a-b-c-"))
field, labels = augment(image, *args, tf.constant([11, 12]), spec)
ds = tf.data.Dataset.from_tensor_slices({"image": tf.stack([image] * 3), "angles": tf.stack([args[0]] * 3),
                                         "pattern": tf.stack([args[1]] * 3)})
fields = np.stack([f.numpy() for f, _ in augment_dataset(ds, spec, seed=5)])
np.savez(sys.argv[2], field=field.numpy(), labels=labels.numpy(), dataset=fields)
"""


@pytest.mark.slow
def test_the_same_seed_gives_the_same_fields_in_another_process(tmp_path):
    """Two fresh processes (1 and 2 intra-op threads): augment and augment_dataset agree bit for bit."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    runs = [subprocess.Popen([sys.executable, "-c", AUGMENT_IN_A_PROCESS, str(threads), str(tmp_path / f"{threads}.npz")],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for threads in (1, 2)]
    for run in runs:
        assert run.wait(timeout=300) == 0, run.stderr.read()[-2000:]
    first, second = (np.load(tmp_path / f"{threads}.npz") for threads in (1, 2))
    assert first["field"].shape == (78, 110, 1) and first["field"].std() > 0.1
    assert first["dataset"].shape == (3, 78, 110, 1) and not np.array_equal(first["dataset"][0], first["dataset"][1])
    for name in ("field", "labels", "dataset"):
        np.testing.assert_array_equal(second[name], first[name], err_msg=name)

def test_the_lattice_constant_comes_from_the_dataset():
    from stem_datasets.builders.stem_abf_tilt.recipe import describe

    assert AugmentSpec.from_metadata(describe(RECIPES["smoke"])) == AugmentSpec((52, 74), lattice_constant=A, margin=(13, 18))
    with pytest.raises(ValueError, match="lattice constant of the dataset's material"):
        AugmentSpec(crop_shape=(52, 74))
