"""Column positions measured on the image: 2-D Gaussian fits around a network's proposals.

A network (or a peak finder) proposes where columns are; :func:`refine_columns` then reads each
position from the image itself, so a column that sits off the site a lattice would put it at
(a polar O column 40 pm from its centrosymmetric site) is measured where it is:

1. orient the image so that columns are maxima (HAADF as is, ABF inverted: ``orientation``);
2. fit b + A exp(-r^2 / 2 s^2) around every proposal at once (:func:`fit_gaussians`,
   Levenberg-Marquardt), on the pixels of a window (``radius_px``) that lie within
   ``neighbour_fraction`` of the distance to the nearest other proposal (at least 1.5 px), so
   that a close neighbour's tail does not pull the fit (atomap masks its fits the same way, with
   its ``percent_to_nn`` = 0.4). On ``stem_atom_columns/small`` 2.1.0 validation, with
   atom_fcn v0.3.0's proposals, a 0.8 A window and a disc of 0.4 x the nearest-neighbour
   distance gave an RMSE of 10.7 pm where the plain +-1.5 sigma window gave 11.2 pm (0.3: 10.9,
   0.5: 11.0); on the hold-out set's dumbbells, noise-free, GaAs [110] HAADF 15.1 -> 12.1 pm and
   GaN [11-20] ABF 16.4 -> 12.5 pm. (A second pass with each window's neighbours' fitted
   Gaussians subtracted was measured and dropped: a Gaussian is not the probe's profile, and
   subtracting it moved positions by more than the neighbours did: RMSE 7.2 -> 9.3 pm on
   ``stem_atom_columns/smoke`` test, on the columns LoG also finds);
3. report each position's standard error from the fit (residual variance times (J^T J)^-1) and
   combine it with the proposal by inverse variance, the proposal counting as a measurement of
   standard error ``prior_sigma_px``: at high dose the image decides, at a dose where the fit is
   noisier than the proposal, the proposal weighs in (on the same columns: 7.2 pm against 9.0 pm
   for the fit alone on ``smoke`` test, 16.2 against 20.4 pm at 2e3-5e3 e/A^2).

Example (two Gaussian columns 1.2 A apart at 0.2 A/px, proposals 2 px off):
    >>> yy, xx = np.mgrid[0:40, 0:40]
    >>> image = sum(np.exp(-((xx - x) ** 2 + (yy - 20.0) ** 2) / (2 * 1.2 ** 2)) for x in (17.0, 23.0))
    >>> fit = refine_columns(image, np.array([[15.5, 20.0], [24.5, 20.0]]), sigma_px=1.2, prior_sigma_px=None)
    >>> np.round(fit.xy, 2).tolist(), fit.ok.tolist()
    ([[17.0, 20.0], [23.0, 20.0]], [True, True])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GaussianFits:
    """Fitted columns: ``xy`` (n, 2) [px], ``sigma`` [px] (width), ``amplitude`` and ``background`` (image units),
    ``stderr`` (n,) [px] (standard error of the position, the larger axis), ``ok`` (the fit converged inside its
    bounds)."""

    xy: np.ndarray
    sigma: np.ndarray
    amplitude: np.ndarray
    background: np.ndarray
    stderr: np.ndarray
    ok: np.ndarray


def orientation(image: np.ndarray, column_weight: np.ndarray) -> float:
    """+1 if columns are bright (HAADF), -1 if dark (ABF): the sign of the image's correlation with
    ``column_weight`` (e.g. a network's column probability map, same shape)."""
    a = np.asarray(image, float) - np.mean(image)
    b = np.asarray(column_weight, float) - np.mean(column_weight)
    return 1.0 if float(np.sum(a * b)) >= 0 else -1.0


def refine_columns(image: np.ndarray, xy: np.ndarray, sigma_px: float, sign: float = 1.0, max_shift_px: float = 2.5,
                   prior_sigma_px: float | None = 0.3, radius_px: int | None = None,
                   neighbour_fraction: float | None = None) -> GaussianFits:
    """Positions of the columns proposed at ``xy`` (n, 2) [px], fitted on ``image`` (see the module docstring).

    ``sigma_px``: starting Gaussian width; ``sign``: +1 bright columns, -1 dark (:func:`orientation`);
    ``max_shift_px``: how far a fit may move from its proposal; ``prior_sigma_px``: the proposal's
    standard error (None: the fit alone). A failed fit keeps its proposal with standard error ``prior_sigma_px``.
    ``radius_px``: half-width of each fit's window (default max(2, 1.5 sigma)); ``neighbour_fraction``:
    each fit uses only the pixels within this fraction of the distance to its nearest other proposal
    (at least 1.5 px; None: the whole window).
    """
    values = sign * np.asarray(image, float)
    values = (values - values.mean()) / (values.std() or 1.0)
    xy = np.asarray(xy, float).reshape(-1, 2)
    peaks = xy[:, ::-1]
    disc = None
    if neighbour_fraction is not None and len(xy) > 1:
        from scipy.spatial import cKDTree

        nearest = cKDTree(xy).query(xy, 2)[0][:, 1]
        disc = np.maximum(neighbour_fraction * nearest, 1.5)
    fits = fit_gaussians(values, peaks, sigma_px, radius_px, max_shift=max_shift_px, disc=disc)
    if prior_sigma_px is None:
        position, stderr = np.where(fits.ok[:, None], fits.xy, xy), np.where(fits.ok, fits.stderr, np.nan)
    else:
        w_fit = np.where(fits.ok, 1.0 / np.maximum(fits.stderr, 1e-6) ** 2, 0.0)
        w_prior = 1.0 / prior_sigma_px**2
        position = (w_fit[:, None] * np.nan_to_num(fits.xy) + w_prior * xy) / (w_fit + w_prior)[:, None]
        stderr = 1.0 / np.sqrt(w_fit + w_prior)
    return GaussianFits(position, fits.sigma, fits.amplitude, fits.background, stderr, fits.ok)


def fit_gaussian_peak(window: np.ndarray, x0: float, y0: float, sigma: float,
                      max_shift: float = 1.5) -> tuple[float, float, float] | None:
    """(x, y, sigma) [px, window coordinates] of b + A exp(-((x-xc)^2 + (y-yc)^2) / 2 s^2) fitted to ``window``.

    Starts at (x0, y0, sigma); the centre may move at most ``max_shift`` px. None if the fit
    fails. One window of :func:`fit_gaussian_peaks`, whose window is the whole array here.

    >>> yy, xx = np.mgrid[0:9, 0:9]
    >>> window = 0.2 + 2.0 * np.exp(-((xx - 4.37) ** 2 + (yy - 3.81) ** 2) / (2 * 1.3 ** 2))
    >>> [round(v, 3) for v in fit_gaussian_peak(window, 4.0, 4.0, 1.0)]
    [4.37, 3.81, 1.3]
    """
    window = np.asarray(window, float)
    radius = max(window.shape)
    x, y, s, ok = fit_gaussian_peaks(window, np.array([[y0, x0]]), sigma, radius, max_shift)
    return (float(x[0]), float(y[0]), float(s[0])) if ok[0] else None


def fit_gaussian_peaks(image: np.ndarray, peaks: np.ndarray, sigma: float, radius: int | None = None,
                       max_shift: float = 1.5, iterations: int = 60, block: int = 4096):
    """(x, y, sigma, ok) of 2-D Gaussians + background fitted around every peak at once (Levenberg-Marquardt).

    ``peaks`` (n, 2) are (row, col) starting points; each fit uses the pixels of ``image``
    within ``radius`` (default max(2, 1.5 sigma)) of its start, in both directions, that lie
    inside the image. The centre is kept within ``max_shift`` px of its start, the width in
    [0.3, 3] sigma and the amplitude >= 0; ``ok`` is False for a fit that ends on the
    centre's bound or has fewer than 9 pixels.

    >>> yy, xx = np.mgrid[0:20, 0:20]
    >>> image = sum(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 2.0) for x, y in [(5.3, 6.6), (14.2, 12.9)])
    >>> x, y, s, ok = fit_gaussian_peaks(image, np.array([[7, 5], [13, 14]]), sigma=1.2)
    >>> np.round(x, 3).tolist(), np.round(y, 3).tolist(), np.round(s, 3).tolist(), ok.tolist()
    ([5.3, 14.2], [6.6, 12.9], [1.0, 1.0], [True, True])
    """
    fits = fit_gaussians(image, peaks, sigma, radius, max_shift, iterations, block)
    return fits.xy[:, 0], fits.xy[:, 1], fits.sigma, fits.ok


def fit_gaussians(image: np.ndarray, peaks: np.ndarray, sigma: float, radius: int | None = None,
                  max_shift: float = 1.5, iterations: int = 60, block: int = 4096,
                  disc: np.ndarray | None = None) -> GaussianFits:
    """:func:`fit_gaussian_peaks` with amplitudes, backgrounds and standard errors of the positions.

    ``disc`` (n,) [px]: each fit uses only the pixels of its window within this distance of its start."""
    image = np.asarray(image, float)
    peaks = np.asarray(peaks, float).reshape(-1, 2)
    radius = int(radius if radius is not None else max(2, round(1.5 * sigma)))
    disc = np.full(len(peaks), np.inf) if disc is None else np.broadcast_to(np.asarray(disc, float), (len(peaks),))
    outs = [_fit_block(image, peaks[i:i + block], sigma, radius, max_shift, iterations, disc[i:i + block])
            for i in range(0, len(peaks), block)]
    if not outs:
        empty = np.zeros(0)
        return GaussianFits(np.zeros((0, 2)), empty, empty, empty, empty, np.zeros(0, bool))
    params, stderr, ok = (np.concatenate(parts) for parts in zip(*outs))
    return GaussianFits(params[:, :2], params[:, 2], params[:, 3], params[:, 4], stderr, ok)


def _fit_block(image: np.ndarray, peaks: np.ndarray, sigma: float, radius: int, max_shift: float, iterations: int,
               disc: np.ndarray):
    h, w = image.shape
    offsets = np.arange(-radius, radius + 1)
    r0, c0 = np.round(peaks[:, 0]).astype(int), np.round(peaks[:, 1]).astype(int)
    rows = (r0[:, None, None] + offsets[None, :, None]) + 0 * offsets[None, None, :]
    cols = (c0[:, None, None] + offsets[None, None, :]) + 0 * offsets[None, :, None]
    near = (rows - peaks[:, :1, None]) ** 2 + (cols - peaks[:, 1:, None]) ** 2 <= disc[:, None, None] ** 2
    valid = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w) & near).reshape(len(peaks), -1).astype(float)
    data = image[np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)].reshape(len(peaks), -1) * valid
    X, Y = cols.reshape(len(peaks), -1).astype(float), rows.reshape(len(peaks), -1).astype(float)
    big = np.where(valid > 0, data, np.inf).min(axis=1)
    top = np.where(valid > 0, data, -np.inf).max(axis=1)
    start = np.stack([peaks[:, 1], peaks[:, 0], np.full(len(peaks), float(sigma)), top - big, big], axis=1)
    lower = np.stack([start[:, 0] - max_shift, start[:, 1] - max_shift, np.full(len(peaks), 0.3 * sigma),
                      np.zeros(len(peaks)), np.full(len(peaks), -np.inf)], axis=1)
    upper = np.stack([start[:, 0] + max_shift, start[:, 1] + max_shift, np.full(len(peaks), 3.0 * sigma),
                      np.full(len(peaks), np.inf), np.full(len(peaks), np.inf)], axis=1)

    def residual(p, k):
        g = np.exp(-((X[k] - p[:, :1]) ** 2 + (Y[k] - p[:, 1:2]) ** 2) / (2 * p[:, 2:3] ** 2))
        return (p[:, 4:5] + p[:, 3:4] * g - data[k]) * valid[k], g

    def jacobian(p, gk, k):
        dx, dy, width, amplitude = X[k] - p[:, :1], Y[k] - p[:, 1:2], p[:, 2:3], p[:, 3:4]
        jac = np.stack([amplitude * gk * dx / width**2, amplitude * gk * dy / width**2,
                        amplitude * gk * (dx**2 + dy**2) / width**3, gk, np.ones_like(gk)], axis=-1)
        return jac * valid[k][..., None]

    params = start.copy()
    everyone = np.arange(len(peaks))
    res, g = residual(params, everyone)
    cost = np.sum(res**2, axis=1)
    damping = np.full(len(peaks), 1e-3)
    active = everyone  # windows still moving
    for _ in range(iterations):
        if not len(active):
            break
        p, gk, rk = params[active], g[active], res[active]
        jac = jacobian(p, gk, active)
        jt = jac.transpose(0, 2, 1)
        jtj, grad = jt @ jac, (jt @ rk[..., None])[..., 0]
        diagonal = np.diagonal(jtj, axis1=1, axis2=2)
        shift = damping[active, None] * diagonal + 1e-12 * (1 + diagonal.max(axis=1, keepdims=True))
        step = np.linalg.solve(jtj + shift[..., None] * np.eye(5), -grad[..., None])[..., 0]
        trial = np.clip(p + step, lower[active], upper[active])
        trial_res, trial_g = residual(trial, active)
        trial_cost = np.sum(trial_res**2, axis=1)
        better = trial_cost < cost[active]
        moved = active[better]
        params[moved], res[moved], g[moved] = trial[better], trial_res[better], trial_g[better]
        cost[moved] = trial_cost[better]
        damping[active] = np.where(better, damping[active] / 3, damping[active] * 3)
        done = (np.abs(step[:, :3]).max(axis=1) < 1e-7) | (damping[active] > 1e10)
        active = active[~done]
    # standard errors of the centre: residual variance times (J^T J)^-1 at the optimum
    jac = jacobian(params, g, everyone)
    jtj = jac.transpose(0, 2, 1) @ jac + 1e-12 * np.eye(5)
    dof = np.maximum(valid.sum(axis=1) - 5, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        covariance = np.linalg.pinv(jtj) * (cost / dof)[:, None, None]
        stderr = np.sqrt(np.maximum(covariance[:, 0, 0], covariance[:, 1, 1]))
    inside = np.all(np.abs(params[:, :2] - start[:, :2]) < max_shift - 1e-6, axis=1)
    ok = inside & (valid.sum(axis=1) >= 9) & (params[:, 3] > 0) & np.isfinite(cost) & np.isfinite(stderr)
    return params, stderr, ok
