"""The MLE baseline and the GP model's bound, on the smoke GP (fitted once by the smoke build)."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

import stem_datasets  # noqa: F401
from stem_datasets.builders.stem_abf_tilt.recipe import get_recipe
from stem_datasets.physics.glazer import canonical_angles
from stem_datasets.builders.stem_abf_tilt.mle import CropModel, crop_crb, fit_crop
from stem_zoo.tasks.tilt.baseline import QUANTITIES, baseline_table, score_mle

pytestmark = pytest.mark.slow  # the full tier only: every test needs the stem_abf_tilt smoke build (its GP)


RECIPE = get_recipe("smoke")


@pytest.fixture(scope="module")
def model(smoke_build):
    smoke_build("stem_abf_tilt")  # fills the simulation cache with the smoke GP
    return CropModel.of(RECIPE, "a-b-c-")


def test_fit_recovers_a_noise_free_gp_crop_up_to_the_mirror(model):
    for angles, layer in (((4.25, -2.5, 6.0), 3), ((-5.5, 7.75, -3.25), 6)):
        crop = model.image(angles, layer, shift_xy=(0.1, -0.05), scale_xy=(1.01, 0.99))
        fit = fit_crop(model, crop, dose=None)
        assert np.allclose(fit.angles, canonical_angles(angles, "a-b-c-"), atol=0.3), (fit, angles)
        assert fit.thickness_nm == pytest.approx(model.thicknesses_nm[layer])
        assert np.allclose(fit.shift_xy, (0.1, -0.05), atol=0.05) and np.allclose(fit.scale_xy, (1.01, 0.99), atol=0.005)


def test_bound_scales_with_dose_and_grows_with_nuisances(model):
    angles, layer = (4.25, -2.5, 6.0), 3
    low, high = crop_crb(model, angles, layer, 1e3), crop_crb(model, angles, layer, 1e5)
    for q in QUANTITIES:
        assert low[q] == pytest.approx(10 * high[q], rel=1e-6)
    bare = crop_crb(model, angles, layer, 1e4, ())
    every = crop_crb(model, angles, layer, 1e4, ("thickness", "shift", "magnification"))
    assert all(every[q] >= bare[q] * (1 - 1e-9) for q in QUANTITIES) and every["alpha"] > bare["alpha"]


def test_bad_input_is_a_clear_error(model):
    good = model.image((1.0, 1.0, 1.0), 0)
    with pytest.raises(ValueError, match="52, 74"):
        fit_crop(model, good[:10], 1e4)
    with pytest.raises(ValueError, match="NaN"):
        fit_crop(model, np.where(good > 0.5, np.nan, good), 1e4)
    with pytest.raises(ValueError, match="positive number"):
        fit_crop(model, good, -1.0)
    with pytest.raises(ValueError, match="unknown nuisance 'defocus'"):
        crop_crb(model, (1.0, 1.0, 1.0), 0, 1e4, ("defocus",))
    with pytest.raises(ValueError, match="no pattern 'a-b\\+c-'"):
        CropModel.of(RECIPE, "a-b+c-")


def test_score_on_a_split_with_its_bound(smoke_build):
    builder = tfds.builder("stem_abf_tilt/smoke", data_dir=smoke_build("stem_abf_tilt"))
    row = score_mle(builder, "test", dose=1e5, limit=2)
    assert row["n"] == 2 and set(row["rmse_deg"]) == set(QUANTITIES)
    assert all(np.isfinite(row["crb_deg"][q]) and row["crb_deg"][q] > 0 for q in QUANTITIES)
    assert "efficiency CRB / RMSE" in baseline_table([row])
    with pytest.raises(ValueError, match="no examples at dose 5"):
        score_mle(builder, "test", dose=5.0, limit=1)
    with pytest.raises(ValueError, match="clean images only"):
        score_mle(builder, "train", dose=1e4, limit=1)
