"""Reading the experimental Sm-doped BiFeO3 frames of ``stem_bfo_polarization`` from TFDS's manual_dir.

The data are those of Nelson, Ghosh et al., npj Comput. Mater. 7, 149 (2021), in either layout:

* per-frame HDF5: ``<frame>_HAADF.h5`` (2-D dataset ``MainImage``) beside ``<frame>_UCParameterization.h5``
  (``xy_COM``: unit-cell centres, ``Pxy``: polarization per cell in pm, both (N, 2)); no pickle involved;
* ``composition_series_dict_full.npy`` (Zenodo 4876786): a *pickle*, unpickled only after its SHA-256
  matches the one the user passes (argument or ``$STEM_BFO_SERIES_SHA256``).

Conventions: ``composition_sm`` is the Sm *fraction* (0.07 for 7 % Sm); ``xy`` holds pixel coordinates with
``x`` = column and ``y`` = row of ``image``; NaN pixels are kept (counted), NaN polarization rows dropped.

Example:
    >>> import tempfile, h5py, numpy as np
    >>> d = Path(tempfile.mkdtemp())
    >>> with h5py.File(d / "BFO_7Sm_HAADF.h5", "w") as f:
    ...     f["MainImage"] = np.ones((8, 8))
    >>> with h5py.File(d / "BFO_7Sm_UCParameterization.h5", "w") as f:
    ...     f["xy_COM"] = [[2.0, 3.0], [6.0, 6.0]]; f["Pxy"] = [[1.0, -2.0], [np.nan, 0.0]]
    >>> [frame] = read_manual_dir(d)
    >>> frame.name, frame.composition_sm, frame.P_pm.tolist(), frame.n_dropped_nan_P
    ('BFO_7Sm', 0.07, [[1.0, -2.0]], 1)
    >>> nan_free_windows(frame.image, frame.xy, 4)
    WindowSelection(mask=array([ True]), n_dropped_nan=0, n_dropped_out_of_bounds=0)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np

SERIES_FILE = "composition_series_dict_full.npy"
SERIES_SHA256_ENV = "STEM_BFO_SERIES_SHA256"
COMPOSITIONS_FILE = "compositions.json"
HAADF_SUFFIX, PARAM_SUFFIX = "_HAADF.h5", "_UCParameterization.h5"
DEFAULT_MANUAL_DIR = "~/tensorflow_datasets/downloads/manual/stem_bfo_polarization/"

MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
The experimental config uses the public Sm-doped BiFeO3 STEM data of Nelson, Ghosh et al.,
npj Comput. Mater. 7, 149 (2021). Place **one** of these layouts in `{DEFAULT_MANUAL_DIR}`
(or in the folder given to `tfds build --manual_dir`):

1. **Per-frame HDF5** (preferred, no pickle), from the paper's data release if you have it: for every frame
   `<frame>_HAADF.h5` (dataset `MainImage`) *and* `<frame>_UCParameterization.h5` (datasets `xy_COM`, `Pxy`),
   side by side. The Sm content is read from the frame name (`0Sm`, `7Sm`, `10pSm`, `Sm7`, ...); otherwise add
   `{COMPOSITIONS_FILE}` at the top of the manual dir, mapping each frame name to its Sm percent, e.g. `{{"frame_a": 7}}`.
2. **`{SERIES_FILE}`** from Zenodo record 4876786 (https://zenodo.org/records/4876786,
   DOI 10.13139/ORNLNCCS/1773704). This file is a Python pickle, so it is loaded only when you pass its
   SHA-256 and the file matches it. After checking the download against the MD5 that Zenodo lists, take
   `sha256sum {SERIES_FILE}` and set the environment variable `{SERIES_SHA256_ENV}=<hex>` before
   `tfds build stem_bfo_polarization --config experimental` (or pass `series_sha256=` to
   `stem_datasets.builders.stem_bfo_polarization.experimental.read_manual_dir`).

If both layouts are present, the per-frame HDF5 files are used.
"""


