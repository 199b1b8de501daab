"""The physics baseline beside the tilt models: maximum-likelihood GP fits of dataset crops, and their bound.

:func:`score_mle` fits :func:`stem_datasets.builders.stem_abf_tilt.mle.fit_crop` to the first ``limit`` crops of a
split at one dose and scores them like a model (predictions aligned to their labels' orbits,
canonical angles and the determinable combinations), beside the Cramer-Rao bound of the same
crops (thickness, shift and magnification unknown) and the efficiency bound / RMSE. :func:`baseline_table` writes both as
markdown, and can put a network's RMSE on the same split beside them. The bound of a GP-made crop is
the GP model's (its exact model); of a multislice crop, the multislice one (:func:`stem_datasets.builders.stem_abf_tilt.limits.tilt_crb`).

Example (fits the smoke GP the first time, a minute or two):
    >>> import stem_datasets, tensorflow_datasets as tfds  # doctest: +SKIP
    >>> builder = tfds.builder("stem_abf_tilt/smoke")  # doctest: +SKIP
    >>> row = score_mle(builder, "test", dose=1e4, limit=4)  # doctest: +SKIP
    >>> sorted(row["rmse_deg"])  # doctest: +SKIP
    ['alpha', 'alpha_plus_beta', 'beta', 'beta_minus_alpha', 'gamma']
"""

from __future__ import annotations

import numpy as np

from stem_zoo.tasks.tilt.metrics import align_to_orbit

from stem_datasets.builders.stem_abf_tilt.limits import COMBINATIONS
from stem_datasets.builders.stem_abf_tilt.mle import NUISANCES, QUANTITIES

_COMBINATIONS = np.array([COMBINATIONS[q] for q in QUANTITIES]).T  # (3, quantity): angle errors @ it = quantity errors


def _crops(builder, split: str, dose: float, limit: int) -> list[dict]:
    """The first ``limit`` examples of ``split`` at ``dose`` with the nominal ABF range (the bound's)."""
    import tensorflow_datasets as tfds

    if split not in builder.info.splits:
        raise ValueError(f"{builder.name} has no split {split!r}; it has {', '.join(builder.info.splits)}.")
    if split == "train":
        raise ValueError("train holds clean images only; score the baseline on an evaluation split.")
    doses = builder.info.metadata.get("doses_per_A2", [])
    if float(dose) not in [float(d) for d in doses]:
        raise ValueError(f"{builder.name}/{builder.builder_config.name} has no examples at dose {dose:g}; it has {doses}.")
    detector = builder.builder_config.recipe.microscope.abf_detector
    out = []
    for ex in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
        if float(ex["dose"]) == float(dose) and (float(ex["abf_inner_mrad"]), float(ex["abf_outer_mrad"])) == detector:
            out.append(ex)
            if len(out) == limit:
                break
    return out


def _nominal_optics(recipe, ex: dict) -> bool:
    m = recipe.microscope
    return (ex["composition"].decode() == recipe.composition and float(ex["defocus_A"]) == m.defocus
            and float(ex["astigmatism_A"]) == m.C12 and float(ex["mistilt_mrad"]) == 0.0
            and float(ex["semiangle_mrad"]) == m.semiangle)


def _bounds(builder, examples: list[dict], dose: float, nuisance: tuple[str, ...], models: dict) -> np.ndarray:
    """(n, quantity) bound [deg] of each crop: the GP model's for GP-made crops (their exact model), the multislice
    one (:func:`stem_datasets.builders.stem_abf_tilt.limits.tilt_crb`) for multislice crops at the nominal optics, NaN for others."""
    from stem_datasets.builders.stem_abf_tilt.limits import tilt_crb_thicknesses
    from stem_datasets.builders.stem_abf_tilt.mle import crop_crb

    recipe = builder.builder_config.recipe
    out = np.full((len(examples), len(QUANTITIES)), np.nan)
    structures: dict[tuple, list[int]] = {}
    for k, ex in enumerate(examples):
        pattern = ex["pattern"].decode()
        if builder.info.features["source"].int2str(int(ex["source"])) == "gp":
            model = models[pattern]
            layer = int(np.argmin(np.abs(model.thicknesses_nm - float(ex["thickness_nm"]))))
            crb = crop_crb(model, ex["raw_angles"], layer, dose, nuisance)
            out[k] = [crb[q] for q in QUANTITIES]
        elif _nominal_optics(recipe, ex):
            structures.setdefault((pattern, tuple(ex["raw_angles"].tolist())), []).append(k)
    for (pattern, angles), rows in structures.items():  # one set of multislice runs per structure (exit planes)
        thicknesses = [float(examples[k]["thickness_nm"]) for k in rows]
        for k, crb in zip(rows, tilt_crb_thicknesses(pattern, angles, thicknesses, dose, nuisance, recipe.name)):
            out[k] = [crb[q] for q in QUANTITIES]
    return out


