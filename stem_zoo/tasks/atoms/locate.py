"""Atomic columns of a micrograph: sub-pixel positions and classes, from ``atom_fcn`` or a classical baseline.

:func:`locate_atoms` runs the fully convolutional ``atom_fcn`` (:mod:`stem_zoo.tasks.atoms.model`):

1. Resample the image from its ``pixel_size`` to the model's (:func:`stem_zoo.micrograph.resample_to`),
   standardize it (zero mean, unit std), reflect-pad it to a multiple of 8 px and run the
   network, in overlapping tiles for large images (:func:`predict_probabilities`).
2. The network proposes columns in its per-pixel class probabilities (:func:`columns_from_probabilities`):
   pixels whose column probability 1 - p(background) exceeds ``threshold`` form blobs; blobs
   holding several maxima at least ``min_separation_A`` apart are split by a watershed; each
   proposal sits at the centroid of its blob weighted by (probability - threshold) and gets
   the network's class (``network_class``: its light / intermediate / heavy).
3. Each position is measured on the image (:mod:`stem_zoo.tasks.atoms.refine`: a 2-D Gaussian
   fit, combined with the proposal by inverse variance; ``position_stderr_A`` its standard
   error), so a column off the site a lattice would give is found where it is.
4. Each column's class is **relative**: columns are grouped by their peak intensity within the
   image (:mod:`stem_zoo.tasks.atoms.sublattices`, Gaussian mixtures, BIC), ``sublattice 1``
   the dimmest. One image cannot tell an atomic number (a long light column can match a short
   heavy one); it can tell which columns look alike.
5. Map the positions back to the input's pixels (x = column index, y = row index, pixel
   (i, j) centred at x = j, y = i) and to angstrom.

:class:`LoGBaseline` (:func:`locate_columns_log`) is the classical alternative: peaks of the
Laplacian-of-Gaussian filtered image, each refined by a 2-D Gaussian fit; positions only.
Both return :class:`AtomColumns`; :mod:`stem_zoo.tasks.atoms.metrics` scores them.

Example (a synthetic image of Gaussian peaks, not a micrograph):
    >>> yy, xx = np.mgrid[0:48, 0:48]
    >>> image = sum(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.5 ** 2)) for x, y in [(12.3, 20.6), (30.8, 25.1)])
    >>> found = LoGBaseline(column_width_A=0.7, detector="haadf").locate(image, pixel_size=0.2)
    >>> np.round(found.xy, 2).tolist(), found["x_A"].round(2).tolist()
    ([[12.3, 20.6], [30.8, 25.1]], [2.46, 6.16])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from stem_zoo.hub import resolve_model
from stem_zoo.micrograph import check_image, check_pixel_size, resample_for_model
from stem_zoo.registry import InputSpec
from stem_zoo.micrograph import standardize
from stem_zoo.tasks.atoms.refine import fit_gaussian_peaks
from stem_zoo.tasks.atoms.spec import CLASSES, DEFAULT_INPUT, MIN_SIDE_PX, detector_sign, oriented
from stem_zoo.tasks.atoms.sublattices import GROUP_NAMES

CLASS_COLOURS = {"light": "tab:cyan", "intermediate": "tab:orange", "heavy": "tab:red", "column": "gold",
                 **dict(zip(GROUP_NAMES, ("tab:cyan", "tab:green", "tab:orange", "tab:red")))}
GROUPS = ("background", *GROUP_NAMES)  # the classes locate_atoms reports: relative sublattices, dimmest first
UNCLASSIFIED = -1  # class_id of columns found without a class (the LoG baseline); class_name "column"
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))

# Position refinement on the image (locate_atoms): the starting Gaussian width of a column (sigma 0.35 A, FWHM 0.8 A),
# how far a fit may move from the network's position, and the standard error given to that position.
COLUMN_SIGMA_A = 0.35
MAX_REFINE_SHIFT_A = 0.5
PRIOR_SIGMA_A = 0.06
# Each fit's window (half-width) and the fraction of the distance to the nearest other column within which its pixels
# count (refine.py: chosen on stem_atom_columns/small validation; 0.4 is also atomap's percent_to_nn).
REFINE_RADIUS_A = 0.8
NEIGHBOUR_FRACTION = 0.4
# Disc over which a column's intensity is averaged for its relative class (sublattices.py): its peak, where columns of
# different kinds differ most (on an ABF LaAlO3 field the grouping purity was 0.98 at 0.2 A and 0.76 at 0.3-0.6 A).
GROUP_RADIUS_A = 0.2
COLUMN_FIELDS = [("x", "f8"), ("y", "f8"), ("x_A", "f8"), ("y_A", "f8"), ("class_id", "i4"),
                 ("class_name", "U12"), ("probability", "f4")]


@dataclass(frozen=True)
class AtomColumns:
    """Columns found in one image, on the input image's pixel grid.

    ``columns`` is a structured array, one row per column: ``x``, ``y`` [px] (x = column
    index, y = row index, pixel centres at whole numbers), ``x_A``, ``y_A`` [A] (= x, y times
    ``pixel_size``), ``class_id`` (index into ``classes``; -1 without a class),
    ``class_name``, ``probability`` (mean column probability 1 - p(background) over the
    column's blob; NaN for the baseline); for ``atom_fcn`` ``class_name`` is the relative
    sublattice ("sublattice 1" the dimmest of this image), ``position_stderr_A`` the position's
    standard error and ``network_class`` the network's own light / intermediate / heavy (trained on
    Z ranges, but a standardized image shows relative contrast); for the LoG baseline ``response``
    (peak LoG response, image std units) and ``sigma_A`` (fitted Gaussian width, NaN if not refined).
    ``probabilities`` (H, W, len(classes)) are the per-pixel class probabilities on the
    input's grid (None for the baseline); ``classified`` is False for a method that gives
    positions only. Index by field name like a DataFrame column:
    ``result["x_A"]``; :meth:`to_pandas` gives a DataFrame.
    """

    columns: np.ndarray
    image: np.ndarray
    pixel_size: float
    probabilities: np.ndarray | None = None
    method: str = ""
    classes: tuple[str, ...] = CLASSES
    settings: dict = field(default_factory=dict)
    classified: bool = True  # False: positions only (every class_id is -1)

    def __len__(self) -> int:
        return len(self.columns)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    @property
    def xy(self) -> np.ndarray:
        """(n, 2) positions (x, y) [px]."""
        return np.stack([self.columns["x"], self.columns["y"]], axis=-1).reshape(-1, 2)

    @property
    def counts(self) -> dict[str, int]:
        """Number of columns per class name."""
        names, counts = np.unique(self.columns["class_name"], return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts)}

    def to_pandas(self):
        """The column table as a pandas DataFrame (pandas must be installed)."""
        import pandas as pd

        return pd.DataFrame({name: self.columns[name] for name in self.columns.dtype.names})


def column_table(x, y, pixel_size: float, class_id=None, probability=None, classes: tuple[str, ...] = CLASSES,
                 extra: dict | None = None) -> np.ndarray:
    """The structured array of :class:`AtomColumns` from positions [px], classes and probabilities.

    >>> column_table([1.0], [2.0], 0.5, class_id=[3])[["x_A", "y_A", "class_name"]].tolist()
    [(0.5, 1.0, 'heavy')]
    """
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    extra = extra or {}
    table = np.zeros(len(x), dtype=COLUMN_FIELDS + [(k, _extra_dtype(v)) for k, v in extra.items()])
    table["x"], table["y"] = x, y
    table["x_A"], table["y_A"] = x * pixel_size, y * pixel_size
    ids = np.full(len(x), UNCLASSIFIED) if class_id is None else np.asarray(class_id, int).ravel()
    table["class_id"] = ids
    table["class_name"] = [classes[i] if 0 <= i < len(classes) else "column" for i in ids]
    table["probability"] = np.nan if probability is None else np.asarray(probability, float).ravel()
    for key, values in extra.items():
        table[key] = values
    return table


def _extra_dtype(values) -> str:
    return "U12" if np.asarray(values).dtype.kind in "US" else "f4"


# --- atom_fcn -------------------------------------------------------------------------------------------------------


def locate_atoms(image, model="atom_fcn", pixel_size: float | None = None, threshold: float = 0.5,
                 min_separation_A: float = 1.0, tile_px: int = 512, batch_size: int = 4,
                 model_pixel_size: float | None = None, refine: bool = True,
                 prior_sigma_A: float | None = PRIOR_SIGMA_A, detector: str = "auto") -> AtomColumns:
    """Columns (positions, classes, probabilities) of a micrograph with ``pixel_size`` A/px (required).

    ``model``: a zoo id, a model folder or ``hf://`` URI (:func:`stem_zoo.load`), a run's
    ``.keras`` file (:func:`stem_zoo.hub.load` with ``task="atoms"``), a Keras model, or a callable mapping
    standardized images (n, h, w, 1), h and w multiples of 8, to class probabilities
    (n, h, w, 4). Its pixel size is its zoo entry's, else
    ``model_pixel_size``, else 0.2 A (the ``stem_atom_columns`` images').
    ``threshold``: minimum column probability 1 - p(background) of a column's pixels.
    ``min_separation_A``: maxima closer than this are one column.
    ``tile_px``: larger images (after resampling) go through the network in overlapping tiles
    of this size (a multiple of 8); tiles overlap by 64 px, more than the receptive field
    reaches, so tiling does not change the result.
    ``refine``: measure each column's position on the image (:func:`stem_zoo.tasks.atoms.refine.refine_columns`:
    a Gaussian fit per column, combined with the network's position, whose standard error is
    taken as ``prior_sigma_A``; None: the fit alone); False: the network's
    positions (the centroids of its probability blobs), as ``atom_fcn`` 0.x gave them.
    ``detector``: "haadf" (bright columns) or "abf" (dark columns: the image is negated before the
    network, which was trained on images with their columns bright); "auto" guesses from the image's
    skew (:func:`stem_zoo.tasks.atoms.spec.detector_sign`). What counts is the columns' contrast: an
    ABF image of a thin specimen whose columns show bright (at some defoci) goes in as "haadf".

    >>> from stem_zoo.tasks.atoms.model import build_atom_fcn
    >>> result = locate_atoms(np.random.default_rng(0).random((40, 50)), build_atom_fcn(), pixel_size=0.25)
    >>> result.probabilities.shape, result.columns.dtype.names[:4]
    ((40, 50, 4), ('x', 'y', 'x_A', 'y_A'))
    """
    check_pixel_size(pixel_size)
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be a probability in (0, 1), got {threshold!r}.")
    raw = check_image(image)
    model = resolve_model(model, "atoms")
    zoo = getattr(model, "zoo", None)
    spec: InputSpec = zoo.entry.input if zoo else DEFAULT_INPUT
    target = float(model_pixel_size) if (model_pixel_size is not None and not zoo) else spec.pixel_size
    resampled = resample_for_model(raw, pixel_size, target, MIN_SIDE_PX,
                                   f"each side needs at least {MIN_SIDE_PX} px ({MIN_SIDE_PX * target:.1f} A), the "
                                   "smallest image the network's three poolings can take")
    columns_bright = standardize(oriented(resampled, detector))
    probabilities = predict_probabilities(_probability_predictor(model), columns_bright, tile_px, batch_size)
    table = read_columns(probabilities, columns_bright, target, threshold, min_separation_A, refine, prior_sigma_A)
    scale_y, scale_x = ((n_in - 1) / (n_out - 1) if n_out > 1 else 1.0
                        for n_in, n_out in zip(raw.shape, resampled.shape))
    x, y = table["x"] * scale_x, table["y"] * scale_y  # zoom maps the first and last pixels onto each other
    if resampled.shape != raw.shape:
        from scipy.ndimage import zoom

        factors = [n_in / n_out for n_in, n_out in zip(raw.shape, resampled.shape)] + [1]
        probabilities = zoom(probabilities, factors, order=1, mode="nearest", grid_mode=False)
        probabilities = probabilities[:raw.shape[0], :raw.shape[1]]
    columns = fcn_column_table(table, x, y, float(pixel_size), target)
    name = zoo.entry.id if zoo else getattr(model, "name", "model")
    return AtomColumns(columns, raw, float(pixel_size), probabilities.astype(np.float32), name, GROUPS,
                       {"threshold": threshold, "min_separation_A": min_separation_A, "model_pixel_size": target,
                        "refine": refine, "detector": detector,
                        "prior_sigma_A": np.nan if prior_sigma_A is None else prior_sigma_A})


def read_columns(probabilities: np.ndarray, standardized: np.ndarray, pixel_size: float, threshold: float = 0.5,
                 min_separation_A: float = 1.0, refine: bool = True, prior_sigma_A: float | None = PRIOR_SIGMA_A):
    """Columns (x, y [px], class_id, probability, stderr_px) from a network's probabilities and the image it saw.

    :func:`columns_from_probabilities` proposes them; with ``refine`` each position is then
    measured on ``standardized`` (:func:`stem_zoo.tasks.atoms.refine.refine_columns`), the image
    oriented by its correlation with the column probability (bright or dark columns).
    ``stderr_px`` is the position's standard error (NaN without ``refine``).
    """
    from numpy.lib import recfunctions

    from stem_zoo.tasks.atoms.refine import orientation, refine_columns
    from stem_zoo.tasks.atoms.sublattices import group_columns

    table = columns_from_probabilities(probabilities, threshold, min_separation_A / pixel_size)
    stderr = np.full(len(table), np.nan)
    sign = orientation(standardized, 1.0 - probabilities[..., 0])
    if refine and len(table):
        fits = refine_columns(standardized, np.stack([table["x"], table["y"]], axis=-1), COLUMN_SIGMA_A / pixel_size,
                              sign, max_shift_px=MAX_REFINE_SHIFT_A / pixel_size,
                              prior_sigma_px=None if prior_sigma_A is None else prior_sigma_A / pixel_size,
                              radius_px=max(2, round(REFINE_RADIUS_A / pixel_size)),
                              neighbour_fraction=NEIGHBOUR_FRACTION)
        table["x"], table["y"], stderr = fits.xy[:, 0], fits.xy[:, 1], fits.stderr
    groups = group_columns(sign * standardized, np.stack([table["x"], table["y"]], axis=-1),
                           max(GROUP_RADIUS_A / pixel_size, 1.0))
    return recfunctions.append_fields(table, ("stderr_px", "group"), (stderr, groups), usemask=False)


def fcn_column_table(table: np.ndarray, x, y, pixel_size: float, model_pixel_size: float) -> np.ndarray:
    """The :class:`AtomColumns` table of :func:`read_columns`' columns at positions (x, y) [px] of the input:
    ``class_id`` / ``class_name`` the relative sublattice, ``network_class`` the network's own class."""
    return column_table(x, y, pixel_size, table["group"], table["probability"], GROUPS,
                        extra={"position_stderr_A": table["stderr_px"] * model_pixel_size,
                               "network_class": np.array(CLASSES)[table["class_id"]]})


