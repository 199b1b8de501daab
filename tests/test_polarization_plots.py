"""Polarization figures: quiver, colour-wheel angle map and truth/prediction comparison."""

import numpy as np
import pytest

from stem_zoo.polarization_plots import angle_colours, angle_map_figure, cell_spacing, comparison_figure, quiver_figure


@pytest.fixture(scope="module")
def cells():
    y, x = np.mgrid[0:6, 0:8] * 12.0 + 6
    xy = np.stack([x.ravel(), y.ravel()], axis=1)
    angle = np.where(xy[:, 0] < 50, np.pi / 4, -3 * np.pi / 4)
    P = 30 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    P[3] = np.nan  # a cell without a value
    return xy, P


def _check_png(path, channels=4):
    import matplotlib.image as mpimg

    assert path.exists() and path.stat().st_size > 5000
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels.shape[-1] == channels and min(pixels.shape[:2]) > 200


def test_quiver_figure(cells, tmp_path):
    xy, P = cells
    image = np.random.default_rng(0).normal(size=(72, 96))
    out = quiver_figure(image, xy, P, tmp_path / "quiver.png", pixel_size=0.2, title="synthetic")
    assert out == tmp_path / "quiver.png"
    _check_png(out)
    _check_png(quiver_figure(image[..., None], xy, P, tmp_path / "key.png", scale_pm=50))


def test_angle_map_and_comparison_figures(cells, tmp_path):
    xy, P = cells
    _check_png(angle_map_figure(xy, P, tmp_path / "angle.png", shape=(72, 96), title="angles"))
    _check_png(angle_map_figure(xy, P, tmp_path / "auto.png", max_pm=50))
    noisy = P + np.random.default_rng(1).normal(scale=4, size=P.shape)
    _check_png(comparison_figure(xy, P, noisy, tmp_path / "compare.png", shape=(72, 96)))


def test_colours_follow_direction_and_magnitude(cells):
    xy, _ = cells
    assert cell_spacing(xy) == pytest.approx(12.0)
    rgba = angle_colours(np.array([[10.0, 0.0], [20.0, 0.0], [-20.0, 0.0], [np.nan, 1.0]]), max_pm=20)
    np.testing.assert_allclose(rgba[1], [1, 0, 0, 1])  # +x: red at full value
    np.testing.assert_allclose(rgba[0], [0.5, 0, 0, 1])  # half the magnitude: half the value
    np.testing.assert_allclose(rgba[2], [0, 1, 1, 1])  # opposite: cyan
    assert rgba[3, 3] == 0  # NaN: transparent


@pytest.mark.parametrize("call,message", [
    (lambda xy, P, d: quiver_figure(np.zeros((72, 96)), xy, P[:-1], d / "x.png"), "rows for"),
    (lambda xy, P, d: quiver_figure(np.zeros((2, 72, 96)), xy, P, d / "x.png"), "2-D"),
    (lambda xy, P, d: quiver_figure(np.zeros((72, 96)), xy, P, d / "x.png", scale_pm=0), "scale_pm"),
    (lambda xy, P, d: angle_map_figure(xy, P[:, :1], d / "x.png"), r"\(n, 2\)"),
    (lambda xy, P, d: angle_map_figure(xy[:, :1], P, d / "x.png"), r"\(n, 2\)"),
    (lambda xy, P, d: angle_map_figure(xy, np.full_like(P, np.nan), d / "x.png"), "NaN everywhere"),
    (lambda xy, P, d: angle_map_figure(xy, P, d / "x.png", shape=(5,)), "shape"),
    (lambda xy, P, d: comparison_figure(xy, P, P[:5], d / "x.png"), "P_pred has 5 rows"),
])
def test_clear_errors(cells, tmp_path, call, message):
    xy, P = cells
    with pytest.raises(ValueError, match=message):
        call(xy, P, tmp_path)
    assert not (tmp_path / "x.png").exists()