def score_mle(builder, split: str, dose: float = 1e4, limit: int = 12, nuisance: tuple[str, ...] = NUISANCES) -> dict:
    """MLE fits of the first ``limit`` crops of ``split`` at ``dose`` (nominal ABF range): RMSE, RMS bound and
    efficiency per quantity.

    The fit uses the GP of the crop's pattern. The bound of a GP-made crop is the GP model's, of a
    multislice crop at the nominal optics the multislice one (a few cached runs per structure); crops
    of other optics or another material have none (their RMS bound is over the others, NaN if none).
    """
    from stem_datasets.builders.stem_abf_tilt.recipe import margin_px
    from stem_datasets.builders.stem_abf_tilt.mle import CropModel, fit_crop

    recipe = builder.builder_config.recipe
    my, mx = margin_px(recipe)
    h, w = recipe.crop_shape()
    examples = _crops(builder, split, dose, limit)
    models = {p: CropModel.of(recipe, p) for p in sorted({ex["pattern"].decode() for ex in examples})}
    fits = [fit_crop(models[ex["pattern"].decode()], ex["image"][my:my + h, mx:mx + w, 0], dose) for ex in examples]
    bounds = _bounds(builder, examples, dose, nuisance, models)
    true = np.array([ex["angles"] for ex in examples], dtype=float)
    pred = align_to_orbit(true, np.array([f.angles for f in fits], float), [ex["pattern"].decode() for ex in examples])
    rmse = np.sqrt(np.mean(((pred - true) @ _COMBINATIONS) ** 2, axis=0))
    with np.errstate(invalid="ignore"):
        bound = np.sqrt(np.nanmean(bounds**2, axis=0)) if np.isfinite(bounds).any() else np.full(len(QUANTITIES), np.nan)
    return {
        "split": split, "dose": float(dose), "n": len(true), "n_bound": int(np.isfinite(bounds[:, 0]).sum()),
        "nuisance": list(nuisance),
        "rmse_deg": dict(zip(QUANTITIES, rmse.round(3).tolist())),
        "crb_deg": dict(zip(QUANTITIES, bound.round(3).tolist())),
        "efficiency": dict(zip(QUANTITIES, (bound / rmse).round(3).tolist())),
        "seconds_per_crop": round(float(np.mean([f.seconds for f in fits])), 2),
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
        lines.append(f"| | | {row.get('n_bound', row['n'])} | CRB (same crops) | "
                     + " | ".join(f"{row['crb_deg'][q]:.2f}" for q in QUANTITIES) + " | |")
        lines.append("| | | | efficiency CRB / RMSE | " + " | ".join(f"{row['efficiency'][q]:.2f}" for q in QUANTITIES) + " | |")
        for name, record in (networks or {}).items():
            m = record.get("by_feature", {}).get(row["split"], {}).get(f"{row['dose']:g}", {})
            cells = [m.get(f"rmse_{q}_deg") for q in QUANTITIES]
            if any(c is not None for c in cells):
                lines.append(f"| | | {m['n']} | {name} RMSE (every crop at this dose) | "
                             + " | ".join("-" if c is None else f"{c:.2f}" for c in cells) + " | |")
    return "\n".join(lines) + "\n"
