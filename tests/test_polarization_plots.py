"""Polarization figures: quiver, colour-wheel angle map and truth/prediction comparison."""

import numpy as np
import pytest

from stem_zoo.tasks.polarization.plots import angle_colours, angle_map_figure, cell_spacing, comparison_figure, quiver_figure


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
    return pixels


ORANGE, BLUE = (1.0, 0.75, 0.0), (0.0, 0.25, 1.0)  # hsv hues of P at +45 deg (left cells) and -135 deg (right cells)


def _png_colour(pixels, ax, x, y):
    """RGB of the saved PNG (saved_figures at the figure's dpi) where data point (x, y) of ``ax`` lands."""
    col, row = ax.transData.transform((x, y))
    return pixels[int(round(pixels.shape[0] - row)), int(round(col)), :3]


def test_quiver_figure(cells, tmp_path, saved_figures):
    from matplotlib.colors import rgb_to_hsv
    from matplotlib.quiver import Quiver

    xy, P = cells
    image = np.random.default_rng(0).normal(size=(72, 96))
    out = quiver_figure(image, xy, P, tmp_path / "quiver.png", pixel_size=0.2, title="synthetic")
    assert out == tmp_path / "quiver.png"
    _check_png(out)
    _check_png(quiver_figure(image[..., None], xy, P, tmp_path / "key.png", scale_pm=50))
    (fig, key_fig) = saved_figures
    ax, wheel = fig.axes
    assert ax.get_title() == "synthetic" and wheel.get_title() == "direction"
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), image, rtol=1e-6)  # the micrograph under the arrows
    ok = np.all(np.isfinite(P), axis=1)
    (arrows,) = [c for c in ax.collections if isinstance(c, Quiver)]
    assert arrows.N == ok.sum() == len(P) - 1  # one arrow per cell with a value
    # 30 pm is half the 12 px cell spacing: an arrow of P [pm] is P * 6 / 30 px along (x, y) of the image.
    np.testing.assert_allclose(np.stack([arrows.U, arrows.V], axis=1), P[ok] * 6 / 30, atol=1e-9)
    hue = rgb_to_hsv(arrows.get_facecolors()[:, :3])[:, 0]
    np.testing.assert_allclose(hue, np.where(xy[ok, 0] < 50, 1 / 8, 5 / 8), atol=1e-6)  # direction as seen on the image
    (key_arrows,) = [c for c in key_fig.axes[0].collections if isinstance(c, Quiver)]
    np.testing.assert_allclose(key_arrows.U, P[ok, 0] * 6 / 50, atol=1e-9)  # scale_pm=50: shorter arrows
    assert key_fig.axes[0].get_title() == f"polarization, {ok.sum()} cells"


def test_angle_map_and_comparison_figures(cells, tmp_path, saved_figures):
    xy, P = cells
    pixels = _check_png(angle_map_figure(xy, P, tmp_path / "angle.png", shape=(72, 96), title="angles"))
    _check_png(angle_map_figure(xy, P, tmp_path / "auto.png", max_pm=50))
    noisy = P + np.random.default_rng(1).normal(scale=4, size=P.shape)
    compare = _check_png(comparison_figure(xy, P, noisy, tmp_path / "compare.png", shape=(72, 96)))
    angle, dim, comparison = saved_figures
    ax, wheel = angle.axes
    assert ax.get_title() == "angles" and wheel.get_title() == "radius 30 pm"
    rgba = np.asarray(ax.images[0].get_array())
    assert rgba.shape == (72, 96, 4)  # one pixel per micrograph pixel
    np.testing.assert_allclose(rgba[6, 6], [*ORANGE, 1])  # cell 0 at (6, 6): +45 deg, the largest |P|
    np.testing.assert_allclose(rgba[66, 90], [*BLUE, 1])  # the last cell: -135 deg
    assert rgba[6, 42, 3] == 0  # cell 3 has no value: transparent, the grey face shows
    # The saved PNG shows those colours at those cells.
    np.testing.assert_allclose(_png_colour(pixels, ax, 6, 6), ORANGE, atol=0.02)
    np.testing.assert_allclose(_png_colour(pixels, ax, 90, 66), BLUE, atol=0.02)
    np.testing.assert_allclose(_png_colour(pixels, ax, 42, 6), 0.85, atol=0.02)
    # max_pm=50: a 30 pm vector is saved_figures at 30/50 of full value.
    assert dim.axes[1].get_title() == "radius 50 pm"
    np.testing.assert_allclose(np.asarray(dim.axes[0].images[0].get_array())[6, 6, :3], 0.6 * np.array(ORANGE))
    # Comparison: truth, prediction, difference (with its colour bar) and the wheel.
    truth, prediction, difference, colour_bar, comparison_wheel = comparison.axes
    error = np.hypot(*(noisy - P).T)
    assert [truth.get_title(), prediction.get_title()] == ["truth", "prediction"]
    assert difference.get_title() == f"difference, mean {np.nanmean(error):.3g} pm"
    assert colour_bar.get_ylabel() == "|P_pred - P_true| [pm]" and comparison_wheel.get_title().startswith("radius")
    np.testing.assert_allclose(np.asarray(difference.images[0].get_array())[6, 6], error[0])
    np.testing.assert_allclose(np.asarray(difference.images[0].get_array())[66, 90], error[-1])
    assert not np.array_equal(truth.images[0].get_array(), prediction.images[0].get_array())
    from matplotlib.colors import rgb_to_hsv

    hues = [rgb_to_hsv(_png_colour(compare, panel, x, y))[0] for panel in (truth, prediction) for x, y in ((6, 6), (90, 66))]
    expected = [(np.arctan2(v[i, 1], v[i, 0]) / (2 * np.pi)) % 1 for v in (P, noisy) for i in (0, -1)]
    np.testing.assert_allclose(hues, expected, atol=0.01)  # both panels saved_figures in the PNG, hue = direction


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
