"""Sub-images for polarization regression: centred and grid windows, grid labels, region split."""

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from stem_datasets.pipeline.subimages import centred_windows, grid_labels, grid_windows, region_split

H, W = 30, 45
IMAGE = np.arange(H * W, dtype=np.float64).reshape(H, W)  # pixel (i, j) holds i * W + j


@pytest.mark.parametrize("w", [5, 6])
def test_whole_pixel_centres_give_plain_slices(w):
    centres = np.array([[10, 12], [w // 2, w // 2], [W - w + w // 2, H - w + w // 2]], float)
    cut = centred_windows(IMAGE, centres, w)
    assert cut.windows.shape == (3, w, w) and cut.windows.dtype == np.float32
    assert cut.dropped == {"outside": 0, "nan": 0} and cut.index.tolist() == [0, 1, 2]
    for (x, y), window in zip(centres.astype(int), cut.windows):
        np.testing.assert_array_equal(window, IMAGE[y - w // 2:y - w // 2 + w, x - w // 2:x - w // 2 + w])
        assert window[w // 2, w // 2] == IMAGE[y, x]  # the centre falls on window pixel (w // 2, w // 2)


def test_sub_pixel_centres_interpolate_bilinearly():
    rng = np.random.default_rng(1)
    image = rng.normal(size=(40, 50))
    centres = rng.uniform(8, 30, size=(20, 2))
    cut = centred_windows(image, centres, 7)
    assert len(cut.windows) == 20
    k = np.arange(7) - 3
    for (x, y), window in zip(centres, cut.windows):
        rows, cols = np.meshgrid(y + k, x + k, indexing="ij")
        expected = map_coordinates(image, [rows, cols], order=1)
        np.testing.assert_allclose(window, expected, atol=1e-5)
    # on the linear ramp the interpolated centre value is the ramp at the exact position
    cut = centred_windows(IMAGE, [[10.25, 12.5]], 5)
    assert cut.windows[0, 2, 2] == pytest.approx(12.5 * W + 10.25)


def test_outside_and_nan_windows_are_dropped_and_counted():
    image = IMAGE.copy()
    image[15, 20] = np.nan
    centres = [[20, 15],      # on the NaN
               [22, 15],      # NaN inside its 5 x 5 window
               [23.5, 15],    # sub-pixel: uses columns 21..26, clear of the NaN
               [22.5, 15],    # uses column 20 (weight 0.5): touches the NaN
               [1, 10],       # sticks out on the left
               [W - 2.5, 10], # sticks out on the right once interpolated
               [10, 10]]
    cut = centred_windows(image, centres, 5)
    assert cut.dropped == {"outside": 2, "nan": 3}
    assert cut.index.tolist() == [2, 6]
    assert np.all(np.isfinite(cut.windows))
    np.testing.assert_array_equal(cut.centres_xy, np.asarray(centres)[[2, 6]])


def test_grid_windows_match_centred_windows_and_drop_nan():
    image = IMAGE.copy()
    image[0, 0] = np.nan
    grid = grid_windows(image, 8, 4)
    n_rows, n_cols = (H - 8) // 4 + 1, (W - 8) // 4 + 1
    assert grid.dropped == {"outside": 0, "nan": 1} and len(grid.windows) == n_rows * n_cols - 1
    assert grid.index[0] == 1  # the top-left window (index 0) holds the NaN
    again = centred_windows(image, grid.centres_xy, 8)
    np.testing.assert_array_equal(again.windows, grid.windows)
    x, y = grid.centres_xy[5].astype(int)
    np.testing.assert_array_equal(grid.windows[5], image[y - 4:y + 4, x - 4:x + 4])


def test_grid_labels_take_the_nearest_cell():
    cells = np.array([[5.0, 5.0], [15.0, 5.0], [5.0, 15.0]])
    values = np.array([[1.0, -1.0], [2.0, -2.0], [3.0, -3.0]])
    labels, distance = grid_labels([[6, 4], [14, 7], [4, 13], [28, 30]], cells, values)
    np.testing.assert_array_equal(labels[:, 0], [1, 2, 3, 3])
    np.testing.assert_allclose(distance[:3], [np.sqrt(2), np.sqrt(5), np.sqrt(5)])
    labels, _ = grid_labels([[6, 4], [30, 30]], cells, values[:, 0], max_distance_px=5)
    assert labels[0] == 1 and np.isnan(labels[1])
    with pytest.raises(ValueError, match="rows for"):
        grid_labels([[1, 1]], cells, values[:2])


def _pixels(centre_xy, w):
    """Pixels (row, col) a window uses, from its cut."""
    x, y = centre_xy
    r0, c0 = int(np.floor(y - w // 2)), int(np.floor(x - w // 2))
    extra_r, extra_c = int(y != np.floor(y)), int(x != np.floor(x))
    return {(r, c) for r in range(r0, r0 + w + extra_r) for c in range(c0, c0 + w + extra_c)}


@pytest.mark.parametrize("axis,margin", [(1, 0), (0, 0), (1, 3)])
def test_region_split_shares_no_pixel_across_the_cut(axis, margin):
    shape, w = (90, 120), 10
    rng = np.random.default_rng(axis + margin)
    centres = np.concatenate([grid_windows(np.zeros(shape), w, 2).centres_xy, rng.uniform(5, 80, size=(300, 2))])
    split = region_split(centres, shape, w, axis=axis, margin_px=margin)
    assert not np.any(split["train"] & split["test"])
    np.testing.assert_array_equal(split["dropped"], ~(split["train"] | split["test"]))
    train = set().union(*(_pixels(c, w) for c in centres[split["train"]]))
    test = set().union(*(_pixels(c, w) for c in centres[split["test"]]))
    assert not train & test
    cut = round(2 / 3 * shape[axis])
    gap = min(p[axis] for p in test) - max(p[axis] for p in train) - 1
    assert gap >= 2 * margin and max(p[axis] for p in train) < cut - margin
    grid = split["train"][:len(centres) - 300].sum(), split["test"][:len(centres) - 300].sum()
    assert grid[0] / sum(grid) == pytest.approx(2 / 3, abs=0.08)


@pytest.mark.parametrize("call,message", [
    (lambda: centred_windows(np.zeros((4, 5, 6)), [[2, 2]], 4), "2-D"),
    (lambda: centred_windows(np.zeros((10, 10)), [[5, 5]], 11), "does not fit"),
    (lambda: centred_windows(np.zeros((10, 10)), [[5, 5]], 3), "at least 4"),
    (lambda: centred_windows(np.zeros((10, 10)), [[5, np.nan]], 4), "NaN or infinite"),
    (lambda: centred_windows(np.zeros((10, 10)), [5, 5], 4), r"\(n, 2\)"),
    (lambda: grid_windows(np.zeros((10, 10)), 4, 0), "step_px"),
    (lambda: grid_windows(np.zeros(10), 4, 1), "2-D"),
    (lambda: region_split([[5, 5]], (10, 10), 4, fraction=1.2), "fraction"),
    (lambda: region_split([[5, 5]], (10, 10), 4, axis=2), "axis"),
    (lambda: region_split([[5, 5]], (10, 10), 4, margin_px=-1), "margin_px"),
])
def test_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_no_centres_give_no_windows():
    cut = centred_windows(IMAGE, np.zeros((0, 2)), 6)
    assert cut.windows.shape == (0, 6, 6) and cut.dropped == {"outside": 0, "nan": 0}