def sha256_of(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class ExperimentalFrame:
    """One frame: HAADF ``image`` (float32, H x W; may hold NaNs), cell centres ``xy`` (N, 2; x = column,
    y = row, pixels), polarization ``P_pm`` (N, 2; pm, same x/y order), ``composition_sm`` as a fraction 0-1."""

    name: str
    composition_sm: float
    image: np.ndarray
    xy: np.ndarray
    P_pm: np.ndarray
    source_files: tuple[str, ...]
    sha256: dict[str, str]
    n_nan_pixels: int = 0
    n_dropped_nan_P: int = 0


class FrameFiles(NamedTuple):
    """The two files of one per-frame HDF5 frame and its Sm fraction."""

    name: str
    haadf: Path
    param: Path
    composition_sm: float


class WindowSelection(NamedTuple):
    """Windows kept (``mask``) and how many were dropped for touching NaNs or leaving the image."""

    mask: np.ndarray
    n_dropped_nan: int
    n_dropped_out_of_bounds: int


_NUMBER = r"(?<![\d.])(\d+(?:\.\d+)?)"
_TIGHT = (rf"{_NUMBER}(?:%|pct|p)?Sm", r"Sm(\d+(?:\.\d+)?)")  # 7Sm, 10pSm, 7%Sm, Sm7
_LOOSE = (rf"{_NUMBER}\s*%?\s*(?:pct|p)?[_ -]?Sm", r"Sm[_ -]?(\d+(?:\.\d+)?)")  # also 7_Sm, Sm_7


def composition_from_name(name: str) -> float | None:
    """Sm fraction written in a name (``7Sm``, ``10pSm``, ``7%Sm``, ``Sm7``; then ``7_Sm``, ``Sm_7``), None if
    absent or ambiguous. Forms without a separator win, so ``BFO_7Sm_1`` is 7 % Sm, frame 1.

    >>> composition_from_name("BFO_10pSm_a"), composition_from_name("BFO_7Sm_1"), composition_from_name("7Sm_Sm10")
    (0.1, 0.07, None)
    """
    for pattern in (_TIGHT, _LOOSE):
        found = {float(x) for p in pattern for x in re.findall(p, name)}
        if found:
            return _fraction(found.pop(), name) if len(found) == 1 else None
    return None


def _fraction(percent: object, where: str) -> float:
    """Sm percent -> fraction, checked to lie in [0, 100] %."""
    try:
        value = float(percent)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 100.0:
        raise ValueError(f"{where}: Sm content {percent!r} is not a percentage in [0, 100].")
    return round(value / 100.0, 10)


def find_frames(manual_dir: str | os.PathLike) -> list[FrameFiles]:
    """Pair every ``<frame>_HAADF.h5`` with its ``<frame>_UCParameterization.h5`` (searched recursively)."""
    root = Path(manual_dir).expanduser()
    haadf = {p.parent / p.name[: -len(HAADF_SUFFIX)]: p for p in root.rglob("*" + HAADF_SUFFIX)}
    param = {p.parent / p.name[: -len(PARAM_SUFFIX)]: p for p in root.rglob("*" + PARAM_SUFFIX)}
    missing = [f"{param[k]} has no partner: place {k.name}{HAADF_SUFFIX} beside it" for k in param.keys() - haadf]
    missing += [f"{haadf[k]} has no partner: place {k.name}{PARAM_SUFFIX} beside it" for k in haadf.keys() - param]
    if missing:
        raise FileNotFoundError("Incomplete per-frame HDF5 data in the manual dir:\n  " + "\n  ".join(sorted(missing)))
    names = [k.name for k in haadf]
    if len(set(names)) != len(names):
        raise ValueError(f"{root}: the same frame name occurs in several folders; frame names must be unique.")
    table: dict[str, float] = {}
    if (root / COMPOSITIONS_FILE).is_file():
        table = json.loads((root / COMPOSITIONS_FILE).read_text(encoding="utf-8"))
        if not isinstance(table, dict):
            raise ValueError(f"{root / COMPOSITIONS_FILE} must map frame names to Sm percent, e.g. {{\"a\": 7}}.")
    frames, unknown = [], []
    for key in sorted(haadf, key=lambda k: k.name):
        x = _fraction(table[key.name], str(root / COMPOSITIONS_FILE)) if key.name in table else None
        x = composition_from_name(key.name) if x is None else x
        if x is None:
            unknown.append(key.name)
        else:
            frames.append(FrameFiles(key.name, haadf[key], param[key], x))
    if unknown:
        raise ValueError(f"No (or an ambiguous) Sm content in the frame names {unknown}: add {root / COMPOSITIONS_FILE}"
                         f" mapping each frame name to its Sm percent, e.g. {json.dumps({unknown[0]: 7})}.")
    return frames


def _pairs(array: np.ndarray, where: str) -> np.ndarray:
    """(N, 2) float64 from (N, 2) or (2, N)."""
    a = np.asarray(array, dtype=np.float64)
    if a.ndim == 2 and a.shape[1] != 2 and a.shape[0] == 2:
        a = a.T
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"{where} has shape {np.shape(array)}; expected (N, 2) (or (2, N)). Is this the right file?")
    return a


