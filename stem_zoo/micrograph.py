"""Micrographs: reading them with their pixel size, checking, resampling and standardizing them.

One module for what every task does to a user's image before its model sees it.

**Reading** (TIFF, DigitalMicrograph, Velox EMD, HDF5, npy):

Example:
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "image.npy")
    >>> np.save(path, np.ones((8, 8)))
    >>> image, pixel = read_micrograph(path, pixel_size=0.2)
    >>> image.shape, pixel
    ((8, 8), 0.2)

A file that cannot be read as one 2-D image raises :class:`MicrographReadError` (a ``ValueError``)
that names the file, what is wrong with it and what to do:

    >>> open(path, "wb").close()
    >>> read_micrograph(path, pixel_size=0.2)
    Traceback (most recent call last):
    ...
    stem_zoo.micrograph.MicrographReadError: image.npy is empty (0 bytes): ...

**Standardizing.** The tilt model's input normalization, shared by training, evaluation and maps.

Each pixel becomes (x - m) / (s + 1e-6), where m and s are the mean and standard deviation
of the odd-sized box centred on it. The box of ``tilt_dcnn`` is 27 x 37 pixels at 0.15 A/px
(about one cell along [001] x two B-column spacings along [110]), so in a perfect crystal
every box holds whole lattice periods and the statistics do not depend on where a crop
starts. Only pixels whose whole box lies inside the image get a value ("valid"): the
output is smaller by ``window - 1`` in each dimension. Training crops therefore come with
``margin = (window - 1) / 2`` pixels of context on every side (the *field*), and a
micrograph is reflect-padded by the same margin before it is mapped, so every map window
sees its pixels normalized by the same rule as a training crop.

Example:
    >>> import numpy as np
    >>> image = np.random.default_rng(0).normal(3.0, 2.0, size=(40, 50))
    >>> out = local_standardize(image, (27, 37))
    >>> out.shape, out.dtype
    ((14, 14), dtype('float32'))
    >>> bool(np.allclose(local_standardize(5 * image - 1, (27, 37)), out, atol=1e-5))
    True
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


_TO_ANGSTROM = {"a": 1.0, "å": 1.0, "angstrom": 1.0, "ang": 1.0, "nm": 10.0, "pm": 0.01, "um": 1e4, "µm": 1e4,
                "micron": 1e4, "m": 1e10, "cm": 1e8, "mm": 1e7}
SUPPORTED = (".tif", ".tiff", ".dm3", ".dm4", ".emd", ".h5", ".hdf5", ".npy")
_KIND = {".tif": "TIFF", ".tiff": "TIFF", ".dm3": "DigitalMicrograph", ".dm4": "DigitalMicrograph", ".emd": "EMD",
         ".h5": "HDF5", ".hdf5": "HDF5", ".npy": "NumPy .npy"}
_RESAVE = "re-copy or re-export it from the acquisition software, or save the frame as a 2-D .npy and pass --pixel-size"


class MicrographReadError(ValueError):
    """A file that cannot be read as one 2-D image; the message names the file, the problem and the remedy."""


def to_angstrom(value: float, unit: str) -> float:
    """A length in ``unit`` (nm, A, pm, um, m, ...) in angstrom."""
    key = str(unit).strip().lower().replace("\u00c5", "a").replace("\\u00b5", "µ")
    if key not in _TO_ANGSTROM:
        raise ValueError(f"unknown length unit {unit!r}; pass the pixel size in angstrom with pixel_size=...")
    return float(value) * _TO_ANGSTROM[key]


def read_micrograph(path: str | Path, pixel_size: float | None = None, dataset: str | None = None):
    """(2-D float32 image, pixel size in A). ``pixel_size`` [A] overrides the file's metadata."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no micrograph at {path}.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise MicrographReadError(f"{path.name}: unsupported file type {suffix!r}; supported: {', '.join(SUPPORTED)} "
                         "(or convert the image to .npy and pass pixel_size).")
    reader = {".tif": _tiff, ".tiff": _tiff, ".dm3": _rosettasciio, ".dm4": _rosettasciio, ".emd": _rosettasciio,
              ".h5": _hdf5, ".hdf5": _hdf5, ".npy": _npy}[suffix]
    if path.stat().st_size == 0:
        raise MicrographReadError(f"{path.name} is empty (0 bytes): {_RESAVE}.")
    try:
        image, found = reader(path, dataset) if reader is _hdf5 else reader(path)
    except (MicrographReadError, ImportError, MemoryError):
        raise
    except Exception as error:  # the libraries raise anything from EOFError to struct.error on a damaged file
        raise MicrographReadError(f"{path.name} is not a readable {_KIND[suffix]} file (truncated or corrupt? "
                                  f"{type(error).__name__}: {_one_line(error)}): {_RESAVE}.") from error
    image = _check_file_image(path, np.asarray(image))
    size = pixel_size if pixel_size is not None else found
    if size is None or isinstance(size, str):  # a str: why the file's own pixel size cannot be used
        raise MicrographReadError(f"{path.name} {size or 'does not state its pixel size'}; pass it with "
                                  "pixel_size=... (--pixel-size on the command line) in angstrom per pixel.")
    return image.astype(np.float32), float(size)


