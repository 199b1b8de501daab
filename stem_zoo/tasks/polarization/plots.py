"""Figures of per-cell polarization maps: arrows on the micrograph, colour-wheel maps, truth vs prediction.

Seed: Ghosh et al., npj Comput. Mater. 7, 149 (2021), Figs. 1-2. Cells sit at ``xy`` (x =
column, y = row of the micrograph, pixels, as :attr:`stem_zoo.tasks.atoms.locate.AtomColumns.xy`);
``P_pm`` (n, 2) is each cell's (Px, Py) in pm in the same frame, so Py > 0 points *down*
the image. The direction of P is coloured by one cyclic hue ("hsv") in every figure: the
hue of angle atan2(Py, Px), drawn as seen on the image (0 = right, 90 deg = down). Cells
with a NaN P are left out (grey in the maps).

Example:
    >>> import tempfile, pathlib
    >>> y, x = np.mgrid[0:4, 0:5] * 10.0 + 5
    >>> xy = np.stack([x.ravel(), y.ravel()], axis=1)
    >>> P = 20 * np.stack([np.cos(xy[:, 0] / 9), np.sin(xy[:, 0] / 9)], axis=1)
    >>> temporary = tempfile.TemporaryDirectory()
    >>> folder = pathlib.Path(temporary.name)
    >>> quiver_figure(np.zeros((40, 50)), xy, P, folder / "q.png", pixel_size=0.2).name
    'q.png'
    >>> angle_map_figure(xy, P, folder / "a.png").exists(), comparison_figure(xy, P, P + 3, folder / "c.png").exists()
    (True, True)
    >>> temporary.cleanup()
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from stem_zoo.tasks.atoms.locate import _scale_bar_length
from stem_zoo.micrograph import check_image

HALF_CELL_PM = 30.0  # by default a 30 pm arrow is half a cell spacing long


def _check_cells(xy, P_pm, name: str = "P_pm") -> tuple[np.ndarray, np.ndarray]:
    xy, P = np.asarray(xy, dtype=np.float64), np.asarray(P_pm, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) == 0:
        raise ValueError(f"xy must be an (n, 2) array of cell positions (x, y) [px], got shape {xy.shape}.")
    if P.ndim != 2 or P.shape[1] != 2:
        raise ValueError(f"{name} must be an (n, 2) array of (Px, Py) [pm], got shape {P.shape}.")
    if len(P) != len(xy):
        raise ValueError(f"{name} has {len(P)} rows for {len(xy)} cell positions.")
    if not np.all(np.isfinite(xy)):
        raise ValueError("xy holds NaN or infinite positions.")
    if not np.any(np.all(np.isfinite(P), axis=1)):
        raise ValueError(f"{name} is NaN everywhere: nothing to draw.")
    return xy, P


def cell_spacing(xy: np.ndarray) -> float:
    """Median nearest-neighbour distance of the cells [px] (1 for a single cell)."""
    from scipy.spatial import cKDTree

    if len(xy) < 2:
        return 1.0
    distance = cKDTree(xy).query(xy, k=2)[0][:, 1]
    positive = distance[distance > 0]
    return float(np.median(positive)) if len(positive) else 1.0


def angle_colours(P: np.ndarray, max_pm: float | None = None) -> np.ndarray:
    """RGBA (n, 4): hue = direction, value = |P| / max_pm (full value without max_pm); alpha 0 for NaN."""
    from matplotlib.colors import hsv_to_rgb

    hue = (np.arctan2(P[:, 1], P[:, 0]) / (2 * np.pi)) % 1.0
    value = np.ones(len(P)) if max_pm is None else np.clip(np.hypot(P[:, 0], P[:, 1]) / max_pm, 0, 1)
    ok = np.all(np.isfinite(P), axis=1)
    rgb = hsv_to_rgb(np.stack([np.where(ok, hue, 0), np.ones(len(P)), np.where(ok, value, 0)], axis=-1))
    return np.concatenate([rgb, ok[:, None].astype(float)], axis=1)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _wheel(fig, rect, max_pm: float | None) -> None:
    """Colour-wheel legend: hue = direction as on the image, radius (value) = |P| up to ``max_pm``."""
    n = 101
    y, x = np.mgrid[-1:1:n * 1j, -1:1:n * 1j]  # rows go down, like the image
    radius = np.hypot(x, y)
    P = np.stack([x.ravel(), y.ravel()], axis=1) * (max_pm or 1.0)
    rgba = angle_colours(P, max_pm).reshape(n, n, 4)
    rgba[..., 3] = radius <= 1
    ax = fig.add_axes(rect)
    ax.imshow(rgba, extent=(-1, 1, 1, -1), interpolation="bilinear")
    ax.set_axis_off()
    ax.set_title("direction" if max_pm is None else f"radius {max_pm:.3g} pm", fontsize=7)


def _cell_image(xy: np.ndarray, values: np.ndarray, shape, spacing: float, max_px: int = 400):
    """Nearest-cell image of per-cell ``values`` (n, k) on ``shape`` (rows, cols), NaN beyond 0.75 spacing."""
    from scipy.spatial import cKDTree

    if shape is None:
        shape = tuple(int(math.ceil(xy[:, i].max() + spacing / 2)) + 1 for i in (1, 0))
    elif len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be the micrograph's (rows, columns), got {shape!r}.")
    step = max(1.0, max(shape) / max_px)
    rows, cols = np.arange(0, shape[0], step), np.arange(0, shape[1], step)
    r, c = np.meshgrid(rows, cols, indexing="ij")
    distance, nearest = cKDTree(xy).query(np.stack([c.ravel(), r.ravel()], axis=1), k=1)
    image = values[nearest].astype(np.float64)
    image[distance > 0.75 * spacing] = np.nan
    extent = (-0.5 * step, (len(cols) - 0.5) * step, (len(rows) - 0.5) * step, -0.5 * step)
    return image.reshape(len(rows), len(cols), -1), extent


def _finish(fig, plt, path) -> Path:
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def quiver_figure(image, xy, P_pm, path, pixel_size: float | None = None, title: str = "",
                  scale_pm: float | None = None) -> Path:
    """The micrograph in grey with one arrow per cell, coloured by direction, and a key arrow in pm.

    An arrow of ``scale_pm`` (default 30 pm) is half the median nearest-neighbour cell
    spacing long; the key arrow shows that length. With ``pixel_size`` [A/px] a scale bar.
    """
    image = check_image(image)
    xy, P = _check_cells(xy, P_pm)
    scale_pm = HALF_CELL_PM if scale_pm is None else float(scale_pm)
    if not (math.isfinite(scale_pm) and scale_pm > 0):
        raise ValueError(f"scale_pm must be a positive number of pm, got {scale_pm!r}.")
    px_per_pm = 0.5 * cell_spacing(xy) / scale_pm
    plt = _plt()
    h, w = image.shape
    fig, ax = plt.subplots(figsize=(6.4, 6.4 * h / w + 0.5))
    ax.imshow(image, cmap="gray", interpolation="nearest")
    ok = np.all(np.isfinite(P), axis=1)
    arrows = ax.quiver(xy[ok, 0], xy[ok, 1], P[ok, 0] * px_per_pm, P[ok, 1] * px_per_pm, color=angle_colours(P[ok]),
                       angles="xy", scale_units="xy", scale=1, pivot="mid", width=0.004, headwidth=4)
    ax.quiverkey(arrows, 0.9, -0.04, scale_pm * px_per_pm, f"{scale_pm:g} pm", labelpos="W", coordinates="axes",
                 color="black")
    if pixel_size is not None:
        bar_A = _scale_bar_length(w * pixel_size)
        x0, y0 = 0.05 * w, 0.95 * h
        ax.plot([x0, x0 + bar_A / pixel_size], [y0, y0], color="white", lw=4, solid_capstyle="butt")
        ax.text(x0, y0 - 0.02 * h, f"{bar_A / 10:g} nm" if bar_A >= 10 else f"{bar_A:g} \u00c5", color="white")
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"polarization, {int(ok.sum())} cells")
    fig.tight_layout()
    _wheel(fig, (0.83, 0.83, 0.14, 0.14), None)
    return _finish(fig, plt, path)


def _max_pm(*P: np.ndarray) -> float:
    magnitude = max(float(np.nanmax(np.hypot(p[:, 0], p[:, 1]))) for p in P)
    return magnitude if magnitude > 0 else 1.0


def _angle_panel(ax, xy, P, shape, spacing, max_pm, title):
    rgba, extent = _cell_image(xy, angle_colours(P, max_pm), shape, spacing)
    rgba[np.isnan(rgba[..., 3])] = 0.0  # beyond the cells: transparent
    ax.set_facecolor("0.85")
    ax.imshow(rgba, extent=extent, interpolation="nearest")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


def angle_map_figure(xy, P_pm, path, shape=None, title: str = "", max_pm: float | None = None) -> Path:
    """Each cell a patch (nearest-cell image) of hue = direction, brightness = |P| / max_pm, with a colour wheel.

    ``shape`` (rows, cols) of the micrograph sets the extent (default: the cells' extent);
    ``max_pm`` (default: the largest |P|) is full brightness and the wheel's radius.
    """
    xy, P = _check_cells(xy, P_pm)
    max_pm = _max_pm(P) if max_pm is None else float(max_pm)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 5.2))
    _angle_panel(ax, xy, P, shape, cell_spacing(xy), max_pm, title or "polarization direction and magnitude")
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    _wheel(fig, (0.8, 0.4, 0.18, 0.18), max_pm)
    return _finish(fig, plt, path)


def comparison_figure(xy, P_true, P_pred, path, shape=None, title: str = "", max_pm: float | None = None) -> Path:
    """Truth, prediction (shared colour wheel) and |P_pred - P_true| [pm] with a colour bar, side by side."""
    xy, P_true = _check_cells(xy, P_true, "P_true")
    _, P_pred = _check_cells(xy, P_pred, "P_pred")
    max_pm = _max_pm(P_true, P_pred) if max_pm is None else float(max_pm)
    spacing = cell_spacing(xy)
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.6))
    _angle_panel(axes[0], xy, P_true, shape, spacing, max_pm, "truth")
    _angle_panel(axes[1], xy, P_pred, shape, spacing, max_pm, "prediction")
    error = np.hypot(*(P_pred - P_true).T)
    values, extent = _cell_image(xy, error[:, None], shape, spacing)
    axes[2].set_facecolor("0.85")
    shown = axes[2].imshow(values[..., 0], extent=extent, cmap="magma", vmin=0, interpolation="nearest")
    fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.04, label="|P_pred - P_true| [pm]")
    axes[2].set_title(f"difference, mean {np.nanmean(error):.3g} pm" if np.any(np.isfinite(error)) else "difference")
    axes[2].set_xticks([])
    axes[2].set_yticks([])
    fig.suptitle(title)
    fig.tight_layout(rect=(0.07, 0, 1, 1))
    _wheel(fig, (0.0, 0.4, 0.08, 0.18), max_pm)
    return _finish(fig, plt, path)