class ShippedAtomFinder:
    """A zoo atom model as ``stem_datasets``' atom finder (entry point ``stem_datasets.atom_finders``).

    >>> ATOM_FCN_FINDER.identity()["model"], len(ATOM_FCN_FINDER.identity()["sha256"])
    ('atom_fcn', 64)
    """

    def __init__(self, model_id: str):
        self.model_id = model_id

    def __call__(self, image, pixel_size: float) -> np.ndarray:
        """(n, 2) column positions (x, y) [px] found by :func:`locate_atoms`."""
        # refine=False: blob positions, as stem_bfo_polarization 1.x was built with (issue 27 rebuilds it); HAADF fields
        return locate_atoms(image, self.model_id, pixel_size=pixel_size, refine=False, detector="haadf").xy

    def identity(self) -> dict:
        """The model id, hub revision and weights' checksum."""
        import json

        from stem_zoo.registry import FOLDERS

        config = json.loads((FOLDERS[self.model_id] / "config.json").read_text())
        return {"model": self.model_id, "hub_revision": config["entry"]["hub_revision"], "sha256": config.get("sha256")}


ATOM_FCN_FINDER = ShippedAtomFinder("atom_fcn")


def _probability_predictor(model) -> Callable[[np.ndarray], np.ndarray]:
    from stem_zoo.benchmarking import as_predictor

    def check(keras_model) -> None:
        shape = tuple(keras_model.output_shape)
        if len(shape) != 4 or shape[-1] != len(CLASSES):
            raise ValueError(f"model {getattr(keras_model, 'name', '')!r} outputs {shape}, not per-pixel probabilities "
                             f"of {len(CLASSES)} classes (n, h, w, {len(CLASSES)}); pass an atom_fcn model.")

    return as_predictor(model, check, f"images (n, h, w, 1) to probabilities (n, h, w, {len(CLASSES)})")[0]