def _one_line(error: Exception, limit: int = 160) -> str:
    text = " ".join(str(error).split()) or "no detail"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _check_file_image(path: Path, image: np.ndarray) -> np.ndarray:
    """``image`` if it is a 2-D array of real numbers with a finite pixel; else a :class:`MicrographReadError`."""
    if image.ndim != 2:
        raise MicrographReadError(f"{path.name} holds an array of shape {image.shape}, not one 2-D image; "
                                  "save the frame you want as .npy.")
    if image.size == 0:
        raise MicrographReadError(f"{path.name} holds an empty {image.shape[0]} x {image.shape[1]} image; {_RESAVE}.")
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)
            or image.dtype == bool):
        raise MicrographReadError(f"{path.name} holds {image.dtype} values, not image intensities; "
                                  "save the image as a real-valued (integer or float) array.")
    if not np.isfinite(image).any():
        raise MicrographReadError(f"{path.name} has no finite pixel (all NaN or infinite); check the acquisition "
                                  "or the export that wrote it.")
    return image


def _pixel_size(value: float, unit: str) -> float | str:
    """The file's pixel size in A, or why it cannot be used (an unknown unit): an error only without pixel_size."""
    try:
        return to_angstrom(value, unit)
    except ValueError:
        return f"states its pixel size in an unknown unit {unit!r}"


def _npy(path: Path):
    try:
        return np.load(path, allow_pickle=False), None
    except ValueError as error:
        if "allow_pickle" not in str(error):
            raise
        raise MicrographReadError(f"{path.name} holds pickled Python objects, which are never loaded (they can run "
                                  "code); save a plain numeric array with np.save(path, np.asarray(image, float)).") from None


def _tiff(path: Path):
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        image = page.asarray()
        if "XResolution" not in page.tags:
            return image, None
        pixels, length = page.tags["XResolution"].value  # pixels per `length` units
        unit = (tif.imagej_metadata or {}).get("unit")
        if unit is None:  # TIFF unit 3 is cm; 2 (inch) is a print resolution, not a pixel size
            code = int(page.tags["ResolutionUnit"].value) if "ResolutionUnit" in page.tags else 1
            unit = {3: "cm"}.get(code)
        if unit is None or not pixels or not length:
            return image, None
        return image, _pixel_size(length / pixels, "um" if unit in ("micron", "\\u00B5m") else unit)


def _rosettasciio(path: Path):
    if path.suffix.lower() == ".emd":
        from rsciio.emd import file_reader
    else:
        from rsciio.digitalmicrograph import file_reader
    signals = [s for s in file_reader(str(path)) if np.asarray(s["data"]).ndim == 2]
    if not signals:
        raise MicrographReadError(f"{path.name} contains no 2-D image (only spectra, stacks or 4D data?); "
                                  "export the frame you want as .npy and pass --pixel-size.")
    signal = signals[0]
    axes = signal.get("axes", [])
    size = None
    if axes and axes[-1].get("units") not in (None, "", "<undefined>"):
        size = _pixel_size(axes[-1]["scale"], axes[-1]["units"])
    return signal["data"], size


def _hdf5(path: Path, dataset: str | None):
    import h5py

    with h5py.File(path, "r") as handle:
        if dataset is None:
            found = []
            handle.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) and obj.ndim == 2 else None)
            if not found:
                raise MicrographReadError(f"{path.name} has no 2-D image dataset (its datasets: {_datasets(handle)}); "
                                          "write the image as a 2-D dataset, or pass --dataset with its path.")
            dataset = found[0]
        if not isinstance(handle.get(dataset), h5py.Dataset):
            raise MicrographReadError(f"{path.name} has no dataset {dataset!r} (its datasets: {_datasets(handle)}); "
                                      "pass --dataset with one of those.")
        node = handle[dataset]
        image = node[()]
        size = None
        if "pixel_size" in node.attrs:
            size = _pixel_size(float(node.attrs["pixel_size"]), node.attrs.get("pixel_size_unit", "A"))
    return image, size


