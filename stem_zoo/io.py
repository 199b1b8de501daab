"""Reading micrographs with their pixel size: TIFF, DigitalMicrograph, Velox EMD, HDF5, npy.

Example:
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "image.npy")
    >>> np.save(path, np.ones((8, 8)))
    >>> image, pixel = read_micrograph(path, pixel_size=0.2)
    >>> image.shape, pixel
    ((8, 8), 0.2)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_TO_ANGSTROM = {"a": 1.0, "å": 1.0, "angstrom": 1.0, "ang": 1.0, "nm": 10.0, "pm": 0.01, "um": 1e4, "µm": 1e4,
                "micron": 1e4, "m": 1e10, "cm": 1e8, "mm": 1e7}
SUPPORTED = (".tif", ".tiff", ".dm3", ".dm4", ".emd", ".h5", ".hdf5", ".npy")


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
        raise ValueError(f"unsupported file type {suffix!r}; supported: {', '.join(SUPPORTED)} "
                         "(or convert the image to .npy and pass pixel_size).")
    reader = {".tif": _tiff, ".tiff": _tiff, ".dm3": _rosettasciio, ".dm4": _rosettasciio, ".emd": _rosettasciio,
              ".h5": _hdf5, ".hdf5": _hdf5, ".npy": _npy}[suffix]
    image, found = reader(path, dataset) if reader is _hdf5 else reader(path)
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"{path.name} holds an array of shape {image.shape}, not one 2-D image; "
                         "save the frame you want as .npy.")
    size = pixel_size if pixel_size is not None else found
    if size is None:
        raise ValueError(f"{path.name} does not state its pixel size; pass it with pixel_size=... "
                         "(--pixel-size on the command line) in angstrom per pixel.")
    return image.astype(np.float32), float(size)


def _npy(path: Path):
    return np.load(path, allow_pickle=False), None


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
        return image, to_angstrom(length / pixels, "um" if unit in ("micron", "\\u00B5m") else unit)


def _rosettasciio(path: Path):
    if path.suffix.lower() == ".emd":
        from rsciio.emd import file_reader
    else:
        from rsciio.digitalmicrograph import file_reader
    signals = [s for s in file_reader(str(path)) if np.asarray(s["data"]).ndim == 2]
    if not signals:
        raise ValueError(f"{path.name} contains no 2-D image.")
    signal = signals[0]
    axes = signal.get("axes", [])
    size = None
    if axes and axes[-1].get("units") not in (None, "", "<undefined>"):
        size = to_angstrom(axes[-1]["scale"], axes[-1]["units"])
    return signal["data"], size


def _hdf5(path: Path, dataset: str | None):
    import h5py

    with h5py.File(path, "r") as handle:
        if dataset is None:
            found = []
            handle.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) and obj.ndim == 2 else None)
            if not found:
                raise ValueError(f"{path.name} has no 2-D dataset.")
            dataset = found[0]
        node = handle[dataset]
        image = node[()]
        size = None
        if "pixel_size" in node.attrs:
            size = to_angstrom(float(node.attrs["pixel_size"]), node.attrs.get("pixel_size_unit", "A"))
    return image, size