def predict_probabilities(predict: Callable[[np.ndarray], np.ndarray], image: np.ndarray, tile_px: int = 512,
                          batch_size: int = 4, overlap_px: int = 64, multiple: int = 8) -> np.ndarray:
    """Per-pixel class probabilities (H, W, classes) of a standardized 2-D image.

    The image is reflect-padded at the bottom and right to a multiple of ``multiple`` px; an
    image larger than ``tile_px`` goes through in tiles of ``tile_px`` whose outer
    ``overlap_px`` are discarded (except at the image's edges). Tile corners lie on multiples
    of ``multiple``, so the network's pooling grid is the same as for the whole image.

    >>> flat = lambda x: np.concatenate([np.ones_like(x), x, x, x], axis=-1)  # a stand-in network
    >>> predict_probabilities(flat, np.zeros((20, 30), "float32")).shape
    (20, 30, 4)
    """
    if tile_px % multiple or overlap_px % multiple or tile_px <= 2 * overlap_px:
        raise ValueError(f"tile_px ({tile_px}) and overlap_px ({overlap_px}) must be multiples of {multiple} "
                         "with tile_px > 2 * overlap_px.")
    h, w = image.shape
    pad = ((0, -h % multiple), (0, -w % multiple))
    padded = np.pad(image, pad, mode="reflect" if min(h, w) > multiple else "edge").astype(np.float32)
    H, W = padded.shape
    th, tw = min(tile_px, H), min(tile_px, W)
    windows = [(r0, c0, wr, wc) for r0, wr in _tiles(H, th, overlap_px) for c0, wc in _tiles(W, tw, overlap_px)]
    out = None
    for start in range(0, len(windows), batch_size):
        chunk = windows[start:start + batch_size]
        batch = np.stack([padded[wr:wr + th, wc:wc + tw] for _, _, wr, wc in chunk])[..., None]
        probs = predict(batch)
        if probs.ndim != 4 or probs.shape[:3] != batch.shape[:3]:
            raise ValueError(f"the model mapped images {batch.shape} to {probs.shape}, not to per-pixel "
                             "probabilities of the same height and width.")
        if out is None:
            out = np.zeros((H, W, probs.shape[-1]), np.float32)
        for (r0, c0, wr, wc), p in zip(chunk, probs):
            r1, c1 = _core_end(r0, H, th, overlap_px), _core_end(c0, W, tw, overlap_px)
            out[r0:r1, c0:c1] = p[r0 - wr:r1 - wr, c0 - wc:c1 - wc]
    return out[:h, :w]