def _frame(name: str, composition_sm: float, image, xy, P, sources: dict[str, str],
           where: dict[str, str]) -> ExperimentalFrame:
    """Validate arrays into an ExperimentalFrame; ``where`` names the file/key of image, xy and P for messages."""
    image = np.array(image, dtype=np.float32)  # a copy: the frame owns (and freezes) its arrays
    if image.ndim != 2:
        raise ValueError(f"{where['image']} has shape {image.shape}; expected a 2-D HAADF image.")
    n_nan = int(np.isnan(image).sum())
    if n_nan == image.size:
        raise ValueError(f"{where['image']} is all NaN ({image.shape}); this frame holds no image: remove it.")
    xy, P = _pairs(xy, where["xy"]).copy(), _pairs(P, where["P"]).copy()
    if len(xy) != len(P):
        raise ValueError(f"{where['xy']} has {len(xy)} cells but {where['P']} has {len(P)}; they must match.")
    keep = np.isfinite(P).all(axis=1)
    xy, P = xy[keep], P[keep]
    if not np.isfinite(xy).all():
        raise ValueError(f"{where['xy']} has non-finite centres in cells with a finite polarization.")
    for a in (image, xy, P):
        a.setflags(write=False)
    return ExperimentalFrame(name, composition_sm, image, xy, P, tuple(sources), dict(sources), n_nan,
                             int((~keep).sum()))


def _dataset(f: h5py.File, key: str, path: Path) -> np.ndarray:
    if key not in f or not isinstance(f[key], h5py.Dataset):
        raise ValueError(f"{path}: no dataset {key!r} (has {sorted(f.keys())}); "
                         f"is this a {HAADF_SUFFIX} / {PARAM_SUFFIX} file of the BFO data release?")
    return f[key][()]


def read_frame(haadf_path: str | os.PathLike, param_path: str | os.PathLike, composition_sm: float,
               name: str | None = None) -> ExperimentalFrame:
    """Read and check one per-frame HDF5 pair (``composition_sm`` as a fraction 0-1)."""
    haadf_path, param_path = Path(haadf_path), Path(param_path)
    for p in (haadf_path, param_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p} does not exist; see MANUAL_DOWNLOAD_INSTRUCTIONS.")
    with h5py.File(haadf_path, "r") as f:
        image = _dataset(f, "MainImage", haadf_path)
    with h5py.File(param_path, "r") as f:
        xy, P = _dataset(f, "xy_COM", param_path), _dataset(f, "Pxy", param_path)
    name = name or haadf_path.name.removesuffix(HAADF_SUFFIX)
    sources = {p.name: sha256_of(p) for p in (haadf_path, param_path)}
    where = {"image": f"{haadf_path}:MainImage", "xy": f"{param_path}:xy_COM", "P": f"{param_path}:Pxy"}
    return _frame(name, float(composition_sm), image, xy, P, sources, where)


def _percent_of_key(key: object, path: Path) -> float:
    if isinstance(key, (int, float, np.number)):
        return float(key)
    text = str(key).strip().rstrip("%").strip()
    try:
        return float(text)
    except ValueError:
        x = composition_from_name(str(key))
        if x is None:
            raise ValueError(f"{path}: cannot read a Sm percent from the series key {key!r}.") from None
        return x * 100.0


