"""Benchmark: polarization models on the independent displaced-cation hold-out and on the project's own (issue 27's goals).

Fields of :mod:`stem_zoo.tasks.polarization.holdout` (ASE and numpy only, optics outside every draw)
at 2.4, 5.5 and 11.9 nm and 2e5 / 3e4 e-/A^2, and the project's hold-out
(:func:`stem_datasets.builders.stem_bfo_polarization.recipe.holdout_field`: R3c as refined, 4% Sm, 8 x 8
cells, 5e5 e-/A^2) at 2.4, 7.1 and 11.9 nm, each read by every model with
:func:`stem_zoo.predict_polarization`; per domain the RMSE of (Px, Py), the |P| ratio and the angle
error, then the goals checked: RMSE <= 5 pm per component and |P| ratio 0.9-1.1 at every thickness
(the project's hold-out: the ratio). PRISM images are cached (:class:`stem_datasets.simulation.cache.SimulationCache`).

    python bench/bench_polarization_holdout.py [--models polarization_dcnn polarization_dcnn_grid]
        [--cells 12] [--out bench_polarization]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=["polarization_dcnn", "polarization_dcnn_grid"])
    parser.add_argument("--cells", type=int, default=12, help="pc cells per side of each field")
    parser.add_argument("--thicknesses", nargs="*", type=float, default=None, help="nm (default: the hold-out's)")
    parser.add_argument("--project-layers", nargs="*", type=int, default=[3, 9, 15],
                        help="thicknesses of the project's hold-out, units of 2 a_pc (none: skip it)")
    parser.add_argument("--out", default="bench_polarization")
    args = parser.parse_args(argv)

    from stem_datasets.simulation.cache import SimulationCache
    from stem_zoo.tasks.polarization.holdout import DOSES, THICKNESSES_NM, holdout_field, score
    from stem_zoo.tasks.polarization.predict import predict_polarization

    from stem_datasets.builders.stem_bfo_polarization.recipe import holdout_field as project_field

    cache = SimulationCache()
    rows = []
    for layers in args.project_layers:
        field = project_field(layers=layers, cache=cache)
        for model in args.models:
            result = predict_polarization(field["image"], model, pixel_size=field["pixel_size"])
            for domain, m in score(field, result).items():
                rows.append({"model": model, "holdout": "project", "thickness_nm": round(field["thickness_nm"], 2),
                             "dose": 5e5, "domain": domain, **m})
    for thickness in args.thicknesses or THICKNESSES_NM:
        for dose in DOSES:
            start = time.perf_counter()
            field = holdout_field(thickness, dose, args.cells, cache)
            print(f"{field['thickness_nm']:.2f} nm, {dose:.0e} e/A^2: {time.perf_counter() - start:.0f} s", flush=True)
            for model in args.models:
                result = predict_polarization(field["image"], model, pixel_size=field["pixel_size"])
                for domain, m in score(field, result).items():
                    rows.append({"model": model, "holdout": "independent",
                                 "thickness_nm": round(field["thickness_nm"], 2), "dose": dose,
                                 "domain": domain, **m})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "polarization_holdout.json").write_text(json.dumps(rows, indent=1))
    lines = ["| model | hold-out | thickness [nm] | dose [e/A^2] | domain | n | RMSE Px / Py [pm] | |P| ratio | angle error [deg] |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['model']} | {r['holdout']} | {r['thickness_nm']} | {r['dose']:.0e} | {r['domain']} | {r['n']} | "
              f"{r['rmse_pm'][0]:.1f} / {r['rmse_pm'][1]:.1f} | {r['magnitude_ratio']:.2f} | {r['angle_error_deg']:.1f} |"
              for r in rows]
    lines += ["", "## Goals (RMSE <= 5 pm per component, |P| ratio 0.9-1.1, at every thickness)", ""]
    for model in args.models:
        misses = [r for r in rows if r["model"] == model and (not 0.9 <= r["magnitude_ratio"] <= 1.1
                                                              or (r["holdout"] == "independent" and max(r["rmse_pm"]) > 5.0))]
        lines.append(f"- {model}: " + ("met" if not misses else "missed on " + ", ".join(
            f"{r['holdout']} {r['thickness_nm']} nm {r['dose']:.0e} {r['domain']}" for r in misses)))
    report = "\n".join(lines) + "\n"
    (out / "polarization_holdout.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
