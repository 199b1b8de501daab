"""Cramer-Rao bounds of stem_datasets.builders.stem_abf_tilt.limits on real (thin, smoke-config) multislice: scaling, nesting, errors."""

import numpy as np
import pytest

from stem_datasets.builders.stem_abf_tilt.recipe import get_recipe, margin_px, projected_period, to_dataset_image
from stem_datasets.builders.stem_abf_tilt.limits import COMBINATIONS, NUISANCES, _crop_series, fisher_information, tilt_crb

POINT = ("a-b-c-", (6.0, 4.0, 3.0), 1.1)  # smoke's one pattern, two [1-10] layers: 11 cheap runs, cached
SMOKE = {"config": "smoke"}


def _crb(nuisance, dose=1e4):
    pattern, angles, thickness = POINT
    return tilt_crb(pattern, angles, thickness, dose, nuisance, **SMOKE)


def test_bounds_scale_exactly_as_inverse_sqrt_dose():
    low, high = _crb(("thickness", "defocus"), 1e3), _crb(("thickness", "defocus"), 1e5)
    assert set(low) == set(COMBINATIONS)
    for name in COMBINATIONS:
        assert np.isfinite(low[name]) and low[name] > 0
        assert low[name] / high[name] == pytest.approx(10.0, rel=1e-9)


def test_adding_a_nuisance_never_lowers_a_bound():
    chain = [(), ("thickness",), ("thickness", "defocus"), ("thickness", "defocus", "astigmatism"),
             ("thickness", "defocus", "astigmatism", "shift"),
             ("thickness", "defocus", "astigmatism", "shift", "magnification")]
    # source_size also blurs the image, so it nests only with itself in the set
    chains = [chain, [("source_size",), ("source_size", "shift"), NUISANCES]]
    for sets in chains:
        bounds = [_crb(s) for s in sets]
        for smaller, larger, s in zip(bounds, bounds[1:], sets[1:]):
            for name in COMBINATIONS:
                assert larger[name] >= smaller[name] * (1 - 1e-9), (s, name)
    every = _crb(NUISANCES)
    assert every["alpha"] > 1.2 * _crb(())["alpha"]  # the nuisances do cost something here


def test_combination_bound_is_the_quadratic_form():
    pattern, angles, thickness = POINT
    nuisance = ("thickness", "defocus", "shift", "magnification")
    fisher = fisher_information(pattern, angles, thickness, 1e4, nuisance, **SMOKE)
    assert fisher.names[:3] == ("alpha", "beta", "gamma") and len(fisher.names) == 9
    inverse = np.linalg.inv(fisher.matrix)
    bounds = _crb(nuisance)
    for name, v in COMBINATIONS.items():
        full = np.zeros(len(fisher.names))
        full[:3] = v
        assert bounds[name] == pytest.approx(np.sqrt(full @ inverse @ full), rel=1e-6)
    a, b = bounds["alpha"], bounds["beta"]
    assert bounds["alpha_plus_beta"] ** 2 + bounds["beta_minus_alpha"] ** 2 == pytest.approx(2 * (a**2 + b**2), rel=1e-9)


def test_analytic_image_derivatives_match_finite_differences():
    recipe = get_recipe("smoke")
    rng = np.random.default_rng(1)
    ky = np.fft.fftfreq(40, 1 / 40)[:, None]
    kx = np.fft.fftfreq(32, 1 / 32)[None, :]
    low = (np.abs(ky) < 10) & (np.abs(kx) < 10)  # no Nyquist terms: a real period image holds them exactly
    image = np.fft.ifft2(np.fft.fft2(rng.random((40, 32))) * low).real + 1.0
    period = projected_period((6, 4, 3), "a-b-c-", "SrTiO3")
    (my, mx), (h, w) = margin_px(recipe), recipe.crop_shape()
    crop = _crop_series(recipe, image, period, 0.0)
    assert np.allclose(crop, to_dataset_image(recipe, image, period)[my:my + h, mx:mx + w, 0], atol=1e-5)
    e = 1e-4

    def moved(dx, dy):
        c = np.fft.fft2(image) * np.exp(2j * np.pi * (kx * dx / period[0] + ky * dy / period[1]))
        return _crop_series(recipe, np.fft.ifft2(c).real, period, 0.0)

    assert np.allclose(_crop_series(recipe, image, period, 0.0, "dx"), (moved(e, 0) - moved(-e, 0)) / (2 * e), atol=1e-4)
    assert np.allclose(_crop_series(recipe, image, period, 0.0, "dy"), (moved(0, e) - moved(0, -e)) / (2 * e), atol=1e-4)
    blur = (_crop_series(recipe, image, period, 0.4 + e) - _crop_series(recipe, image, period, 0.4 - e)) / (2 * e)
    assert np.allclose(_crop_series(recipe, image, period, 0.4, "dfwhm"), blur, atol=1e-5)
    assert np.abs(blur).max() > 1e-2


@pytest.mark.parametrize("kwargs, message", [
    ({"pattern": "a-b+c-"}, "not a pattern of stem_abf_tilt/smoke; use one of a-b-c-"),
    ({"pattern": "abc"}, "not a pattern of stem_abf_tilt/smoke"),
    ({"angles": (10.5, 4, 3)}, r"must lie in \[-10.25, 10.25\] deg"),
    ({"angles": (6, -10.3, 3)}, r"must lie in \[-10.25, 10.25\] deg"),
    ({"angles": (6, 4, float("nan"))}, "outside stem_abf_tilt/smoke's range"),
    ({"angles": (6, 4)}, "three numbers"),
    ({"dose": 0.0}, "dose must be a positive finite number"),
    ({"dose": -1e4}, "dose must be a positive finite number"),
    ({"dose": float("inf")}, "dose must be a positive finite number"),
    ({"dose": float("nan")}, "dose must be a positive finite number"),
    ({"dose": "1e4"}, "dose must be a positive finite number"),
    ({"nuisance": ("thickness", "tilt")}, "unknown nuisance 'tilt'; allowed: thickness, defocus, astigmatism, shift, "
                                         "magnification, source_size"),
    ({"nuisance": "focus"}, "unknown nuisance 'focus'"),
    ({"config": "huge"}, "Unknown stem_abf_tilt config 'huge'; known: smoke, small, full"),
    ({"thickness_nm": 0.2}, "under two"),
    ({"thickness_nm": -1.0}, "thickness_nm must be a positive finite number"),
])
def test_bad_input_says_what_is_allowed(kwargs, message):
    args = {"pattern": POINT[0], "angles": POINT[1], "thickness_nm": POINT[2], "dose": 1e4, "config": "smoke", **kwargs}
    with pytest.raises(ValueError, match=message):
        tilt_crb(**args)
