"""tilt_dcnn 2's uncertainty (issue 24): the Gaussian head, its loss, calibration, and labels carried between B columns."""

import keras
import numpy as np
import pytest

from stem_datasets.physics.glazer import canonical_angles, shifted_angles
from stem_zoo.benchmarking import decode_predictions
from stem_zoo.tasks.tilt.maps import reference_frame
from stem_zoo.tasks.tilt.model import BetaGaussianNLL
from stem_zoo.tasks.tilt.uncertainty import (
    STD_OFFSET, basis_permutation, decode_outputs, fit_std_scale, uncertainty_metrics,
)
from stem_zoo.registry import get_entry

PATTERNS = ("a-b-c-", "a-b-c+", "a-b+c-", "a+b+c+")


def _raw_for_std(std):
    """The raw output whose std (uncalibrated) is ``std`` [deg]."""
    return np.log(np.expm1(np.asarray(std, float) - 0.02)) - STD_OFFSET


def test_the_loss_drives_the_std_to_the_spread_of_the_errors():
    import tensorflow as tf

    errors = np.random.default_rng(0).normal(0, 1.7, size=(4000, 3))  # labels minus means: std 1.7 deg in every quantity
    true = np.zeros((4000, 3), "float32")
    means = -errors @ np.linalg.inv(np.array([[1.0, 1.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])).T  # in (a+b, b-a, g)
    slopes = {}
    for std in (0.8, 1.5, 1.9, 4.0):
        raw = tf.Variable(np.broadcast_to(_raw_for_std(std), (4000, 3)).astype("float32"))
        with tf.GradientTape() as tape:
            value = BetaGaussianNLL()(true, tf.concat([tf.constant(means, tf.float32), raw], axis=1))
        slopes[std] = tape.gradient(value, raw).numpy().sum(axis=0)
    # descent raises a std below the errors' spread and lowers one above it, in every quantity
    assert np.all(slopes[0.8] < 0) and np.all(slopes[1.5] < 0) and np.all(slopes[1.9] > 0) and np.all(slopes[4.0] > 0), slopes


def test_the_loss_pulls_the_means_towards_the_labels():
    pred = keras.Variable(np.array([[2.0, -1.0, 3.0, 0.0, 0.0, 0.0]], "float32"))
    true = np.array([[0.0, 0.0, 0.0]], "float32")
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value = BetaGaussianNLL()(true, pred)
    grad = tape.gradient(value, pred).numpy()[0, :3]
    assert np.all(np.sign(grad) == np.sign([2.0, -1.0, 3.0]))  # descent moves each mean towards 0


def test_decode_needs_six_or_three_outputs_and_applies_the_calibration():
    means, stds = decode_outputs(np.array([[1.0, 2.0, 3.0, *_raw_for_std([0.5, 1.0, 2.0])]]))
    assert means.tolist() == [[1.0, 2.0, 3.0]] and np.allclose(stds, [[0.5, 1.0, 2.0]])
    assert decode_outputs(np.ones((2, 3)))[1] is None
    with pytest.raises(ValueError, match="3 \\(angles\\) or 6"):
        decode_outputs(np.ones((2, 5)))
    entry = get_entry("tilt_dcnn")
    scaled = type("E", (), {"uncertainty": {"std_scale": [2.0, 1.0, 0.5]}})()
    assert np.allclose(decode_predictions(entry, np.array([[0, 0, 0, *_raw_for_std([1.0, 1.0, 1.0])]]), scaled)[1],
                       [[2.0, 1.0, 0.5]])


def test_fitted_scale_calibrates_stds_that_are_off_by_a_factor():
    rng = np.random.default_rng(1)
    true_std = rng.uniform(0.3, 2.0, size=(3000, 3))  # of (a+b, b-a, g)
    errors = rng.normal(size=(3000, 3)) * true_std
    to_angles = np.linalg.inv(np.array([[1.0, 1.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    true = np.tile([5.0, 2.0, 3.0], (3000, 1))  # canonical a-b-c- labels far from the fold
    means = true + errors @ to_angles.T
    stated = true_std * np.array([0.5, 1.0, 2.0])  # over-confident, right, under-confident
    scale = fit_std_scale(true, means, stated, ["a-b-c-"] * 3000)
    np.testing.assert_allclose(scale, [2.0, 1.0, 0.5], rtol=0.08)
    before = uncertainty_metrics(true, means, stated, ["a-b-c-"] * 3000)
    after = uncertainty_metrics(true, means, stated * scale, ["a-b-c-"] * 3000)
    assert before["alpha_plus_beta"]["coverage_68"] < 0.45 and before["gamma"]["coverage_68"] > 0.9
    for q in ("alpha_plus_beta", "beta_minus_alpha", "gamma"):
        assert 0.65 < after[q]["coverage_68"] < 0.71 and 0.93 < after[q]["coverage_95"] < 0.97, (q, after[q])


def test_stds_follow_their_quantity_through_an_orbit_map():
    # a-b+c-: the shift flips beta, which swaps alpha + beta and -(beta - alpha)
    true, pred = np.array([[4.0, 3.0, 1.0]]), np.array([[4.0, -3.0, 1.0]])
    m = uncertainty_metrics(true, pred, np.array([[0.1, 5.0, 1.0]]), ["a-b+c-"])
    assert m["alpha_plus_beta"]["mean_std_deg"] == 5.0 and m["beta_minus_alpha"]["mean_std_deg"] == 0.1
    with pytest.raises(ValueError, match="permute"):
        basis_permutation(np.diag([2.0, 1.0, 1.0]))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_labels_read_at_any_column_come_back_to_the_reference_frame(pattern):
    rng = np.random.default_rng(2)
    crystal = [canonical_angles(a, pattern) for a in rng.uniform(-10, 10, size=(50, 3)) * [[1, 1, 1]]]
    for columns_x in (0, 1, 2, -1):
        for cells_y in (0, 1, -1):
            read = np.array([shifted_angles(a, pattern, columns_x, cells_y) for a in crystal])  # what a window reads
            stds = np.tile([0.1, 0.2, 0.3], (len(read), 1))
            frame, moved = reference_frame(read, stds, np.full(len(read), columns_x), np.full(len(read), cells_y), pattern)
            np.testing.assert_allclose(frame, crystal, atol=1e-9)
            assert sorted(moved[0].tolist()) == [0.1, 0.2, 0.3]
