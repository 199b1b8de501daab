"""Square sub-images of a micrograph for polarization regression, their labels and a region split.

Seed: Ghosh et al., npj Comput. Mater. 7, 149 (2021). Sub-images are cut either centred on
atom columns found beforehand (:func:`centred_windows`) or on a regular grid without atom
finding (:func:`grid_windows`, labelled by :func:`grid_labels`); :func:`region_split` splits
them by region of the image so that no pixel is shared between train and test.

Conventions:

* Positions are (x, y) in pixels: x = column index, y = row index, pixel (i, j) centred at
  x = j, y = i (as :class:`stem_zoo.tasks.atoms.locate.AtomColumns`).
* A window of ``w`` px centred at (x, y) samples the points ``(x + k - w // 2, y + l - w // 2)``,
  k, l = 0 .. w - 1: the centre falls on window pixel (w // 2, w // 2) (the exact middle
  for odd w, the lower-right of the middle four for even w).
* Sub-pixel centres are interpolated bilinearly (the same numbers as
  ``scipy.ndimage.map_coordinates(order=1)``); the window is thus centred exactly on the
  position. At whole-pixel centres a window is a plain slice of the image.
* A window *uses* the pixels with non-zero interpolation weight: rows ``floor(y - w // 2)``
  to ``floor(y - w // 2) + w - 1``, plus one more if y is not whole (columns likewise). A
  window is dropped if a pixel it uses is outside the image ("outside") or NaN ("nan").

Example:
    >>> image = np.arange(100.0).reshape(10, 10)
    >>> cut = centred_windows(image, [[4, 4], [4.5, 4], [1, 1]], window_px=4)
    >>> cut.windows[0].tolist() == image[2:6, 2:6].tolist(), float(cut.windows[1][0, 0]), cut.index.tolist()
    (True, 22.5, [0, 1])
    >>> cut.dropped  # the window at (1, 1) would reach past the top-left corner
    {'outside': 1, 'nan': 0}
    >>> grid = grid_windows(image, window_px=4, step_px=3)
    >>> len(grid.windows), grid.centres_xy[:2].tolist()
    (9, [[2.0, 2.0], [5.0, 2.0]])
    >>> split = region_split([[2, 5], [19, 5], [25, 5]], shape=(10, 30), window_px=4)  # cut at x = 20
    >>> {name: mask.tolist() for name, mask in split.items()}
    {'train': [True, False, False], 'test': [False, False, True], 'dropped': [False, True, False]}
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

MIN_WINDOW_PX = 4


class SubImages(NamedTuple):
    """Windows (n, w, w) float32, their centres (n, 2) (x, y) [px], their indices and the drop counts.

    ``index``: for :func:`centred_windows` the indices of the kept centres in the input; for
    :func:`grid_windows` the row-major indices in the full grid of
    ``((H - w) // step + 1, (W - w) // step + 1)`` windows. ``dropped``: {"outside": n, "nan": n}.
    """

    windows: np.ndarray
    centres_xy: np.ndarray
    index: np.ndarray
    dropped: dict


def _check_window(window_px, shape: tuple[int, ...]) -> int:
    if int(window_px) != window_px or window_px < MIN_WINDOW_PX:
        raise ValueError(f"window_px must be a whole number of at least {MIN_WINDOW_PX} pixels, got {window_px!r}.")
    if len(shape) == 2 and window_px > min(shape):
        raise ValueError(f"a window of {window_px} px does not fit in the image of {shape[0]} x {shape[1]} px.")
    return int(window_px)


def _check_centres(centres_xy) -> np.ndarray:
    centres = np.asarray(centres_xy, dtype=np.float64)
    if centres.size == 0:
        return centres.reshape(0, 2)
    if centres.ndim != 2 or centres.shape[1] != 2:
        raise ValueError(f"centres must be an (n, 2) array of (x, y) pixel positions, got shape {centres.shape}.")
    if not np.all(np.isfinite(centres)):
        raise ValueError(f"{int(np.sum(~np.isfinite(centres).all(axis=1)))} centres are NaN or infinite; "
                         "remove them first.")
    return centres


def _footprint(position: np.ndarray, window_px: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First and last pixel a window uses along one axis, and the interpolation fraction."""
    start = position - window_px // 2
    first = np.floor(start + 1e-9).astype(np.int64)  # a centre a hair below a whole pixel counts as whole
    fraction = np.clip(start - first, 0.0, 1.0)
    fraction[fraction < 1e-9] = 0.0
    return first, first + window_px - 1 + (fraction > 0), fraction


def centred_windows(image, centres_xy, window_px: int) -> SubImages:
    """Windows of ``window_px`` px centred exactly on sub-pixel ``centres_xy`` (x, y) [px] (bilinear)."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D array (rows, columns), got shape {image.shape}.")
    w = _check_window(window_px, image.shape)
    centres = _check_centres(centres_xy)
    (r0, r1, fy), (c0, c1, fx) = _footprint(centres[:, 1], w), _footprint(centres[:, 0], w)
    inside = (r0 >= 0) & (c0 >= 0) & (r1 < image.shape[0]) & (c1 < image.shape[1])
    nan = np.isnan(image)
    table = np.pad(np.cumsum(np.cumsum(nan, axis=0), axis=1), ((1, 0), (1, 0)))  # summed-area table of NaN pixels
    rr0, rr1, cc0, cc1 = (np.where(inside, v, 0) for v in (r0, r1 + 1, c0, c1 + 1))
    touches = inside & ((table[rr1, cc1] - table[rr0, cc1] - table[rr1, cc0] + table[rr0, cc0]) > 0)
    keep = np.flatnonzero(inside & ~touches)
    padded = np.pad(np.where(nan, 0.0, image.astype(np.float64)), ((0, 1), (0, 1)))  # weight-0 neighbours stay finite
    windows = np.empty((len(keep), w, w), np.float32)
    offsets = np.arange(w + 1)
    chunk = max(1, 2**22 // (w + 1) ** 2)  # about 32 MB per temporary, however many windows
    for start in range(0, len(keep), chunk):
        k = keep[start:start + chunk]
        block = padded[(r0[k, None] + offsets)[:, :, None], (c0[k, None] + offsets)[:, None, :]]
        y, x = fy[k, None, None], fx[k, None, None]
        windows[start:start + len(k)] = ((1 - y) * ((1 - x) * block[:, :w, :w] + x * block[:, :w, 1:])
                                         + y * ((1 - x) * block[:, 1:, :w] + x * block[:, 1:, 1:]))
    dropped = {"outside": int(np.sum(~inside)), "nan": int(np.sum(touches))}
    return SubImages(windows, centres[keep], keep, dropped)


def grid_windows(image, window_px: int, step_px: int) -> SubImages:
    """Windows on a regular grid, top-left corners at multiples of ``step_px``; NaN-touching ones are dropped.

    The centre of the window with top-left pixel (i, j) is x = j + w // 2, y = i + w // 2, so
    :func:`centred_windows` at these centres gives the same windows.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D array (rows, columns), got shape {image.shape}.")
    w = _check_window(window_px, image.shape)
    if int(step_px) != step_px or step_px < 1:
        raise ValueError(f"step_px must be a whole number of at least 1 pixel, got {step_px!r}.")
    rows = np.arange(0, image.shape[0] - w + 1, int(step_px)) + w // 2
    cols = np.arange(0, image.shape[1] - w + 1, int(step_px)) + w // 2
    y, x = np.meshgrid(rows, cols, indexing="ij")
    return centred_windows(image, np.stack([x.ravel(), y.ravel()], axis=1).astype(np.float64), w)


def grid_labels(centres_xy, cell_xy, cell_values, max_distance_px: float | None = None):
    """Label of each window = the value of the cell nearest its centre; returns (labels, distances [px]).

    As the seed's sub-images cut without atom finding, a grid window carries the polarization
    of the cell (e.g. the Fe column) it sits on: the one nearest its centre (scipy cKDTree,
    Euclidean distance in pixels; an exact tie goes to either cell). ``cell_values`` is (m,) or
    (m, k). With ``max_distance_px``, windows farther than that from every cell get NaN labels.
    """
    from scipy.spatial import cKDTree

    centres, cells = _check_centres(centres_xy), _check_centres(cell_xy)
    values = np.asarray(cell_values, dtype=np.float64)
    if len(cells) == 0:
        raise ValueError("cell_xy is empty: there is no cell to take a label from.")
    if len(values) != len(cells):
        raise ValueError(f"cell_values has {len(values)} rows for {len(cells)} cells.")
    distance, nearest = cKDTree(cells).query(centres, k=1)
    labels = values[nearest]
    if max_distance_px is not None:
        labels[distance > max_distance_px] = np.nan
    return labels, distance


def region_split(centres_xy, shape, window_px: int, fraction: float = 2 / 3, axis: int = 1,
                 margin_px: int = 0) -> dict[str, np.ndarray]:
    """Boolean masks "train", "test" and "dropped" of windows by region of an image of ``shape`` (rows, cols).

    The cut is at pixel k = round(fraction * shape[axis]) along ``axis`` (1: x, columns; 0: y,
    rows). Train windows use only pixels < k - margin_px, test windows only pixels >=
    k + margin_px (pixels used as in :func:`centred_windows`), so no pixel is shared across
    the cut and a band of 2 * margin_px pixels around it is unused. Windows straddling the
    band are in "dropped" (count: ``split["dropped"].sum()``).
    """
    centres = _check_centres(centres_xy)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be the image's (rows, columns), got {shape!r}.")
    w = _check_window(window_px, tuple(shape))
    if axis not in (0, 1):
        raise ValueError(f"axis must be 1 (split along x, the columns) or 0 (along y, the rows), got {axis!r}.")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction!r}.")
    if int(margin_px) != margin_px or margin_px < 0:
        raise ValueError(f"margin_px must be a whole number of pixels >= 0, got {margin_px!r}.")
    cut = int(round(fraction * shape[axis]))
    first, last, _ = _footprint(centres[:, 1 - axis], w)  # axis 1 (columns) -> x, the first coordinate
    train = last < cut - margin_px
    test = first >= cut + margin_px
    return {"train": train, "test": test, "dropped": ~(train | test)}


