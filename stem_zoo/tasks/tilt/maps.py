"""Per-B-column maps of octahedral tilts from a micrograph (seed 003, Fig. S4).

Steps of :func:`predict_map`:

1. Resample the micrograph to the model's pixel size, reflect-pad it by the normalization
   margin and apply :func:`stem_zoo.micrograph.local_standardize`: every pixel is
   normalized by the box around it, exactly as in training, so each window sees what a
   training crop sees.
2. Evaluate the model on every stride-1 window. Two evaluations give the same numbers:
   ``method="windows"`` runs the model on batches of windows; ``method="dense"`` (default)
   runs the same layers once over the whole image, pooling with stride 1 and dilating
   everything after each pooling, and turns the dense layers into dilated convolutions
   (the network uses "valid" padding, so this is exact).
3. Find the B-column lattice (:func:`register_columns`) or take the caller's origin.
4. A window's prediction belongs to its reference B column (1/8 of the width, 1/4 of the
   height of the window, the dataset's label convention): the canonical label of the crystal
   seen from that column. Anti-phase tilts change sign from one B column to the next, so a
   column's own label differs from its neighbour's (in a-b-c- alpha and beta swap). Given the
   Glazer ``pattern``, each window's label is carried to the frame of the lattice's (0, 0)
   column (:func:`reference_frame`: one label for the whole domain, with its std); without it
   every column keeps its own. Each B column then gets the mean of the windows whose reference
   lies within the training jitter (+-1/4 of a column spacing along [110] and of a cell along
   [001]) of it, and nothing from its neighbours (:func:`column_average`).
5. A model with a Gaussian head (``tilt_dcnn`` 2) also gives each window the std of (alpha +
   beta, beta - alpha, gamma) (calibrated, :func:`stem_zoo.tasks.tilt.model.decode_outputs`);
   a column's std is the mean of its windows' (overlapping windows share most pixels and most
   of their error, so averaging them does not shrink it).

Example:
    >>> import numpy as np
    >>> from stem_zoo.tasks.tilt.model import build_tilt_dcnn
    >>> from stem_zoo.registry import get_entry
    >>> model = build_tilt_dcnn(get_entry("tilt_dcnn").input)
    >>> image = np.random.default_rng(0).normal(size=(80, 112)).astype("float32")
    >>> dense = predict_map(image, model, pixel_size=0.15, column_origin=(26.0, 20.0))
    >>> loop = predict_map(image, model, pixel_size=0.15, method="windows", column_origin=(26.0, 20.0))
    >>> dense.windows.shape, dense.window_stds.shape, bool(np.abs(dense.windows - loop.windows).max() < 1e-4)
    ((29, 39, 3), (29, 39, 3), True)
    >>> dense.columns[["m", "n", "row", "col", "n_windows"]].tolist()  # two B columns have every window of their box
    [(0, 0, 26.0, 20.0, 117), (1, 0, 26.0, 38.408..., 117)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from stem_zoo.micrograph import check_image, normalization_margin, resample_to, standardize_micrograph
from stem_zoo.registry import InputSpec, get_entry


@dataclass(frozen=True)
class ColumnLattice:
    """The B-column lattice of a micrograph, in its pixels (rows, cols).

    B column (m, n) sits at ``origin + m * column_step + n * cell_step``: ``column_step``
    goes from one B column to the next along [110] (about (0, a / sqrt2) / pixel size),
    ``cell_step`` one cell along [001] (about (a, 0) / pixel size). ``method`` says where
    the lattice came from ("registered" or "given"); ``checks`` holds the registration's
    diagnostics (scores of the decisions, strain and rotation against the nominal lattice).

    >>> lattice = ColumnLattice.nominal((13.0, 9.2), pixel_size=0.15, lattice_constant=3.905)
    >>> [round(float(v), 2) for v in lattice.position(1, 1)]
    [39.03, 27.61]
    >>> [round(float(v), 3) for v in lattice.fractional(39.03, 27.61)]
    [1.0, 1.0]
    """

    origin: tuple[float, float]
    column_step: tuple[float, float]
    cell_step: tuple[float, float]
    method: str = "given"
    checks: dict = field(default_factory=dict, compare=False)

    @classmethod
    def nominal(cls, origin: tuple[float, float], pixel_size: float, lattice_constant: float,
                method: str = "given") -> "ColumnLattice":
        """The aligned lattice of spacing a/sqrt2 (columns) x a (rows) through ``origin`` (row, col)."""
        a = lattice_constant / pixel_size
        return cls((float(origin[0]), float(origin[1])), (0.0, a / math.sqrt(2)), (a, 0.0), method)

    @property
    def basis(self) -> np.ndarray:
        """2 x 2 matrix whose columns are ``column_step`` and ``cell_step`` (rows, cols)."""
        return np.array([self.column_step, self.cell_step], dtype=float).T

    def fractional(self, rows, cols) -> tuple[np.ndarray, np.ndarray]:
        """Lattice coordinates (m, n) of pixel positions; B columns sit at whole numbers."""
        inverse = np.linalg.inv(self.basis)
        d = np.stack([np.asarray(rows, float) - self.origin[0], np.asarray(cols, float) - self.origin[1]])
        m, n = np.tensordot(inverse, d, axes=1)
        return m, n

    def position(self, m, n) -> tuple[np.ndarray, np.ndarray]:
        """Pixel position (row, col) of lattice coordinates (m, n)."""
        mn = np.stack([np.asarray(m, float), np.asarray(n, float)])
        rows, cols = np.tensordot(self.basis, mn, axes=1)
        return rows + self.origin[0], cols + self.origin[1]


@dataclass(frozen=True)
class TiltMaps:
    """Per-window predictions, per-column values and per-column maps of one micrograph.

    Everything is on the resampled micrograph's pixel grid (``image``, ``pixel_size`` A/px).
    ``windows[i, j]`` is the prediction of the window whose top-left pixel is (i, j); its
    reference position is pixel ``(i + offset[0], j + offset[1])`` of ``image``.
    ``maps`` has the shape of ``windows``: ``maps[i, j]`` is the value of the B column whose
    cell (the lattice cell around it, s x a) holds that reference position, NaN where the
    column has no full value (windows missing within its jitter box, at the borders).
    ``columns`` is a structured array, one row per B column with a full value: lattice
    indices ``m`` (along [110]) and ``n`` (along [001]), position ``row``, ``col`` [px] and
    ``x_A``, ``y_A`` [A], ``n_windows`` averaged, one field per output [degree], the
    determinable quantities (:data:`QUANTITIES`) and, for a model with an uncertainty, ``std_<name>``
    of each angle and of alpha + beta, beta - alpha [degree].
    ``window_stds`` holds each window's std of (alpha + beta, beta - alpha, gamma) (None without
    an uncertainty). ``lattice`` is the B-column lattice used; ``pattern`` the Glazer pattern
    whose (0, 0)-column frame the labels are in (None: each column's own).
    """

    image: np.ndarray
    pixel_size: float
    windows: np.ndarray
    maps: np.ndarray
    offset: tuple[float, float]
    output_names: tuple[str, ...]
    source_pixel_size: float
    columns: np.ndarray
    lattice: ColumnLattice
    window_stds: np.ndarray | None = None
    pattern: str | None = None


QUANTITIES = ("alpha_plus_beta", "beta_minus_alpha", "abs_gamma")  # per column, from its canonical angles
MAX_PIXEL_SIZE_A = 0.5  # Nyquist for the 1.38 A B-O column separation is 0.69 A; keep a margin


def predict_map(image, model="tilt_dcnn", pixel_size: float | None = None, method: str = "dense",
                batch_size: int = 256, block_rows: int = 128,
                column_origin: tuple[float, float] | None = None, pattern: str | None = None,
                require_std: bool = False) -> TiltMaps:
    """Per-window and per-B-column tilt angles of a micrograph with ``pixel_size`` A/px (required).

    ``column_origin`` = (row, col) of one B column in the *resampled* micrograph (pixels of
    the model's pixel size) skips the registration and uses the nominal aligned lattice
    through it; by default the lattice is found by :func:`register_columns`. ``pattern`` (the
    crystal's Glazer pattern, e.g. "a-b-c-") puts every column's label in the frame of the
    (0, 0) column (step 4 of the module notes), so a domain has one label. ``require_std``: a
    ValueError for a model that states no uncertainty (instead of maps without stds).
    """
    if pixel_size is None:
        raise ValueError("the micrograph's pixel size is unknown: pass pixel_size=... in angstrom per pixel "
                         "(or read the file with stem_zoo.micrograph.read_micrograph, which takes it from the metadata).")
    if method not in ("dense", "windows"):
        raise ValueError(f"method must be 'dense' or 'windows', got {method!r}.")
    if pattern is not None:
        from stem_datasets.physics.glazer import parse_pattern

        parse_pattern(pattern)  # a clear error for a malformed symbol
    if isinstance(model, str):
        from stem_zoo.hub import load

        model = load(model)
    zoo = getattr(model, "zoo", None)
    spec: InputSpec = zoo.entry.input if zoo else get_entry("tilt_dcnn").input
    names = tuple(zoo.entry.outputs) if zoo else ("alpha", "beta", "gamma")
    h, w = spec.crop_shape
    if isinstance(pixel_size, (int, float)) and pixel_size > MAX_PIXEL_SIZE_A:
        raise ValueError(
            f"at {pixel_size} A/px a model window ({h * spec.pixel_size:.1f} x {w * spec.pixel_size:.1f} A) spans only "
            f"{h * spec.pixel_size / pixel_size:.0f} x {w * spec.pixel_size / pixel_size:.0f} source pixels and the O "
            f"columns, 1.4 A from the B columns, are not resolved; tilt maps need at most {MAX_PIXEL_SIZE_A} A/px "
            "(record at higher magnification, or check the pixel size: a value in nm passed as A is a common slip).")
    raw = check_image(image)
    resampled = resample_to(raw, pixel_size, spec.pixel_size)
    my, mx = normalization_margin(spec)
    size = f"{resampled.shape[0]} x {resampled.shape[1]} px at {spec.pixel_size} A/px"
    if resampled.shape[0] < h or resampled.shape[1] < w:
        raise ValueError(f"the micrograph is {size}, smaller than one model window of {h} x {w} px "
                         "(2 x 2 projected cells); use a larger field of view.")
    if resampled.shape[0] < h + 2 * my or resampled.shape[1] < w + 2 * mx:
        raise ValueError(
            f"the micrograph is {size}, smaller than one model window plus the normalization margin on each side "
            f"({h + 2 * my} x {w + 2 * mx} px): no window would be normalized from real pixels only, as in "
            "training; use a larger field of view."
        )
    standardized = standardize_micrograph(resampled, spec)
    if method == "dense":
        windows = dense_predictions(model, standardized, (h, w), block_rows)
    else:
        windows = window_predictions(model, standardized, (h, w), batch_size)

    from stem_zoo.data import augment_spec

    augmentation = augment_spec(spec)
    x_ref, y_ref = augmentation.reference_px()
    offset = (float(y_ref), float(x_ref))
    a = augmentation.lattice_constant  # the model's InputSpec: its dataset's lattice
    if column_origin is None:
        lattice = register_columns(resampled, spec.pixel_size, a)
    else:
        if len(column_origin) != 2 or not all(math.isfinite(float(v)) for v in column_origin):
            raise ValueError(f"column_origin must be (row, col) in pixels of the resampled micrograph, "
                             f"got {column_origin!r}.")
        lattice = ColumnLattice.nominal(column_origin, spec.pixel_size, a)
    from stem_zoo.benchmarking import decode_predictions
    from stem_zoo.tasks.tilt.uncertainty import STD_BASIS

    means, stds = decode_predictions(get_entry("tilt_dcnn"), windows, zoo.entry if zoo else None)
    if require_std and stds is None:
        raise ValueError(f"{zoo.entry.id + ' ' + zoo.entry.hub_revision if zoo else 'this model'} gives angles only "
                         f"({windows.shape[-1]} outputs), no uncertainty; use tilt_dcnn v0.2.0 or later (a Gaussian "
                         "head: six outputs), or call without require_std.")
    if pattern is not None:
        r, c = np.mgrid[0:means.shape[0], 0:means.shape[1]]
        fm, fn = lattice.fractional(r + offset[0], c + offset[1])
        means, stds = reference_frame(means, stds, np.rint(fm).astype(int), np.rint(fn).astype(int), pattern)
    channels = means if stds is None else np.concatenate([means, stds], axis=-1)
    channel_names = names if stds is None else (*names, *(f"std_{q}" for q in STD_BASIS))
    columns, maps = column_average(channels, offset, lattice, augmentation.jitter_fraction, channel_names, spec.pixel_size)
    return TiltMaps(resampled, spec.pixel_size, means.astype(np.float32), maps[..., :3], offset, names,
                    float(pixel_size), with_quantities(columns), lattice,
                    None if stds is None else stds.astype(np.float32), pattern)


def reference_frame(means: np.ndarray, stds: np.ndarray | None, m: np.ndarray, n: np.ndarray, pattern: str):
    """Window labels (..., 3) of columns (m, n) carried to the frame of column (0, 0), canonical; stds (..., 3) of
    (alpha + beta, beta - alpha, gamma) follow their quantities.

    A window referenced at column (m, n) reads the crystal whose reference octahedron is that
    column's (:func:`stem_datasets.physics.glazer.neighbour_transform`); the flip back is an involution
    that maps orbits to orbits, so the result is the (0, 0) column's canonical label.

    >>> means = np.array([[6.0, -4.0, 8.0], [-4.0, 6.0, 8.0]])  # what columns 0 and 1 of one a-b-c- domain read
    >>> frame, _ = reference_frame(means, None, np.array([0, 1]), np.array([0, 0]), "a-b-c-")
    >>> frame.tolist()
    [[6.0, -4.0, 8.0], [6.0, -4.0, 8.0]]
    """
    from stem_datasets.physics.glazer import canonical_transforms, neighbour_transform
    from stem_zoo.tasks.tilt.uncertainty import basis_permutation

    means = np.array(means, np.float64)
    stds = None if stds is None else np.array(stds, np.float64)
    for pm in (0, 1):
        for pn in (0, 1):
            sel = (np.mod(m, 2) == pm) & (np.mod(n, 2) == pn)
            if not sel.any():
                continue
            flip = neighbour_transform(pattern, pm, pn)
            flipped = means[sel] @ flip.T
            transforms = canonical_transforms(flipped, pattern) @ flip  # (k, 3, 3): window label -> frame label
            means[sel] = np.einsum("kij,kj->ki", transforms, means[sel])
            if stds is not None:
                stds[sel] = np.einsum("kij,kj->ki", basis_permutation(transforms), stds[sel])
    return means, stds


def with_quantities(columns: np.ndarray) -> np.ndarray:
    """The per-column table plus :data:`QUANTITIES` and, where it has ``std_`` fields, the stds of every angle."""
    from numpy.lib import recfunctions

    if not {"alpha", "beta", "gamma"} <= set(columns.dtype.names):
        return columns
    extra = {"alpha_plus_beta": columns["alpha"] + columns["beta"], "beta_minus_alpha": columns["beta"] - columns["alpha"],
             "abs_gamma": np.abs(columns["gamma"])}
    if "std_alpha_plus_beta" in columns.dtype.names:
        from stem_zoo.tasks.tilt.uncertainty import STD_BASIS, angle_stds

        angle = angle_stds(np.stack([columns[f"std_{q}"] for q in STD_BASIS], axis=-1))
        extra.update(std_alpha=angle[:, 0], std_beta=angle[:, 1], std_abs_gamma=columns["std_gamma"])
    return recfunctions.append_fields(columns, list(extra), [v.astype(np.float32) for v in extra.values()],
                                      usemask=False, asrecarray=False)


# --- the B-column lattice -------------------------------------------------------------------------------------------

_PHASE_REFLECTIONS = ((1, 0), (0, 1), (1, 1), (1, -1), (2, 0), (0, 2), (2, 1), (2, -1), (1, 2), (1, -2))


def _dft(values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """sum_p values(p) exp(-2 pi i q . p) for (n, 2) wave vectors q (rows, cols) in cycles per pixel."""
    rows, cols = np.arange(values.shape[0]), np.arange(values.shape[1])
    out = np.empty(len(q), complex)
    for k, (qr, qc) in enumerate(q):
        out[k] = np.exp(-2j * np.pi * qr * rows) @ values @ np.exp(-2j * np.pi * qc * cols)
    return out


def _refine_reciprocal(dark: np.ndarray, reciprocal: np.ndarray, max_strain: float, checks: dict) -> np.ndarray:
    """Reciprocal basis (rows g_m, g_n) fitted to the lattice peaks of the power spectrum near the nominal one.

    Peaks are located in the zero-padded spectrum of the whole (Hann-windowed) image, then
    the basis is polished by maximising the summed power of all ten reflections in the
    central 1024 x 1024 pixels at most.
    """
    from scipy.fft import next_fast_len

    values = _hann(dark)
    factor = 4 if values.size <= 512**2 else 2 if values.size <= 1024**2 else 1  # zero padding: finer peak sampling
    shape = tuple(next_fast_len(factor * n) for n in values.shape)
    power = np.abs(np.fft.fft2(values, s=shape)) ** 2
    found_hk, found_q, weights = [], [], []
    for hk in _PHASE_REFLECTIONS:
        q0 = np.asarray(hk, float) @ reciprocal
        radius = max_strain * np.hypot(*q0) + 1.5 / min(values.shape)
        centre = q0 * shape
        lo = np.floor(centre - radius * np.asarray(shape)).astype(int)
        hi = np.ceil(centre + radius * np.asarray(shape)).astype(int) + 1
        r_idx, c_idx = np.arange(lo[0], hi[0]), np.arange(lo[1], hi[1])
        box = power[np.ix_(r_idx % shape[0], c_idx % shape[1])]
        i, j = np.unravel_index(np.argmax(box), box.shape)
        if not (0 < i < box.shape[0] - 1 and 0 < j < box.shape[1] - 1) or box[i, j] < 20 * np.median(box):
            continue  # no clear peak inside the search box
        logs = np.log(box[i - 1:i + 2, j - 1:j + 2] + 1e-300)
        di = 0.5 * (logs[0, 1] - logs[2, 1]) / (logs[0, 1] - 2 * logs[1, 1] + logs[2, 1])
        dj = 0.5 * (logs[1, 0] - logs[1, 2]) / (logs[1, 0] - 2 * logs[1, 1] + logs[1, 2])
        found_hk.append(hk)
        found_q.append(((r_idx[i] + np.clip(di, -0.5, 0.5)) / shape[0], (c_idx[j] + np.clip(dj, -0.5, 0.5)) / shape[1]))
        weights.append(box[i, j])
    checks["refined_reflections"] = [list(hk) for hk in found_hk]
    hk = np.asarray(found_hk, float).reshape(-1, 2)
    if len(hk) < 2 or np.linalg.matrix_rank(hk) < 2:
        checks["refined"] = False
        return reciprocal
    sqrt_w = np.sqrt(np.asarray(weights) / max(weights))[:, None]
    fitted = np.linalg.lstsq(hk * sqrt_w, np.asarray(found_q) * sqrt_w, rcond=None)[0]
    fitted = _polish_reciprocal(_hann(_central_crop(dark, 1024)), fitted)
    nominal_basis, basis = np.linalg.inv(reciprocal), np.linalg.inv(fitted)
    strain = np.linalg.norm(basis, axis=0) / np.linalg.norm(nominal_basis, axis=0) - 1
    rotation = math.degrees(math.atan2(basis[0, 1], basis[1, 1]) - math.atan2(nominal_basis[0, 1], nominal_basis[1, 1]))
    checks.update(strain=[round(float(v), 4) for v in strain], rotation_deg=round(rotation, 3))
    if np.any(np.abs(strain) > max_strain) or abs(rotation) > 6.0:
        checks["refined"] = False
        return reciprocal
    checks["refined"] = True
    return fitted


def _hann(values: np.ndarray) -> np.ndarray:
    return values * np.outer(np.hanning(values.shape[0]), np.hanning(values.shape[1]))


def _central_crop(values: np.ndarray, size: int) -> np.ndarray:
    """At most size x size pixels from the middle."""
    r0, c0 = max(0, (values.shape[0] - size) // 2), max(0, (values.shape[1] - size) // 2)
    return values[r0:r0 + size, c0:c0 + size]


def _polish_reciprocal(values: np.ndarray, reciprocal: np.ndarray) -> np.ndarray:
    """Maximise the summed power of all ten reflections over the reciprocal basis (weak peaks help too)."""
    from scipy.optimize import minimize

    hk = np.asarray(_PHASE_REFLECTIONS, float)
    size = float(min(values.shape))
    result = minimize(lambda x: -np.sum(np.abs(_dft(values, hk @ (reciprocal + x.reshape(2, 2) / size))) ** 2),
                      np.zeros(4), method="Nelder-Mead",
                      options={"initial_simplex": np.vstack([np.zeros(4), 0.3 * np.eye(4)]), "xatol": 1e-3,
                               "fatol": 1e-9, "maxiter": 400})
    return reciprocal + result.x.reshape(2, 2) / size


def _symmetric_origin(values: np.ndarray, reciprocal: np.ndarray) -> tuple[float, float]:
    """Lattice coordinates (t_m, t_n) in [0, 1/2)^2 of a point about which the lattice amplitudes are real.

    For a lattice of 2-fold centres at t + (i/2, j/2), the amplitude of reflection (h, k)
    is F_hk exp(-2 pi i (h t_m + k t_n)) with F_hk real: minimise sum |A|^2 sin^2(phase residual).
    """
    hk = np.asarray(_PHASE_REFLECTIONS, float)
    amplitudes = _dft(values, hk @ reciprocal)
    weight, phase = np.abs(amplitudes) ** 2, np.angle(amplitudes)

    def cost(tm, tn):
        residual = phase[:, None] + 2 * np.pi * (np.outer(hk[:, 0], tm) + np.outer(hk[:, 1], tn))
        return (weight[:, None] * np.sin(residual) ** 2).sum(axis=0)

    grid = np.arange(64) / 128.0
    tm, tn = (g.ravel() for g in np.meshgrid(grid, grid, indexing="ij"))
    best = int(np.argmin(cost(tm, tn)))
    t, step, ring = np.array([tm[best], tn[best]]), 1 / 128.0, np.linspace(-1, 1, 9)
    for _ in range(4):  # local refinement on finer grids
        local = t[:, None] + step * np.stack(np.meshgrid(ring, ring, indexing="ij")).reshape(2, -1)
        t = local[:, int(np.argmin(cost(*local)))]
        step /= 4
    return float(t[0] % 0.5), float(t[1] % 0.5)


def _site_values(dark: np.ndarray, basis: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Mean of ``dark`` over every lattice translate (inside the image) of each point (k, 2) in pixels."""
    from scipy.ndimage import map_coordinates

    corners = np.array([[0, 0], [0, dark.shape[1]], [dark.shape[0], 0], [dark.shape[0], dark.shape[1]]], float)
    mn = corners @ np.linalg.inv(basis).T
    m = np.arange(math.floor(mn[:, 0].min()) - 1, math.ceil(mn[:, 0].max()) + 2)
    n = np.arange(math.floor(mn[:, 1].min()) - 1, math.ceil(mn[:, 1].max()) + 2)
    mm, nn = (g.ravel() for g in np.meshgrid(m, n, indexing="ij"))
    shifts = basis @ np.stack([mm, nn])
    out = []
    for p in points:
        r, c = p[0] + shifts[0], p[1] + shifts[1]
        inside = (r >= 1) & (r <= dark.shape[0] - 2) & (c >= 1) & (c <= dark.shape[1] - 2)
        out.append(map_coordinates(dark, [r[inside], c[inside]], order=1).mean() if inside.any() else 0.0)
    return np.asarray(out)


def register_columns(image: np.ndarray, pixel_size: float, lattice_constant: float,
                     refine: bool = True, max_strain: float = 0.08) -> ColumnLattice:
    """The B-column lattice of an ABF micrograph of a perovskite viewed along [1-10] (rows [001], columns [110]).

    ``lattice_constant`` [A] is the nominal (pseudo-cubic) one, e.g. the model's
    ``InputSpec.lattice_constant``. In this projection the columns form a rectangular s x a
    lattice (s = a / sqrt2) with
    B at (0, 0), pure O at (1/2, 0) and A-O at (0, 1/2) (fractions of s along x, a along y),
    and nothing at (1/2, 1/2). Steps:

    1. ``refine``: fit the lattice (spacing, rotation, shear within ``max_strain`` and 6
       degrees of the nominal one) to the peaks of the power spectrum, so that the
       lattice stays registered over large fields of view.
    2. The phases of ten lattice reflections give the 2-fold centres of the projected
       structure, a lattice of spacing s/2 x a/2: four candidates per cell (B, O, A-O, empty).
    3. The darkness d (minus the standardized intensity, Gaussian smoothed with sigma
       0.15 A) averaged over every cell at the four candidates picks B: the line through
       the B and A-O columns is darker than the line through O columns and empty sites
       (d_B + d_AO > d_O + d_E); along it, the dark parts d+ = max(d, 0) of the A-O column
       and of the O column beside B outweigh those of B and the empty site
       (d+_AO + d+_O > d+_B + d+_E). Only dark contrast counts there because at some
       thicknesses and defoci B and O columns turn bright while A-O stays dark.

    The decision scores (in units of the image's standard deviation) are in ``checks``.
    """
    from scipy.ndimage import gaussian_filter

    values = np.asarray(image, np.float64)
    if values.ndim != 2 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("register_columns needs one finite 2-D image.")
    dark = -(values - values.mean())
    dark /= dark.std() or 1.0
    nominal = ColumnLattice.nominal((0.0, 0.0), pixel_size, lattice_constant)
    reciprocal = np.linalg.inv(nominal.basis)  # rows: g_m, g_n in (rows, cols) cycles per pixel
    checks: dict = {}
    if refine:
        reciprocal = _refine_reciprocal(dark, reciprocal, max_strain, checks)
    basis = np.linalg.inv(reciprocal)
    t = np.array(_symmetric_origin(_hann(dark), reciprocal))
    smooth = gaussian_filter(dark, 0.15 / pixel_size)
    offsets = np.array([[0, 0], [0.5, 0], [0, 0.5], [0.5, 0.5]])  # (m, n) offsets of the candidates
    v = _site_values(smooth, basis, (t + offsets) @ basis.T).reshape(2, 2).T  # v[i, j]: m offset i/2, n offset j/2
    x_score = (v[0, 0] + v[0, 1]) - (v[1, 0] + v[1, 1])  # line m = t_m (B + AO) minus line m = t_m + 1/2
    i = 0 if x_score >= 0 else 1
    d = np.maximum(v, 0.0)
    y_score = (d[i, 1] + d[1 - i, 0]) - (d[i, 0] + d[1 - i, 1])  # (AO + O) - (B + E) if B is at n offset 0
    j = 0 if y_score >= 0 else 1
    tm, tn = (t[0] + i / 2) % 1.0, (t[1] + j / 2) % 1.0
    origin = basis @ np.array([tm, tn])
    checks.update(x_score=round(float(abs(x_score)), 4), y_score=round(float(abs(y_score)), 4),
                  site_darkness={"B": round(float(v[i, j]), 3), "O": round(float(v[1 - i, j]), 3),
                                 "AO": round(float(v[i, 1 - j]), 3), "empty": round(float(v[1 - i, 1 - j]), 3)})
    return ColumnLattice((float(origin[0]), float(origin[1])), tuple(float(x) for x in basis[:, 0]),
                         tuple(float(x) for x in basis[:, 1]), "registered", checks)


# --- per-column values ----------------------------------------------------------------------------------------------


def column_average(windows: np.ndarray, offset: tuple[float, float], lattice: ColumnLattice,
                   jitter_fraction: float = 0.25, output_names: tuple[str, ...] = ("alpha", "beta", "gamma"),
                   pixel_size: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """Per-B-column means of the window predictions, and the map of them on the windows grid.

    A window (i, j) has its reference at pixel ``(i + offset[0], j + offset[1])``; it counts
    for column (m, n) if its lattice coordinates are within +-``jitter_fraction`` of (m, n)
    in both directions (never for two columns). A column gets a value only if every window
    position in that box exists. Returns (``columns`` structured array, ``maps`` of the
    shape of ``windows``; see :class:`TiltMaps`).

    >>> lattice = ColumnLattice.nominal((13.0, 9.2), pixel_size=0.15, lattice_constant=3.905)
    >>> rows, cols = np.mgrid[0:60, 0:80]
    >>> m, n = lattice.fractional(rows + 13.0, cols + 9.2)
    >>> parity = (np.round(m) + np.round(n)) % 2
    >>> windows = np.where(parity == 0, 5.0, -5.0)[..., None].repeat(3, axis=-1)  # signs alternate per column
    >>> columns, maps = column_average(windows, (13.0, 9.2), lattice)
    >>> len(columns), sorted(set(np.abs(columns["alpha"]).tolist()))
    (8, [5.0])
    """
    windows = np.asarray(windows, np.float64)
    if windows.ndim != 3 or len(output_names) != windows.shape[-1]:
        raise ValueError(f"windows must be (rows, cols, {len(output_names)}), got shape {windows.shape}.")
    if not 0 < jitter_fraction < 0.5:
        raise ValueError(f"jitter_fraction must be in (0, 0.5), got {jitter_fraction}.")
    rows, cols = windows.shape[:2]
    r, c = np.mgrid[0:rows, 0:cols]
    fm, fn = lattice.fractional(r + offset[0], c + offset[1])
    m, n = np.rint(fm).astype(np.int64), np.rint(fn).astype(np.int64)
    inside = (np.abs(fm - m) <= jitter_fraction + 1e-9) & (np.abs(fn - n) <= jitter_fraction + 1e-9)
    m0, n0 = int(m.min()), int(n.min())
    shape = (int(m.max()) - m0 + 1, int(n.max()) - n0 + 1)
    flat = np.ravel_multi_index((m[inside] - m0, n[inside] - n0), shape)
    counts = np.bincount(flat, minlength=shape[0] * shape[1])
    sums = np.stack([np.bincount(flat, weights=windows[..., k][inside], minlength=counts.size)
                     for k in range(windows.shape[-1])], axis=-1)

    # Full columns: every grid position of the jitter box lies on the windows grid.
    mm, nn = np.unravel_index(np.arange(counts.size), shape)
    mm, nn = mm + m0, nn + n0
    box = jitter_fraction * np.array([[-1, -1], [-1, 1], [1, -1], [1, 1]])
    corner_r, corner_c = lattice.position(mm[None, :] + box[:, :1], nn[None, :] + box[:, 1:])
    lo_r, hi_r = np.ceil(corner_r.min(axis=0) - offset[0] - 1e-9), np.floor(corner_r.max(axis=0) - offset[0] + 1e-9)
    lo_c, hi_c = np.ceil(corner_c.min(axis=0) - offset[1] - 1e-9), np.floor(corner_c.max(axis=0) - offset[1] + 1e-9)
    full = (lo_r >= 0) & (hi_r <= rows - 1) & (lo_c >= 0) & (hi_c <= cols - 1) & (counts > 0)

    means = np.full(sums.shape, np.nan)
    means[full] = sums[full] / counts[full, None]
    maps = means[np.ravel_multi_index((m - m0, n - n0), shape)].astype(np.float32)

    pos_r, pos_c = lattice.position(mm, nn)
    dtype = [("m", "i4"), ("n", "i4"), ("row", "f8"), ("col", "f8"), ("x_A", "f8"), ("y_A", "f8"),
             ("n_windows", "i4")] + [(name, "f4") for name in output_names]
    columns = np.zeros(int(full.sum()), dtype=dtype)
    order = np.lexsort((mm[full], nn[full]))  # row by row (n), then along the row (m)
    columns["m"], columns["n"] = mm[full][order], nn[full][order]
    columns["row"], columns["col"] = pos_r[full][order], pos_c[full][order]
    columns["x_A"], columns["y_A"] = columns["col"] * pixel_size, columns["row"] * pixel_size
    columns["n_windows"] = counts[full][order]
    for k, name in enumerate(output_names):
        columns[name] = means[full, k][order]
    return columns, maps


def column_image(maps: TiltMaps, shape: tuple[int, int] | None = None, fields: tuple[str, ...] | None = None) -> np.ndarray:
    """Per-pixel image (rows, cols, fields) of the column values (default: the outputs): each lattice cell carries its
    column's value."""
    rows, cols = shape or maps.image.shape
    fields = fields or maps.output_names
    lookup = {(int(c["m"]), int(c["n"])): [float(c[name]) for name in fields] for c in maps.columns}
    r, c = np.mgrid[0:rows, 0:cols]
    fm, fn = maps.lattice.fractional(r, c)
    out = np.full((rows, cols, len(fields)), np.nan, np.float32)
    if not lookup:
        return out
    keys = np.array(list(lookup))
    m0, n0 = keys.min(axis=0)
    table = np.full((*(keys.max(axis=0) - keys.min(axis=0) + 1), len(fields)), np.nan, np.float32)
    for (m, n), value in lookup.items():
        table[m - m0, n - n0] = value
    m, n = np.rint(fm).astype(int) - m0, np.rint(fn).astype(int) - n0
    ok = (m >= 0) & (m < table.shape[0]) & (n >= 0) & (n < table.shape[1])
    out[ok] = table[m[ok], n[ok]]
    return out


# --- model evaluation -----------------------------------------------------------------------------------------------


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


# --- output ---------------------------------------------------------------------------------------------------------


def save_maps_hdf5(maps: TiltMaps, path) -> None:
    """Maps, per-window predictions, the per-column table and the resampled image, with their geometry."""
    import h5py

    with h5py.File(path, "w") as handle:
        for name in ("maps", "windows", "image"):
            handle.create_dataset(name, data=getattr(maps, name), compression="gzip")
        columns = handle.create_dataset("columns", data=maps.columns)
        columns.attrs["description"] = ("one row per B column: lattice indices m ([110]) and n ([001]), position "
                                        "row/col [px] and x_A/y_A [A] in the resampled image, windows averaged, "
                                        "canonical angles, alpha + beta, beta - alpha, |gamma| and (with an "
                                        "uncertainty) their std_ [degree]")
        if maps.window_stds is not None:
            handle.create_dataset("window_stds", data=maps.window_stds, compression="gzip")
        handle.attrs["label_frame"] = (f"Glazer {maps.pattern}: every column in the frame of column (0, 0)"
                                       if maps.pattern else "each column's own canonical label")
        handle.attrs["pixel_size_angstrom"] = maps.pixel_size
        handle.attrs["source_pixel_size_angstrom"] = maps.source_pixel_size
        handle.attrs["map_offset_pixels"] = maps.offset
        handle.attrs["outputs"] = list(maps.output_names)
        handle.attrs["units"] = "degree"
        handle.attrs["lattice_origin_pixels"] = maps.lattice.origin
        handle.attrs["lattice_column_step_pixels"] = maps.lattice.column_step
        handle.attrs["lattice_cell_step_pixels"] = maps.lattice.cell_step
        handle.attrs["lattice_method"] = maps.lattice.method


def save_columns_csv(maps: TiltMaps, path) -> None:
    """The per-column table as CSV: m, n, row, col [px], x_A, y_A [A], n_windows, angles, quantities, stds [degree]."""
    names = maps.columns.dtype.names
    np.savetxt(path, np.stack([maps.columns[n].astype(float) for n in names], axis=1) if len(maps.columns)
               else np.zeros((0, len(names))), delimiter=",", header=",".join(names), comments="", fmt="%.6g")


def map_figure(maps: TiltMaps, path, title: str = "") -> None:
    """Micrograph with its B columns, per-column maps of each angle (signed, |angle|, and its std where the model
    gives one), 1 nm scale bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(maps.output_names)
    has_std = all(f"std_{name}" in (maps.columns.dtype.names or ()) for name in maps.output_names)
    rows = 3 if has_std else 2
    fig, axes = plt.subplots(rows, n + 1, figsize=(3.6 * (n + 1), 3.3 * rows))
    px = maps.pixel_size
    extent = (0, maps.image.shape[1] * px, maps.image.shape[0] * px, 0)
    per_pixel = column_image(maps)
    have = len(maps.columns) > 0
    limit = float(np.nanmax(np.abs(per_pixel))) if have else 1.0
    limit = limit if math.isfinite(limit) and limit > 0 else 1.0

    axes[0, 0].imshow(maps.image, cmap="gray", extent=extent)
    if have:
        axes[0, 0].plot(maps.columns["x_A"], maps.columns["y_A"], "o", ms=2.5, mfc="none", mec="tab:orange", mew=0.8)
    axes[0, 0].set_title(f"micrograph, {len(maps.columns)} B columns")
    oy, ox = maps.offset
    window_extent = (ox * px, (ox + maps.windows.shape[1]) * px, (oy + maps.windows.shape[0]) * px, oy * px)
    raw = axes[1, 0].imshow(maps.windows[..., 0], cmap="RdBu_r", vmin=-limit, vmax=limit, extent=window_extent)
    axes[1, 0].set_xlim(extent[:2])
    axes[1, 0].set_ylim(extent[2:])
    if have:
        axes[1, 0].plot(maps.columns["x_A"], maps.columns["y_A"], "k.", ms=2)
    axes[1, 0].set_title(f"{maps.output_names[0]} per window [deg]")
    fig.colorbar(raw, ax=axes[1, 0], fraction=0.046, pad=0.04)
    frame = f" ({maps.pattern}, column (0, 0) frame)" if maps.pattern else ""
    for k, name in enumerate(maps.output_names):
        signed = axes[0, k + 1].imshow(per_pixel[..., k], cmap="RdBu_r", vmin=-limit, vmax=limit, extent=extent)
        axes[0, k + 1].set_title(f"{name} per column [deg]{frame if k == 0 else ''}", fontsize=9)
        fig.colorbar(signed, ax=axes[0, k + 1], fraction=0.046, pad=0.04)
        magnitude = axes[1, k + 1].imshow(np.abs(per_pixel[..., k]), cmap="viridis", vmin=0, vmax=limit, extent=extent)
        axes[1, k + 1].set_title(f"|{name}| per column [deg]")
        fig.colorbar(magnitude, ax=axes[1, k + 1], fraction=0.046, pad=0.04)
    if has_std:
        stds = column_image(maps, fields=tuple(f"std_{name}" for name in maps.output_names))
        top = float(np.nanmax(stds)) if have and np.isfinite(stds).any() else 1.0
        for k, name in enumerate(maps.output_names):
            shown = axes[2, k + 1].imshow(stds[..., k], cmap="magma", vmin=0, vmax=top, extent=extent)
            axes[2, k + 1].set_title(f"std of {name} per column [deg]")
            fig.colorbar(shown, ax=axes[2, k + 1], fraction=0.046, pad=0.04)
        if have:
            axes[2, 0].hist([maps.columns[f"std_{name}"] for name in maps.output_names], bins=20, label=maps.output_names)
            axes[2, 0].legend(fontsize=7)
        axes[2, 0].set_title("per-column std [deg]")
    for ax in axes[:, 1:].ravel().tolist() + axes[:2, 0].tolist():
        ax.set_facecolor("0.85")  # columns without a full value
        ax.set_xticks([])
        ax.set_yticks([])
        x0, y0 = 0.05 * extent[1], 0.93 * extent[2]
        ax.plot([x0, x0 + 10.0], [y0, y0], color="gold", lw=4)
        ax.text(x0, y0 - 0.03 * extent[2], "1 nm", color="gold")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