def _tiles(n: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """(core start, window start) along one axis: cores of tile - 2 overlap, windows of ``tile`` inside [0, n)."""
    if tile >= n:
        return [(0, 0)]
    core = tile - 2 * overlap
    return [(c0, min(max(c0 - overlap, 0), n - tile)) for c0 in range(0, n, core)]


def _core_end(c0: int, n: int, tile: int, overlap: int) -> int:
    return n if tile >= n else min(c0 + tile - 2 * overlap, n)


def columns_from_probabilities(probabilities: np.ndarray, threshold: float = 0.5, min_separation_px: float = 5.0,
                               smooth_px: float = 1.0, min_pixels: int = 3, support: float = 0.05) -> np.ndarray:
    """Columns (x, y [px], class_id, probability) in per-pixel class probabilities (H, W, classes).

    Class 0 is the background. Pixels with column probability c = 1 - p(background) above
    ``threshold`` form blobs; the maxima of c smoothed by a Gaussian of ``smooth_px`` that are
    at least ``min_separation_px`` apart (stronger first) seed a watershed over the pixels
    with c above ``support``, which splits blobs holding several columns. Each region with at
    least ``min_pixels`` pixels above ``threshold`` is one column at its centroid weighted by
    c - ``support`` (weights that vanish at the region's edge, so that the sub-pixel
    position is not biased by where the edge falls on the pixel grid), of the class with the
    largest summed probability; ``probability`` is the mean c of its pixels above ``threshold``.

    >>> yy, xx = np.mgrid[0:32, 0:32]
    >>> c = np.exp(-((xx - 10.3) ** 2 + (yy - 20.7) ** 2) / 4.5)
    >>> probs = np.stack([1 - c, 0 * c, 0 * c, c], axis=-1)
    >>> t = columns_from_probabilities(probs)
    >>> [round(float(t["x"][0]), 2), round(float(t["y"][0]), 2), int(t["class_id"][0])]
    [10.3, 20.7, 3]
    """
    from scipy import ndimage
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.ndim != 3 or probabilities.shape[-1] < 2:
        raise ValueError(f"probabilities must be (H, W, classes), got shape {probabilities.shape}.")
    column = 1.0 - probabilities[..., 0]
    mask = column > threshold
    empty = np.zeros(0, [("x", "f8"), ("y", "f8"), ("class_id", "i4"), ("probability", "f4")])
    if not mask.any():
        return empty
    smooth = ndimage.gaussian_filter(column, smooth_px) if smooth_px > 0 else column
    blobs, n_blobs = ndimage.label(mask)
    peaks = peak_local_max(smooth, min_distance=1, labels=blobs, exclude_border=False)
    peaks = _suppress(peaks, smooth[tuple(peaks.T)], min_separation_px)
    seeded = np.zeros(n_blobs + 1, bool)
    seeded[blobs[tuple(peaks.T)]] = True
    missing = [i for i in range(1, n_blobs + 1) if not seeded[i]]  # a blob whose maximum sits on its edge
    if missing:
        extra = np.array(ndimage.maximum_position(smooth, blobs, missing), int).reshape(-1, 2)
        peaks = np.concatenate([peaks.reshape(-1, 2), extra])
    markers = np.zeros(column.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    support = min(support, threshold)
    regions = watershed(-smooth, markers, mask=column > support)
    index = np.arange(1, len(peaks) + 1)
    weights = np.where(regions > 0, column - support, 0.0)
    rows, cols = np.indices(column.shape)
    total = ndimage.sum_labels(weights, regions, index)
    size = ndimage.sum_labels(mask.astype(float), regions, index)  # pixels above the threshold
    keep = (size >= min_pixels) & (total > 0)
    if not keep.any():
        return empty
    index, total, size = index[keep], total[keep], size[keep]
    x = ndimage.sum_labels(weights * cols, regions, index) / total
    y = ndimage.sum_labels(weights * rows, regions, index) / total
    class_sums = np.stack([ndimage.sum_labels(probabilities[..., k], regions, index)
                           for k in range(1, probabilities.shape[-1])], axis=-1)
    out = np.zeros(len(index), empty.dtype)
    out["x"], out["y"] = x, y
    out["class_id"] = 1 + np.argmax(class_sums, axis=-1)
    out["probability"] = ndimage.sum_labels(np.where(mask, column, 0.0), regions, index) / size
    order = np.lexsort((out["x"], out["y"]))
    return out[order]


def _suppress(points: np.ndarray, strength: np.ndarray, min_distance: float) -> np.ndarray:
    """The points (n, 2) left when each, strongest first, removes the weaker ones closer than ``min_distance``."""
    from scipy.spatial import cKDTree

    points = np.asarray(points, int).reshape(-1, 2)
    if len(points) < 2 or min_distance <= 0:
        return points
    order = np.argsort(-np.asarray(strength), kind="stable")
    tree = cKDTree(points)
    removed = np.zeros(len(points), bool)
    for i in order:
        if removed[i]:
            continue
        for j in tree.query_ball_point(points[i], min_distance - 1e-9):
            if j != i:
                removed[j] = True
    return points[~removed]


# --- the classical baseline -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoGBaseline:
    """Laplacian-of-Gaussian peak finding with 2-D Gaussian refinement: column positions, no classes.

    Parameters a user sets:
        column_width_A: FWHM of a column's intensity peak [A]; the LoG sigma is FWHM / 2.355
            (0.6-1.0 A for aberration-corrected HAADF; wider for a larger probe or source).
        min_separation_A: of two peaks closer than this, only the stronger is kept [A]
            (about 1 A: the closest columns, e.g. Si [110] dumbbells, are 1.36 A apart).
        detector: "haadf" (bright columns), "abf" (dark columns on a bright background: the
            image is inverted) or "auto" (inverted when its intensity skews negative).
        threshold: a peak's LoG response must exceed this fraction of the 99.5th percentile
            of the response (0-1; lower finds weaker, e.g. light, columns and more noise).
        refine: fit b + A exp(-r^2 / 2 s^2) to the (standardized, oriented) image in a
            square window of half-width 1.5 sigma (at least 2 px) around each peak, all peaks
            at once (:func:`fit_gaussian_peaks`, Levenberg-Marquardt); a fit that fails or
            moves 1.5 px keeps the LoG peak with a parabolic sub-pixel step.

    ``stem_zoo.benchmark(LoGBaseline(), task="atom_fcn", ...)`` scores it like a model; with
    ``detector="auto"`` (the default) a benchmark tells it each image's detector (a user
    knows it), as it tells ``locate_atoms``.
    """

    column_width_A: float = 0.8
    min_separation_A: float = 1.0
    detector: str = "auto"
    threshold: float = 0.1
    refine: bool = True
    name: str = "log_baseline"

    def locate(self, image, pixel_size: float | None = None, detector: str | None = None) -> AtomColumns:
        """Columns of one image; ``detector`` (e.g. a dataset's feature) is used if the baseline's is "auto"."""
        chosen = detector if (self.detector == "auto" and detector) else self.detector
        return locate_columns_log(image, pixel_size, self.column_width_A, self.min_separation_A,
                                  chosen, self.threshold, self.refine)


def locate_columns_log(image, pixel_size: float | None, column_width_A: float = 0.8, min_separation_A: float = 1.0,
                       detector: str = "auto", threshold: float = 0.1, refine: bool = True) -> AtomColumns:
    """Column positions by LoG peak finding and Gaussian refinement (see :class:`LoGBaseline`)."""
    from scipy import ndimage
    from skimage.feature import peak_local_max

    check_pixel_size(pixel_size)
    raw = check_image(image)
    sign = detector_sign(raw, detector)
    if not (column_width_A > 0 and min_separation_A >= 0 and 0 <= threshold < 1):
        raise ValueError("column_width_A must be > 0, min_separation_A >= 0 and threshold in [0, 1).")
    sigma = max(column_width_A / FWHM_PER_SIGMA / pixel_size, 0.5)
    if min(raw.shape) < 4 * sigma + 3:
        raise ValueError(f"the image ({raw.shape[0]} x {raw.shape[1]} px) is too small for columns "
                         f"{column_width_A} A wide at {pixel_size} A/px; use a larger field of view.")
    values = raw.astype(np.float64)
    values = sign * (values - values.mean()) / (values.std() or 1.0)
    response = -ndimage.gaussian_laplace(values, sigma, mode="reflect") * sigma**2
    scale = max(float(np.percentile(response, 99.5)), 1e-12)
    peaks = peak_local_max(response, min_distance=1, threshold_abs=threshold * scale, exclude_border=False)
    peaks = _suppress(peaks, response[tuple(peaks.T)], min_separation_A / pixel_size)
    xs, ys = np.array([_parabolic(response, int(r), int(c)) for r, c in peaks]).reshape(-1, 2).T
    widths = np.full(len(peaks), np.nan)
    if refine and len(peaks):
        fx, fy, fs, ok = fit_gaussian_peaks(values, peaks, sigma)
        xs, ys, widths = np.where(ok, fx, xs), np.where(ok, fy, ys), np.where(ok, fs * pixel_size, np.nan)
    order = np.lexsort((xs, ys))
    columns = column_table(xs[order], ys[order], float(pixel_size),
                           extra={"response": response[tuple(peaks.T)][order] if len(peaks) else [],
                                  "sigma_A": widths[order]})
    return AtomColumns(columns, raw, float(pixel_size), None, "log_baseline", CLASSES,
                       {"column_width_A": column_width_A, "min_separation_A": min_separation_A,
                        "detector": detector, "threshold": threshold, "refine": refine}, classified=False)


def _parabolic(values: np.ndarray, r: int, c: int) -> tuple[float, float]:
    """(x, y) of the maximum at pixel (r, c) refined by a 1-D parabola along each axis."""
    def step(minus, centre, plus):
        denominator = minus - 2 * centre + plus
        return float(np.clip(0.5 * (minus - plus) / denominator, -0.5, 0.5)) if denominator < 0 else 0.0

    h, w = values.shape
    dy = step(values[r - 1, c], values[r, c], values[r + 1, c]) if 0 < r < h - 1 else 0.0
    dx = step(values[r, c - 1], values[r, c], values[r, c + 1]) if 0 < c < w - 1 else 0.0
    return c + dx, r + dy


# --- output ---------------------------------------------------------------------------------------------------------


def save_atoms_csv(result: AtomColumns, path) -> None:
    """The column table as CSV, one row per column, a header of the field names."""
    import csv

    names = result.columns.dtype.names
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for row in result.columns:
            writer.writerow([f"{v:.6g}" if isinstance(v, (float, np.floating)) else v for v in row.tolist()])


def save_atoms_hdf5(result: AtomColumns, path) -> None:
    """The column table, the image and (atom_fcn) the per-pixel class probabilities, with their metadata."""
    import h5py

    table = result.columns.astype([(n, "S12" if result.columns.dtype[n].kind == "U" else result.columns.dtype[n])
                                   for n in result.columns.dtype.names])
    with h5py.File(path, "w") as handle:
        columns = handle.create_dataset("columns", data=table)
        columns.attrs["description"] = ("one row per atomic column: x, y [px of the image] (x = column index, "
                                        "y = row index), x_A, y_A [A], class_id, class_name, probability")
        handle.create_dataset("image", data=result.image, compression="gzip")
        if result.probabilities is not None:
            probs = handle.create_dataset("probabilities", data=result.probabilities, compression="gzip")
            probs.attrs["classes"] = list(result.classes)
        handle.attrs["pixel_size_angstrom"] = result.pixel_size
        handle.attrs["method"] = result.method
        handle.attrs["classes"] = list(result.classes)
        for key, value in result.settings.items():
            handle.attrs[key] = value


def atoms_figure(result: AtomColumns, path, title: str = "") -> None:
    """The image in grey with the columns as markers coloured by class, a legend and a scale bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h, w = result.image.shape
    fig, ax = plt.subplots(figsize=(6.4, 6.4 * h / w + 0.5))
    ax.imshow(result.image, cmap="gray", interpolation="nearest")
    for name in [c for c in (*result.classes[1:], "column") if c in result.counts]:
        chosen = result.columns[result.columns["class_name"] == name]
        ax.plot(chosen["x"], chosen["y"], "o", ms=4, mfc="none", mew=1.0, color=CLASS_COLOURS.get(name, "white"),
                label=f"{name} ({len(chosen)})")
    if len(result):
        ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    from matplotlib import patheffects

    outline = [patheffects.withStroke(linewidth=2.5, foreground="black")]  # readable on bright (ABF) and dark images
    bar_A = _scale_bar_length(w * result.pixel_size)
    x0, y0 = 0.05 * w, 0.94 * h
    ax.plot([x0, x0 + bar_A / result.pixel_size], [y0, y0], color="white", lw=4, solid_capstyle="butt",
            path_effects=[patheffects.Stroke(linewidth=6, foreground="black"), patheffects.Normal()])
    ax.text(x0, y0 - 0.025 * h, f"{bar_A / 10:g} nm" if bar_A >= 10 else f"{bar_A:g} \u00c5", color="white",
            path_effects=outline)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"{len(result)} columns ({result.method})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _scale_bar_length(width_A: float) -> float:
    """A round length [A] of about a fifth of the field of view."""
    target = width_A / 5
    magnitude = 10 ** math.floor(math.log10(target))
    return max(m * magnitude for m in (1, 2, 5) if m * magnitude <= target)
