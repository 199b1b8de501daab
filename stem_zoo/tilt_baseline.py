"""The physics baseline beside the tilt models: maximum-likelihood GP fits of dataset crops, and their bound.

:func:`score_mle` fits :func:`stem_datasets.tilt_mle.fit_crop` to the first ``limit`` crops of a
split at one dose and scores them like a model (predictions aligned to their labels' orbits,
canonical angles and the determinable combinations), beside the Cramer-Rao bound of the same
crops under the same GP model (:func:`stem_datasets.tilt_mle.crop_crb`, thickness, shift and
magnification unknown) and the efficiency bound / RMSE. :func:`baseline_table` writes both as
markdown, and can put a network's RMSE on the same split beside them.

Example (fits the smoke GP the first time, a minute or two):
    >>> import stem_datasets, tensorflow_datasets as tfds  # doctest: +SKIP
    >>> builder = tfds.builder("stem_abf_tilt/smoke")  # doctest: +SKIP
    >>> row = score_mle(builder, "test", dose=1e4, limit=4)  # doctest: +SKIP
    >>> sorted(row["rmse_deg"])  # doctest: +SKIP
    ['alpha', 'alpha_plus_beta', 'beta', 'beta_minus_alpha', 'gamma']
"""

from __future__ import annotations

import numpy as np

from stem_zoo.benchmarking import align_to_orbit

from stem_datasets.limits import COMBINATIONS

QUANTITIES = tuple(COMBINATIONS)
_COMBINATIONS = np.array(list(COMBINATIONS.values())).T  # (3, quantity): angle errors @ it = quantity errors
NUISANCES = ("thickness", "shift", "magnification")


def _crops(builder, split: str, dose: float, limit: int) -> list[dict]:
    import tensorflow_datasets as tfds

    if split not in builder.info.splits:
        raise ValueError(f"{builder.name} has no split {split!r}; it has {', '.join(builder.info.splits)}.")
    if split == "train":
        raise ValueError("train holds clean images only; score the baseline on an evaluation split.")
    doses = builder.info.metadata.get("doses_per_A2", [])
    if float(dose) not in [float(d) for d in doses]:
        raise ValueError(f"{builder.name}/{builder.builder_config.name} has no examples at dose {dose:g}; it has {doses}.")
    out = []
    for ex in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
        if float(ex["dose"]) == float(dose):
            out.append(ex)
            if len(out) == limit:
                break
    return out


def score_mle(builder, split: str, dose: float = 1e4, limit: int = 12, nuisance: tuple[str, ...] = NUISANCES) -> dict:
    """MLE fits of the first ``limit`` crops of ``split`` at ``dose``: RMSE, RMS bound and efficiency per quantity.

    The GP of the crop's pattern at the crop's ABF range (the nearest GP range where the optics
    differ); its thickness index is the layer nearest the example's thickness (for the bound only).
    """
    from stem_datasets.abf_tilt import margin_px, nominal_detectors
    from stem_datasets.tilt_mle import CropModel, crop_crb, fit_crop

    recipe = builder.builder_config.recipe
    my, mx = margin_px(recipe)
    h, w = recipe.crop_shape()
    models: dict[tuple, CropModel] = {}
    true, pred, bounds, seconds, patterns = [], [], [], [], []
    for ex in _crops(builder, split, dose, limit):
        pattern = ex["pattern"].decode()
        detectors = nominal_detectors(recipe)
        detector = min(detectors, key=lambda d: abs(d[0] - float(ex["abf_inner_mrad"])))
        key = (pattern, detector)
        if key not in models:
            models[key] = CropModel.of(recipe, pattern, detector)
        model = models[key]
        fit = fit_crop(model, ex["image"][my:my + h, mx:mx + w, 0], dose)
        layer = int(np.argmin(np.abs(model.thicknesses_nm - float(ex["thickness_nm"]))))
        try:  # the bound where the truth lies inside the GP (not for CaTiO3's or unseen thicknesses' own physics)
            crb = crop_crb(model, ex["raw_angles"], layer, dose, nuisance)
            bounds.append([crb[q] for q in QUANTITIES])
        except ValueError:
            bounds.append([np.nan] * len(QUANTITIES))
        true.append(ex["angles"])
        pred.append(fit.angles)
        seconds.append(fit.seconds)
        patterns.append(pattern)
    true, pred = np.array(true, dtype=float), align_to_orbit(np.array(true, float), np.array(pred, float), patterns)
    rmse = np.sqrt(np.mean(((pred - true) @ _COMBINATIONS) ** 2, axis=0))
    bound = np.sqrt(np.nanmean(np.array(bounds) ** 2, axis=0))
    return {
        "split": split, "dose": float(dose), "n": len(true), "nuisance": list(nuisance),
        "rmse_deg": dict(zip(QUANTITIES, rmse.round(3).tolist())),
        "crb_deg": dict(zip(QUANTITIES, bound.round(3).tolist())),
        "efficiency": dict(zip(QUANTITIES, (bound / rmse).round(3).tolist())),
        "seconds_per_crop": round(float(np.mean(seconds)), 2),
    }


def baseline_table(rows: list[dict], networks: dict[str, dict] | None = None) -> str:
    """Markdown: per split, the MLE's RMSE, the bound and the efficiency per quantity; ``networks`` maps a
    model name to its benchmark record ``by="dose"``, whose RMSE on the same split and dose (every crop) is put beside.

    >>> row = {"split": "test", "dose": 1e4, "n": 2, "seconds_per_crop": 3.0, "rmse_deg": dict.fromkeys(QUANTITIES, 0.6),
    ...        "crb_deg": dict.fromkeys(QUANTITIES, 0.3), "efficiency": dict.fromkeys(QUANTITIES, 0.5)}
    >>> net = {"splits": {}, "by_feature": {"feature": "dose", "test": {"10000": {"n": 30, **{f"rmse_{q}_deg": 2.0 for q in QUANTITIES}}}}}
    >>> print(baseline_table([row], {"my_net": net}).splitlines()[-1])
    | | | 30 | my_net RMSE (every crop at this dose) | 2.00 | 2.00 | 2.00 | 2.00 | 2.00 | |
    """
    lines = ["| split | dose [e/A^2] | n | | " + " | ".join(QUANTITIES) + " | s per crop |",
             "| --- | --- | --- | --- | " + " | ".join("---" for _ in QUANTITIES) + " | --- |"]
    for row in rows:
        head = f"| {row['split']} | {row['dose']:g} | {row['n']} |"
        lines.append(f"{head} MLE RMSE | " + " | ".join(f"{row['rmse_deg'][q]:.2f}" for q in QUANTITIES)
                     + f" | {row['seconds_per_crop']} |")
        lines.append("| | | | CRB (same crops) | " + " | ".join(f"{row['crb_deg'][q]:.2f}" for q in QUANTITIES) + " | |")
        lines.append("| | | | efficiency CRB / RMSE | " + " | ".join(f"{row['efficiency'][q]:.2f}" for q in QUANTITIES) + " | |")
        for name, record in (networks or {}).items():
            m = record.get("by_feature", {}).get(row["split"], {}).get(f"{row['dose']:g}", {})
            cells = [m.get(f"rmse_{q}_deg") for q in QUANTITIES]
            if any(c is not None for c in cells):
                lines.append(f"| | | {m['n']} | {name} RMSE (every crop at this dose) | "
                             + " | ".join("-" if c is None else f"{c:.2f}" for c in cells) + " | |")
    return "\n".join(lines) + "\n"