def _datasets(handle) -> str:
    """``name (shape)`` of the first datasets of an open HDF5 file, for error messages."""
    import h5py

    names: list[str] = []
    handle.visititems(lambda name, obj: names.append(f"{name} {obj.shape}") if isinstance(obj, h5py.Dataset) else None)
    return ", ".join(names[:6]) + (", ..." if len(names) > 6 else "") if names else "none"


# --- checks and resampling -------------------------------------------------------------------

def check_image(image) -> np.ndarray:
    """``image`` as a finite float32 2-D array (a trailing channel of 1 dropped), else a clear ValueError."""
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


def resample_for_model(image: np.ndarray, pixel_size: float, target: float, minimum_px: int,
                       requirement: str) -> np.ndarray:
    """``image`` resampled to the model's ``target`` A/px; a clear error if a side is under ``minimum_px``."""
    resampled = resample_to(image, float(pixel_size), target)
    if min(resampled.shape) < minimum_px:
        raise ValueError(
            f"the image is {image.shape[0]} x {image.shape[1]} px at {pixel_size} A/px, {resampled.shape[0]} x "
            f"{resampled.shape[1]} px at the model's {target} A/px: {requirement}; use a larger field of view (or "
            "check the pixel size: nm passed as A is a common slip).")
    return resampled


def check_pixel_size(pixel_size) -> None:
    """A clear ValueError unless ``pixel_size`` is a positive, finite number of A per pixel."""
    if pixel_size is None:
        raise ValueError("the image's pixel size is unknown: pass pixel_size=... in angstrom per pixel "
                         "(--pixel-size on the command line, or read the file with stem_zoo.micrograph.read_micrograph).")
    if not (isinstance(pixel_size, (int, float, np.floating)) and math.isfinite(pixel_size) and pixel_size > 0):
        raise ValueError(f"pixel_size must be a positive number of angstrom per pixel, got {pixel_size!r}.")


# --- standardization ---------------------------------------------------------------------------


EPSILON = 1e-6
DEFAULT_MARGIN = (13, 18)  # tilt_dcnn: half a cell (a / 2) x one B-column spacing (a / sqrt 2) at 0.15 A/px


def normalization_margin(input_spec) -> tuple[int, int]:
    """Context pixels (rows, cols) on each side of a crop that the normalization reads.

    The box is ``(2 * rows + 1, 2 * cols + 1)`` pixels.

    >>> from stem_zoo.registry import get_entry
    >>> normalization_margin(get_entry("tilt_dcnn").input)
    (13, 18)
    """
    margin = tuple(getattr(input_spec, "margin", None) or DEFAULT_MARGIN)
    if len(margin) != 2 or any(int(m) != m or m < 0 for m in margin):
        raise ValueError(f"InputSpec.margin must be two non-negative integers (rows, cols), got {margin!r}.")
    return (int(margin[0]), int(margin[1]))


def normalization_window(input_spec) -> tuple[int, int]:
    """The (odd) box size (rows, cols) of the normalization: ``2 * margin + 1``."""
    my, mx = normalization_margin(input_spec)
    return (2 * my + 1, 2 * mx + 1)


def _check_window(window) -> tuple[int, int]:
    window = tuple(int(w) for w in window)
    if len(window) != 2 or any(w < 1 or w % 2 == 0 for w in window):
        raise ValueError(f"the normalization window must be two odd positive sizes (rows, cols), got {window!r}.")
    return window


