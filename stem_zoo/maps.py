"""Unit-cell maps of octahedral tilts from a micrograph (seed 003, Fig. S4).

Windows of the model's crop size slide with stride 1 pixel over the micrograph (after
resampling it to the model's pixel size and standardizing it); each window's prediction
belongs to its reference B column (1/8 of the width, 1/4 of the height of the window,
the dataset's label convention). A moving average over one B-column spacing x one cell
(a/sqrt2 x a) turns the oversampled predictions into unit-cell maps.

Two evaluations give the same numbers: ``method="windows"`` runs the model on batches of
windows; ``method="dense"`` (default) runs the same layers once over the whole image,
pooling with stride 1 and dilating everything after each pooling, and turns the dense
layers into dilated convolutions. The network uses "valid" padding, so this is exact.

Example:
    >>> import numpy as np, keras
    >>> from stem_zoo.models.tilt_dcnn import build_tilt_dcnn
    >>> from stem_zoo.registry import get_entry
    >>> model = build_tilt_dcnn(get_entry("tilt_dcnn").input)
    >>> image = np.random.default_rng(0).normal(size=(60, 80)).astype("float32")
    >>> dense = predict_map(image, model, pixel_size=0.15).windows
    >>> loop = predict_map(image, model, pixel_size=0.15, method="windows").windows
    >>> dense.shape, bool(np.abs(dense - loop).max() < 1e-4)
    ((9, 7, 3), True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stem_datasets.structures import get_composition
from stem_zoo.registry import InputSpec, get_entry

SRTIO3_A = get_composition("SrTiO3").lattice_constant  # the training material sets the averaging cell


@dataclass(frozen=True)
class TiltMaps:
    """Per-window predictions and unit-cell maps, on the resampled micrograph's pixel grid.

    ``windows[i, j]`` is the prediction of the window whose top-left pixel is (i, j);
    ``maps[i, j]`` the unit-cell average at that window's reference position, which is
    pixel ``(i + offset[0], j + offset[1])`` of ``image``.
    """

    image: np.ndarray
    pixel_size: float
    windows: np.ndarray
    maps: np.ndarray
    offset: tuple[float, float]
    output_names: tuple[str, ...]
    source_pixel_size: float


def _check_image(image) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise ValueError(f"a micrograph must be a 2-D array (rows, columns); got shape {array.shape}. "
                         "Pick one frame or channel first.")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"a micrograph must be real numbers, got dtype {array.dtype}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"the micrograph has {int(np.sum(~np.isfinite(array)))} NaN or infinite pixels; "
                         "crop or inpaint them first.")
    return array.astype(np.float32)


def resample_to(image: np.ndarray, pixel_size: float, target: float) -> np.ndarray:
    """Cubic-spline resampling from ``pixel_size`` to ``target`` A per pixel."""
    from scipy.ndimage import zoom

    if not (isinstance(pixel_size, (int, float)) and math.isfinite(pixel_size) and pixel_size > 0):
        raise ValueError(f"pixel_size must be a positive number of angstrom per pixel, got {pixel_size!r}.")
    factor = pixel_size / target
    return image if abs(factor - 1) < 1e-9 else zoom(image, factor, order=3, mode="reflect").astype(np.float32)


def predict_map(image, model="tilt_dcnn", pixel_size: float | None = None, method: str = "dense",
                batch_size: int = 256, block_rows: int = 128) -> TiltMaps:
    """Tilt maps of a micrograph with ``pixel_size`` A/px (required) using a zoo model."""
    if pixel_size is None:
        raise ValueError("the micrograph's pixel size is unknown: pass pixel_size=... in angstrom per pixel "
                         "(or read the file with stem_zoo.io.read_micrograph, which takes it from the metadata).")
    if isinstance(model, str):
        from stem_zoo.hub import load

        model = load(model)
    zoo = getattr(model, "zoo", None)
    spec: InputSpec = zoo.entry.input if zoo else get_entry("tilt_dcnn").input
    names = tuple(zoo.entry.outputs) if zoo else ("alpha", "beta", "gamma")
    raw = _check_image(image)
    resampled = resample_to(raw, pixel_size, spec.pixel_size)
    h, w = spec.crop_shape
    if resampled.shape[0] < h or resampled.shape[1] < w:
        raise ValueError(
            f"the micrograph is {resampled.shape[0]} x {resampled.shape[1]} px at {spec.pixel_size} A/px, smaller "
            f"than one model window of {h} x {w} px (2 x 2 projected cells); use a larger field of view."
        )
    standardized = (resampled - resampled.mean()) / (resampled.std() + 1e-6)
    if method == "dense":
        windows = dense_predictions(model, standardized, (h, w), block_rows)
    elif method == "windows":
        windows = window_predictions(model, standardized, (h, w), batch_size)
    else:
        raise ValueError(f"method must be 'dense' or 'windows', got {method!r}.")
    maps = unit_cell_average(windows, spec.pixel_size)
    from stem_zoo.data import augment_spec

    x_ref, y_ref = augment_spec(spec).reference_px()
    offset = (y_ref, x_ref)
    return TiltMaps(resampled, spec.pixel_size, windows, maps, offset, names, float(pixel_size))


def unit_cell_average(windows: np.ndarray, pixel_size: float, a: float = SRTIO3_A) -> np.ndarray:
    """Moving average over one B-column spacing (a/sqrt2) x one cell (a), per output."""
    from scipy.ndimage import uniform_filter

    size = (max(1, round(a / pixel_size)), max(1, round(a / math.sqrt(2) / pixel_size)), 1)
    return uniform_filter(windows, size=size, mode="nearest")


def window_predictions(model, image: np.ndarray, window: tuple[int, int], batch_size: int = 256) -> np.ndarray:
    """Stride-1 windows through the model in batches: (H - h + 1, W - w + 1, outputs)."""
    views = np.lib.stride_tricks.sliding_window_view(image, window)
    rows, cols = views.shape[:2]
    flat = views.reshape(rows * cols, *window)
    out = [np.asarray(model.predict_on_batch(flat[i:i + batch_size, ..., None]))
           for i in range(0, len(flat), batch_size)]
    return np.concatenate(out).reshape(rows, cols, -1)


def dense_predictions(model, image: np.ndarray, window: tuple[int, int], block_rows: int = 128) -> np.ndarray:
    """The model evaluated at every stride-1 window in one pass per block of output rows."""
    h, w = window
    rows, cols = image.shape[0] - h + 1, image.shape[1] - w + 1
    out = []
    for start in range(0, rows, block_rows):
        stop = min(rows, start + block_rows)
        block = image[start:stop + h - 1]
        out.append(_dense_block(model, block)[: stop - start, :cols])
    return np.concatenate(out)


def _dense_block(model, image: np.ndarray) -> np.ndarray:
    import keras
    import tensorflow as tf

    x = tf.constant(image[None, :, :, None], tf.float32)
    dilation, flattened = 1, None
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.layers.Conv2D):
            if layer.padding != "valid" or tuple(layer.strides) != (1, 1):
                raise NotImplementedError(f"dense maps need 'valid', stride-1 convolutions ({layer.name}).")
            x = tf.nn.conv2d(x, layer.kernel, strides=1, padding="VALID", dilations=dilation)
            if layer.use_bias:
                x = x + layer.bias
        elif isinstance(layer, keras.layers.BatchNormalization):
            scale = layer.gamma / tf.sqrt(layer.moving_variance + layer.epsilon)
            x = (x - layer.moving_mean) * scale + layer.beta
        elif isinstance(layer, keras.layers.ReLU):
            x = tf.nn.relu(x)
        elif isinstance(layer, keras.layers.AveragePooling2D):
            size = tuple(layer.pool_size)
            if tuple(layer.strides) != size or layer.padding != "valid":
                raise NotImplementedError(f"dense maps need 'valid' pooling with stride = size ({layer.name}).")
            x = tf.nn.pool(x, window_shape=size, pooling_type="AVG", strides=(1, 1), padding="VALID",
                           dilations=(dilation, dilation))
            dilation *= size[0]
        elif isinstance(layer, keras.layers.Flatten):
            flattened = tuple(layer.input.shape[1:])
        elif isinstance(layer, keras.layers.Dense):
            kernel = layer.kernel
            if flattened is not None:  # the first dense layer sees the whole feature map
                kernel = tf.reshape(kernel, (*flattened, kernel.shape[-1]))
                x = tf.nn.conv2d(x, kernel, strides=1, padding="VALID", dilations=dilation)
                flattened = None
            else:
                x = tf.tensordot(x, kernel, axes=1)
            if layer.use_bias:
                x = x + layer.bias
            x = layer.activation(x)
        elif isinstance(layer, keras.layers.Activation):
            x = layer.activation(x)
        else:
            raise NotImplementedError(f"dense maps do not support layer {layer.name} ({type(layer).__name__}); "
                                      "use method='windows'.")
    return x.numpy()[0]


def save_maps_hdf5(maps: TiltMaps, path) -> None:
    """Maps, per-window predictions and the resampled image with their geometry as attributes."""
    import h5py

    with h5py.File(path, "w") as handle:
        for name in ("maps", "windows", "image"):
            handle.create_dataset(name, data=getattr(maps, name), compression="gzip")
        handle.attrs["pixel_size_angstrom"] = maps.pixel_size
        handle.attrs["source_pixel_size_angstrom"] = maps.source_pixel_size
        handle.attrs["map_offset_pixels"] = maps.offset
        handle.attrs["outputs"] = list(maps.output_names)
        handle.attrs["units"] = "degree"


def map_figure(maps: TiltMaps, path, title: str = "") -> None:
    """Micrograph and one map per output, with colour bars and a 1 nm scale bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(maps.output_names)
    fig, axes = plt.subplots(1, n + 1, figsize=(4 * (n + 1), 4.2))
    px = maps.pixel_size
    oy, ox = maps.offset
    extent_map = (ox * px, (ox + maps.maps.shape[1]) * px, (oy + maps.maps.shape[0]) * px, oy * px)
    extent_img = (0, maps.image.shape[1] * px, maps.image.shape[0] * px, 0)
    axes[0].imshow(maps.image, cmap="gray", extent=extent_img)
    axes[0].set_title("micrograph (resampled)")
    limit = float(np.nanmax(np.abs(maps.maps))) or 1.0
    for k, name in enumerate(maps.output_names):
        im = axes[k + 1].imshow(maps.maps[..., k], cmap="RdBu_r", vmin=-limit, vmax=limit, extent=extent_map)
        axes[k + 1].set_xlim(extent_img[:2])
        axes[k + 1].set_ylim(extent_img[2:])
        axes[k + 1].set_title(f"{name} [deg]")
        fig.colorbar(im, ax=axes[k + 1], fraction=0.046, pad=0.04)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        x0, y0 = 0.05 * extent_img[1], 0.93 * extent_img[2]
        ax.plot([x0, x0 + 10.0], [y0, y0], color="gold", lw=4)
        ax.text(x0, y0 - 0.03 * extent_img[2], "1 nm", color="gold")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