def read_composition_series(path: str | os.PathLike, expected_sha256: str | None) -> list[ExperimentalFrame]:
    """Read ``composition_series_dict_full.npy``, unpickling it only if its SHA-256 is ``expected_sha256``."""
    path = Path(path)
    if not expected_sha256 or not expected_sha256.strip():
        raise ValueError(f"{path} is a Python pickle and is loaded only with its expected SHA-256: pass "
                         f"set ${SERIES_SHA256_ENV} (or pass series_sha256=...) (from `sha256sum {path.name}`).")
    expected = expected_sha256.strip().lower()
    actual = sha256_of(path)
    if actual != expected:
        raise ValueError(f"{path}: SHA-256 {actual} does not match the expected {expected}; the file was not "
                         f"unpickled. Download it again from Zenodo record 4876786 or correct the checksum.")
    series = np.load(path, allow_pickle=True).item()
    if not isinstance(series, dict):
        raise ValueError(f"{path} holds a {type(series).__name__}, not a dict keyed by Sm concentration.")
    frames = []
    for key, entry in series.items():
        missing = {"main_image", "xy_COM", "Pxy"} - set(entry if isinstance(entry, dict) else ())
        if missing:
            keys = sorted(map(str, entry)) if isinstance(entry, dict) else type(entry).__name__
            raise ValueError(f"{path}[{key!r}] lacks {sorted(missing)} (has {keys}).")
        x = _fraction(_percent_of_key(key, path), f"{path}[{key!r}]")
        where = {k: f"{path}[{key!r}][{v!r}]" for k, v in (("image", "main_image"), ("xy", "xy_COM"), ("P", "Pxy"))}
        frames.append(_frame(f"series_{x * 100:g}Sm", x, entry["main_image"], entry["xy_COM"], entry["Pxy"],
                             {path.name: actual}, where))
    return sorted(frames, key=lambda fr: fr.composition_sm)


def read_manual_dir(manual_dir: str | os.PathLike, series_sha256: str | None = None) -> list[ExperimentalFrame]:
    """All frames of the manual dir: per-frame HDF5 if any, else the ``.npy`` series (checksum argument or
    ``$STEM_BFO_SERIES_SHA256``); neither -> FileNotFoundError carrying the download instructions."""
    root = Path(manual_dir).expanduser()
    if root.is_dir() and (any(root.rglob("*" + HAADF_SUFFIX)) or any(root.rglob("*" + PARAM_SUFFIX))):
        return [read_frame(f.haadf, f.param, f.composition_sm, f.name) for f in find_frames(root)]
    series = sorted(root.rglob(SERIES_FILE)) if root.is_dir() else []
    if series:
        return read_composition_series(series[0], series_sha256 or os.environ.get(SERIES_SHA256_ENV))
    raise FileNotFoundError(f"No BFO data found in {root}.\n\n{MANUAL_DOWNLOAD_INSTRUCTIONS}")


def nan_free_windows(image: np.ndarray, centres_xy: np.ndarray, window_px: int) -> WindowSelection:
    """Square windows of side ``window_px`` at the rounded (x = column, y = row) centres: kept if fully inside
    the image and NaN-free. The window spans ``[c - window_px // 2, c - window_px // 2 + window_px)``."""
    if int(window_px) != window_px or window_px < 1:
        raise ValueError(f"window_px must be a positive integer, got {window_px!r}.")
    image, window_px = np.asarray(image), int(window_px)
    centres = np.asarray(centres_xy, dtype=np.float64).reshape(-1, 2) if np.size(centres_xy) == 0 else \
        _pairs(centres_xy, "centres_xy")
    h, w = image.shape
    finite = np.isfinite(centres).all(axis=1)
    start = np.floor(np.where(finite[:, None], centres, 0.0) + 0.5).astype(np.int64) - window_px // 2
    col, row = start[:, 0], start[:, 1]
    inside = finite & (col >= 0) & (row >= 0) & (col + window_px <= w) & (row + window_px <= h)
    table = np.zeros((h + 1, w + 1), dtype=np.int64)  # summed-area table of NaN pixels
    table[1:, 1:] = np.isnan(image).cumsum(0).cumsum(1)
    r, c = np.where(inside, row, 0), np.where(inside, col, 0)
    r2, c2 = np.minimum(r + window_px, h), np.minimum(c + window_px, w)
    nan_count = table[r2, c2] - table[r, c2] - table[r2, c] + table[r, c]
    touches_nan = inside & (nan_count > 0)
    return WindowSelection(inside & ~touches_nan, int(touches_nan.sum()), int((~inside).sum()))
