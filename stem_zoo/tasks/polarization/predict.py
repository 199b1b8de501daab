"""Per-cell polarization maps of BiFeO3 from a HAADF micrograph: ``polarization_dcnn`` on sub-images.

Steps of :func:`predict_polarization` (seed: Ghosh, Nelson et al., npj Comput. Mater. 7, 149 (2021)):

1. Check the image (2-D, real, some finite pixels); NaN pixels are filled with the median of
   the others for atom finding and resampling, and remembered.
2. Cut windows of the model's size (24 px at 0.25 A/px for ``polarization_dcnn``) from the
   micrograph resampled to the model's pixel size (:func:`stem_zoo.micrograph.resample_to`):
   ``sampling="centred"`` centres them on the Fe (B-site) columns, those of class
   ``"intermediate"`` that :func:`stem_zoo.locate_atoms` finds with ``atom_model``
   (:func:`stem_datasets.pipeline.subimages.centred_windows`, bilinear at the sub-pixel positions);
   ``sampling="grid"`` cuts them on a regular grid of one pseudo-cubic cell's pitch
   (``InputSpec.lattice_constant``) without atom finding
   (:func:`stem_datasets.pipeline.subimages.grid_windows`), as the dataset's ``grid`` sub-images.
   A window is dropped when it reaches past the image ("outside") or uses a pixel within
   reach of a NaN pixel ("nan": after resampling, resampled pixels within 2 input pixels
   of a NaN, the cubic spline's support); :attr:`PolarizationMap.dropped` counts them.
3. Standardize each window (zero mean, unit std) and run the model: (Px, Py) [pm] per
   window, delta_FeBi in the image frame (x along a row, y down the rows).
4. Map the window centres back to the input's pixels (x = column index, y = row index).

A model trained on ``centred`` windows (the zoo entry) expects the Fe column in the window's
reference pixel; on ``grid`` windows it is off its training distribution (a grid-trained
model suits ``sampling="grid"``).

Example (an untrained network on a synthetic lattice of Gaussian peaks, so the numbers mean
nothing; the stand-in atom model calls every bright pixel an "intermediate" column):
    >>> import tempfile, pathlib
    >>> from stem_zoo.tasks.polarization.model import build_polarization_dcnn
    >>> yy, xx = np.mgrid[0:80, 0:96]
    >>> image = sum(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 8.0) for x in range(8, 96, 16) for y in range(8, 80, 16))
    >>> bright = lambda x: np.concatenate([x < 1, 0 * x, x >= 1, 0 * x], -1).astype("float32")
    >>> result = predict_polarization(image, build_polarization_dcnn(), pixel_size=0.25, atom_model=bright)
    >>> len(result), result.P_pm.shape, result.dropped, result.xy[0].round(1).tolist()
    (12, (12, 2), {'outside': 18, 'nan': 0}, [23.9, 23.9])
    >>> grid = predict_polarization(image, build_polarization_dcnn(), pixel_size=0.25, sampling="grid")
    >>> len(grid), grid.xy[:2].tolist()  # one cell (16 px at 0.25 A) apart
    (20, [[12.0, 12.0], [28.0, 12.0]])
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> [p.name for p in result.figures(folder, "lattice")]
    ['lattice_polarization_quiver.png', 'lattice_polarization_angle.png']
    >>> result.save_npy(folder / "lattice.npy"); np.load(folder / "lattice.npy").shape
    (12, 4)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from stem_zoo.hub import resolve_model
from stem_zoo.registry import InputSpec

SAMPLINGS = ("centred", "grid")
FE_CLASS = "intermediate"  # the atom_fcn class of Fe (Z = 26, 11-36); Bi is "heavy", O "light"
MODEL_ID = "polarization_dcnn"
CUBIC_REACH_PX = 2  # input pixels a cubic-spline resampled pixel reads on each side


@dataclass(frozen=True)
class PolarizationMap:
    """Per-cell polarization of one micrograph.

    ``xy`` (n, 2): window centres (x, y) in pixels of the input ``image`` (x = column index,
    y = row index); for ``sampling="centred"`` the Fe columns found. ``P_pm`` (n, 2): (Px, Py)
    [pm] in the image frame (Py > 0 points down the image). ``image``: the input (NaNs kept),
    ``pixel_size`` its A/px. ``dropped``: windows left out, {"outside": n, "nan": n}.
    ``model`` / ``atom_model``: what made it (``atom_model`` None for the grid);
    ``model_pixel_size`` [A/px] and ``window_px`` [px at that size]: the windows.
    """

    xy: np.ndarray
    P_pm: np.ndarray
    image: np.ndarray
    pixel_size: float
    dropped: dict
    model: str
    sampling: str = "centred"
    atom_model: str | None = None
    model_pixel_size: float = 0.25
    window_px: int = 24
    settings: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.xy)

    @property
    def magnitude_pm(self) -> np.ndarray:
        """|P| [pm] per cell."""
        return np.hypot(self.P_pm[:, 0], self.P_pm[:, 1])

    @property
    def angle_deg(self) -> np.ndarray:
        """Direction of P as drawn on the image, atan2(Py, Px) [deg]: 0 = right, 90 = down."""
        return np.degrees(np.arctan2(self.P_pm[:, 1], self.P_pm[:, 0]))

    def table(self) -> np.ndarray:
        """(n, 4) float64: x, y [px of the input], Px, Py [pm]."""
        return np.column_stack([self.xy, self.P_pm]).astype(np.float64).reshape(-1, 4)

    def save_npy(self, path) -> None:
        """A plain (n, 4) float64 array, columns x, y [px], Px, Py [pm] (no pickle: ``np.load`` reads it as is)."""
        np.save(path, self.table(), allow_pickle=False)

    def save_hdf5(self, path) -> None:
        """``xy``, ``P_pm`` and ``image`` datasets with the conventions and settings as attributes."""
        import h5py

        with h5py.File(path, "w") as handle:
            xy = handle.create_dataset("xy", data=np.asarray(self.xy, np.float64).reshape(-1, 2))
            xy.attrs["description"] = "window centres (x, y) [px of the image]: x = column index, y = row index"
            P = handle.create_dataset("P_pm", data=np.asarray(self.P_pm, np.float64).reshape(-1, 2))
            P.attrs["description"] = ("delta_FeBi (Px, Py) [pm]: Fe column minus the mean of its four Bi columns, "
                                      "image frame, x along a row, y down the rows")
            handle.create_dataset("image", data=np.asarray(self.image, np.float32), compression="gzip")
            handle.attrs["pixel_size_angstrom"] = self.pixel_size
            handle.attrs["model"] = self.model
            handle.attrs["sampling"] = self.sampling
            handle.attrs["atom_model"] = self.atom_model or ""
            handle.attrs["model_pixel_size_angstrom"] = self.model_pixel_size
            handle.attrs["window_px"] = self.window_px
            for key, value in self.dropped.items():
                handle.attrs[f"dropped_{key}"] = int(value)
            for key, value in self.settings.items():
                handle.attrs[key] = value

    def figures(self, out_dir, stem: str) -> list[Path]:
        """``<stem>_polarization_quiver.png`` (arrows on the micrograph) and ``<stem>_polarization_angle.png``
        (colour-wheel map of direction and magnitude) in ``out_dir``."""
        from stem_zoo.tasks.polarization.plots import angle_map_figure, quiver_figure

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        image = np.asarray(self.image, np.float32)
        finite = np.isfinite(image)
        shown = np.where(finite, image, np.median(image[finite])) if not finite.all() else image
        what = f"{self.model}, {self.sampling} windows, {len(self)} cells"
        return [quiver_figure(shown, self.xy, self.P_pm, out / f"{stem}_polarization_quiver.png",
                              pixel_size=self.pixel_size, title=f"{stem}: {what}"),
                angle_map_figure(self.xy, self.P_pm, out / f"{stem}_polarization_angle.png", shape=image.shape,
                                 title=f"{stem}: direction and |P| ({what})")]


def predict_polarization(image, model=MODEL_ID, pixel_size: float | None = None, atom_model="atom_fcn",
                         sampling: str | None = None, batch_size: int = 256) -> PolarizationMap:
    """Per-cell (Px, Py) [pm] of a HAADF micrograph of [100]pc BiFeO3 with ``pixel_size`` A/px (required).

    ``model``: a zoo id, model folder or ``hf://`` URI (:func:`stem_zoo.load`), a training
    run's ``.keras`` file, a Keras model, or a callable mapping standardized windows
    (n, w, w, 1) to (n, 2); a model without a zoo entry is run on the ``polarization_dcnn``
    entry's windows (24 px at 0.25 A/px). ``atom_model``: what :func:`stem_zoo.locate_atoms`
    finds the Fe columns with (``sampling="centred"`` only). ``sampling``: "centred" or "grid";
    None: the windows the model was trained on (its entry's ``subset``), else "centred".
    See the module notes for the steps and what is dropped.
    """
    from stem_zoo.micrograph import check_pixel_size, resample_for_model

    check_pixel_size(pixel_size)
    raw = _check_input(image)
    resolved = resolve_model(model, "polarization")
    zoo = getattr(resolved, "zoo", None)
    if sampling is None:
        sampling = (list(zoo.entry.subset.get("sampling", ())) if zoo else [])[:1] or ["centred"]
        sampling = sampling[0]
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be 'centred' (windows on the Fe columns) or 'grid' (a regular grid), "
                         f"got {sampling!r}.")
    spec = zoo.entry.input if zoo else _default_spec()
    window = _window_size(spec)
    target = float(spec.pixel_size)
    if zoo:
        name = zoo.entry.id
    else:
        name = str(model) if isinstance(model, (str, Path)) else getattr(resolved, "name", "model")
    predict = _window_predictor(resolved, window)

    nan = ~np.isfinite(raw)
    filled = np.where(nan, np.median(raw[~nan]), raw).astype(np.float32) if nan.any() else raw
    resampled = resample_for_model(filled, pixel_size, target, window,
                                   f"smaller than one window of {window} px ({window * target:.1f} A)")
    scale = np.array([(n_out - 1) / (n_in - 1) if n_in > 1 else 1.0
                      for n_in, n_out in zip(raw.shape[::-1], resampled.shape[::-1])])  # (x, y): input -> resampled px
    work = np.where(_resampled_mask(nan, resampled.shape), np.nan, resampled) if nan.any() else resampled

    from stem_datasets.pipeline.subimages import centred_windows, grid_windows

    if sampling == "centred":
        atom_name = atom_model if isinstance(atom_model, str) else getattr(atom_model, "name", "atom model")
        fe_xy = _fe_columns(filled, atom_model, float(pixel_size), atom_name)
        cut = centred_windows(work, fe_xy * scale, window)
    else:
        atom_name = None
        if not spec.lattice_constant:
            raise ValueError("sampling='grid' needs the model's lattice constant (InputSpec.lattice_constant) "
                             "for the grid's pitch.")
        cut = grid_windows(work, window, max(1, int(round(spec.lattice_constant / target))))
    if not len(cut.windows):
        raise ValueError(f"no window of {window} px is left: {cut.dropped['outside']} reach past the image and "
                         f"{cut.dropped['nan']} touch NaN pixels; use a larger field of view or crop the NaNs away.")
    from stem_zoo.micrograph import standardize

    inputs = standardize(cut.windows, per_item=True)[..., None]
    P = np.concatenate([predict(inputs[i:i + batch_size]) for i in range(0, len(inputs), batch_size)])
    return PolarizationMap(
        xy=np.asarray(cut.centres_xy, np.float64) / scale, P_pm=P.astype(np.float64), image=raw,
        pixel_size=float(pixel_size), dropped=dict(cut.dropped), model=str(name), sampling=sampling,
        atom_model=atom_name, model_pixel_size=target, window_px=window, settings={"nan_pixels": int(nan.sum())})


def image_2d(image) -> np.ndarray:
    """The image as a 2-D array: (H, W) or (H, W, 1)."""
    array = np.asarray(image)
    return array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array


def _check_input(image) -> np.ndarray:
    array = image_2d(image)
    if array.ndim != 2:
        raise ValueError(f"a micrograph must be a 2-D array (rows, columns); got shape {np.shape(image)}. "
                         "Pick one frame or channel first.")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"a micrograph must be real numbers, got dtype {array.dtype}.")
    array = array.astype(np.float32)
    if not np.any(np.isfinite(array)):
        raise ValueError(f"the micrograph ({array.shape[0]} x {array.shape[1]} px) has no finite pixel: "
                         "it is NaN or infinite everywhere.")
    return array


def _default_spec() -> InputSpec:
    from stem_zoo.registry import MODELS

    if MODEL_ID in MODELS:
        return MODELS[MODEL_ID].input
    from stem_zoo.tasks.polarization.model import DEFAULT_INPUT

    return DEFAULT_INPUT


def _window_size(spec: InputSpec) -> int:
    h, w = (int(v) for v in spec.crop_shape)
    if h != w:
        raise ValueError(f"polarization models read square windows; this one's input is {h} x {w} px.")
    return h


def _window_predictor(model, window: int) -> Callable[[np.ndarray], np.ndarray]:
    from stem_zoo.benchmarking import as_predictor

    def check(keras_model) -> None:
        shape, inputs = tuple(keras_model.output_shape), tuple(keras_model.input_shape)
        if len(shape) != 2 or shape[-1] != 2:
            raise ValueError(f"model {getattr(keras_model, 'name', '')!r} outputs {shape}, not one vector (Px, Py) per "
                             "window (n, 2); pass a polarization_dcnn model.")
        if len(inputs) != 4 or tuple(inputs[1:3]) != (window, window):
            raise ValueError(f"model {getattr(keras_model, 'name', '')!r} reads inputs {inputs}, not windows of "
                             f"{window} x {window} px.")

    predict, _ = as_predictor(model, check, "standardized windows (n, w, w, 1) (or a .keras file) to (Px, Py) [pm] "
                                            "(n, 2)")
    return lambda x: _checked(predict(x), len(x))


def _checked(out: np.ndarray, n: int) -> np.ndarray:
    if out.shape != (n, 2):
        raise ValueError(f"the model mapped {n} windows to an array of shape {out.shape}, not ({n}, 2).")
    return out.astype(np.float64)


def _resampled_mask(nan: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels of the resampled image (``shape``) whose cubic spline reads a NaN pixel of the input (2 px reach)."""
    if tuple(shape) == nan.shape:
        return nan
    from scipy.ndimage import binary_dilation, zoom

    reach = binary_dilation(nan, np.ones((2 * CUBIC_REACH_PX + 1,) * 2, bool))
    factors = [n_out / n_in for n_out, n_in in zip(shape, nan.shape)]
    mask = zoom(reach.astype(np.float32), factors, order=1, mode="nearest", grid_mode=False) > 1e-6
    if mask.shape != tuple(shape):  # zoom rounds like resample_to; pad or cut if it ever differs
        full = np.ones(shape, bool)
        full[:min(shape[0], mask.shape[0]), :min(shape[1], mask.shape[1])] = mask[:shape[0], :shape[1]]
        mask = full
    return mask


def _fe_columns(image: np.ndarray, atom_model, pixel_size: float, atom_name: str) -> np.ndarray:
    """(n, 2) positions (x, y) [px of ``image``] of the "intermediate" (Fe) columns that locate_atoms finds."""
    from stem_zoo.tasks.atoms.locate import locate_atoms

    found = locate_atoms(image, atom_model, pixel_size=pixel_size, refine=False,  # the positions its windows were made with
                         detector="haadf")
    fe = found.columns[found.columns["network_class"] == FE_CLASS]
    if not len(fe):
        counts = ", ".join(f"{n} {c}" for c, n in found.counts.items()) or "no columns"
        raise ValueError(f"no Fe columns found: {atom_name} found {counts} and none of class {FE_CLASS!r} (the Fe "
                         "columns of BiFeO3 [100]pc). Check the pixel size and that the image is HAADF; or pass "
                         "sampling='grid' to cut windows on a regular grid without atom finding.")
    return np.stack([fe["x"], fe["y"]], axis=1).astype(np.float64)