def _box_sums(values: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """Sums over every fully contained ``window`` box (summed-area table, float64)."""
    h, w = window
    table = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
    table[1:, 1:] = values.cumsum(axis=0).cumsum(axis=1)
    return table[h:, w:] - table[:-h, w:] - table[h:, :-w] + table[:-h, :-w]


def local_standardize(image: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """(x - box mean) / (box std + 1e-6) over the ``window`` box centred on each pixel, "valid" only.

    ``image`` is (H, W); the result is (H - h + 1, W - w + 1), float32, computed in float64.

    >>> import numpy as np
    >>> image = np.array([[0, 0, 0, 0], [0, 9, 0, 0], [0, 0, 0, 0]], dtype=float)
    >>> local_standardize(image, (3, 3)).astype(float).round(3).tolist()  # box of pixel (1, 1): mean 1, std sqrt(8)
    [[2.828, -0.354]]
    """
    window = _check_window(window)
    array = np.asarray(image, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"local_standardize takes one 2-D image (rows, cols), got shape {array.shape}.")
    if array.shape[0] < window[0] or array.shape[1] < window[1]:
        raise ValueError(f"the image ({array.shape[0]} x {array.shape[1]} px) is smaller than the normalization "
                         f"window ({window[0]} x {window[1]} px).")
    # Centre and scale globally first: the result is the same, the sums are better conditioned.
    array = array - array.mean()
    scale = float(array.std()) or 1.0
    array = array / scale
    n = window[0] * window[1]
    mean = _box_sums(array, window) / n
    var = np.maximum(_box_sums(array * array, window) / n - mean * mean, 0.0)
    my, mx = window[0] // 2, window[1] // 2
    centre = array[my:array.shape[0] - my, mx:array.shape[1] - mx]
    return ((centre - mean) * scale / (np.sqrt(var) * scale + EPSILON)).astype(np.float32)


def local_standardize_tf(batch, window: tuple[int, int]):
    """TensorFlow twin of :func:`local_standardize` for (n, H, W, 1) batches (or one (H, W, 1) field).

    Box means of x and x^2 from summed-area tables in float64, as in the NumPy version
    (average pooling with a 27 x 37 box is ~40x slower on CPU and was the training
    pipeline's bottleneck); the result is (n, H - h + 1, W - w + 1, 1) float32 and equals
    the NumPy one to ~1e-6.

    >>> import numpy as np
    >>> x = np.random.default_rng(1).random((2, 30, 40, 1)).astype("float32")
    >>> out = local_standardize_tf(x, (27, 37)).numpy()
    >>> out.shape, bool(np.abs(out[1, ..., 0] - local_standardize(x[1, ..., 0], (27, 37))).max() < 1e-5)
    ((2, 4, 4, 1), True)
    """
    import tensorflow as tf

    window = _check_window(window)
    x = tf.cast(batch, tf.float64)
    single = x.shape.rank == 3
    if single:
        x = x[None]
    if x.shape.rank != 4:
        raise ValueError(f"local_standardize_tf takes (n, H, W, 1) batches or one (H, W, 1) field, "
                         f"got rank {x.shape.rank}.")
    # Per-example centring and scaling, as in the NumPy version (better-conditioned box moments).
    x = x - tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    scale = tf.math.reduce_std(x, axis=[1, 2, 3], keepdims=True)
    scale = tf.where(scale > 0, scale, tf.ones_like(scale))
    x = x / scale
    n = float(window[0] * window[1])
    mean = _box_sums_tf(x, window) / n
    var = tf.maximum(_box_sums_tf(x * x, window) / n - mean * mean, 0.0)
    my, mx = window[0] // 2, window[1] // 2
    centre = x[:, my:tf.shape(x)[1] - my, mx:tf.shape(x)[2] - mx, :]
    out = (centre - mean) * scale / (tf.sqrt(var) * scale + EPSILON)
    out = tf.cast(out, tf.float32)
    return out[0] if single else out


def _box_sums_tf(x, window: tuple[int, int]):
    """Sums over every fully contained ``window`` box of (n, H, W, C), from a zero-padded summed-area table."""
    import tensorflow as tf

    h, w = window
    table = tf.pad(tf.cumsum(tf.cumsum(x, axis=1), axis=2), [[0, 0], [1, 0], [1, 0], [0, 0]])
    return table[:, h:, w:] - table[:, :-h, w:] - table[:, h:, :-w] + table[:, :-h, :-w]


def standardize(values, per_item: bool = False) -> np.ndarray:
    """Zero mean, unit std (float32; a constant array becomes zeros): over the whole array, or with ``per_item``
    over each item along the first axis (windows (n, h, w[, 1])). What the atom and polarization models read.

    >>> standardize(np.array([[1.0, 3.0]])).tolist()
    [[-1.0, 1.0]]
    >>> standardize(np.array([[[1.0, 3.0]], [[5.0, 5.0]]]), per_item=True).tolist()
    [[[-1.0, 1.0]], [[0.0, 0.0]]]
    """
    values = np.asarray(values, np.float64)
    axes = tuple(range(1, values.ndim)) if per_item else None
    mean = values.mean(axis=axes, keepdims=True)
    std = np.maximum(values.std(axis=axes, keepdims=True), EPSILON)
    return ((values - mean) / std).astype(np.float32)


def standardize_tf(values):
    """:func:`standardize` of one tensor (an image or a window) in TensorFlow, for tf.data pipelines."""
    import tensorflow as tf

    values = tf.cast(values, tf.float32)
    mean, variance = tf.nn.moments(values, axes=list(range(values.shape.rank)))
    return (values - mean) / tf.maximum(tf.sqrt(variance), EPSILON)


def standardize_micrograph(image: np.ndarray, input_spec) -> np.ndarray:
    """Reflect-pad by the normalization margin, then :func:`local_standardize`: same shape as ``image``."""
    my, mx = normalization_margin(input_spec)
    padded = np.pad(np.asarray(image, np.float64), ((my, my), (mx, mx)), mode="reflect")
    return local_standardize(padded, normalization_window(input_spec))


