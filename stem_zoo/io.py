"""Reading micrographs with their pixel size: TIFF, DigitalMicrograph, Velox EMD, HDF5, npy.

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
    stem_zoo.io.MicrographReadError: image.npy is empty (0 bytes): ...
"""

from __future__ import annotations

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
    image = _check_image(path, np.asarray(image))
    size = pixel_size if pixel_size is not None else found
    if size is None or isinstance(size, str):  # a str: why the file's own pixel size cannot be used
        raise MicrographReadError(f"{path.name} {size or 'does not state its pixel size'}; pass it with "
                                  "pixel_size=... (--pixel-size on the command line) in angstrom per pixel.")
    return image.astype(np.float32), float(size)


def _one_line(error: Exception, limit: int = 160) -> str:
    text = " ".join(str(error).split()) or "no detail"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _check_image(path: Path, image: np.ndarray) -> np.ndarray:
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
