"""Benchmark: the CBED classifiers on their independent hold-out (issue 28's interfaces outside every draw).

Every case of :data:`stem_zoo.tasks.cbed.holdout.HOLDOUT_CASES` (ASE-built abrupt, intermixed and
stepped LaAlO3/SrTiO3 interfaces; defocus, mistilt and scan offset beyond the dataset's ranges) at
both hold-out thicknesses (12.5 and 17.2 nm, between the dataset's classes), registered from its ADF
and read by ``cbed_interface_cnn`` (every case) and ``cbed_step_cnn`` (the steps). Prints one row per
case and thickness, then the fraction right per class and the step model's exact / within-one count;
writes them to ``--out``/cbed_holdout.json. Multislice runs are cached
(:class:`stem_datasets.simulation.cache.SimulationCache`): ~20-30 s each the first time on 2 cores.

    python bench/bench_cbed_holdout.py [--interface-model cbed_interface_cnn] [--step-model cbed_step_cnn]
        [--cells N ...] [--inside] [--out bench_cbed]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interface-model", default="cbed_interface_cnn", help="zoo id, model folder or hf:// URI")
    parser.add_argument("--step-model", default="cbed_step_cnn", help="zoo id, model folder or hf:// URI")
    parser.add_argument("--cells", nargs="*", type=int, default=None,
                        help="thicknesses [SrTiO3 cells] (default: 32 44, with --inside 26 51)")
    parser.add_argument("--inside", action="store_true",
                        help="image the same interfaces inside the dataset's nuisance ranges and at its seen thicknesses "
                             "(10.2, 19.9 nm): separates extrapolation in the nuisances from the structures")
    parser.add_argument("--out", default="bench_cbed")
    args = parser.parse_args(argv)

    import numpy as np

    from stem_datasets.simulation.cache import SimulationCache
    from stem_zoo.hub import load
    from stem_zoo.tasks.cbed.holdout import A, HOLDOUT_CASES, INSIDE_THICKNESS_CELLS, THICKNESS_CELLS, classify_case

    cases = [case.inside_ranges() for case in HOLDOUT_CASES] if args.inside else list(HOLDOUT_CASES)
    args.cells = args.cells or list(INSIDE_THICKNESS_CELLS if args.inside else THICKNESS_CELLS)

    interface_model, step_model = load(args.interface_model), load(args.step_model)
    classes = tuple(interface_model.zoo.entry.outputs)
    cache, rows, start = SimulationCache(), [], time.perf_counter()
    print(f"{'case':<24}{'t [nm]':>7}{'df [A]':>7}  {'truth':<11}{'predicted (p)':<20}{'step: truth, predicted (p)':<28}{'dx, y0 error [A]':>18}")
    for cells in args.cells:
        for case in cases:
            interface, registered = classify_case(case, cells, interface_model, cache)
            row = {"case": case.name, "thickness_nm": round(cells * A / 10, 2), "defocus": case.defocus,
                   "mistilt_mrad": round(float(np.hypot(*case.mistilt)), 2), "scan_offset_x": case.offset[0], "truth": case.interface,
                   "predicted": interface.names[0], "probabilities": interface.probabilities[0].round(3).tolist(),
                   "registration_error": [round(registered.offset.dx - case.offset[0], 3),
                                          round(registered.offset.y0 - case.offset[1], 3)]}
            step_text, predicted = "", f"{row['predicted']} ({max(row['probabilities']):.2f})"
            if case.step is not None:
                steps, _ = classify_case(case, cells, step_model, cache)  # the same (cached) run
                row.update(step=case.step, predicted_step=int(steps.names[0].split("_")[1]),
                           step_probabilities=steps.probabilities[0].round(3).tolist())
                step_text = f"{case.step}, {row['predicted_step']} ({steps.probabilities[0].max():.2f})"
            rows.append(row)
            print(f"{case.name:<24}{row['thickness_nm']:>7.2f}{case.defocus:>7.0f}  {case.interface:<11}"
                  f"{predicted:<20}{step_text:<28}"
                  f"{row['registration_error'][0]:>9.2f}{row['registration_error'][1]:>9.2f}")
    summary = {}
    for name in classes:
        right = [r["predicted"] == r["truth"] for r in rows if r["truth"] == name]
        summary[name] = {"right": int(sum(right)), "n": len(right)}
    steps = [r for r in rows if "step" in r]
    summary["step_exact"] = {"right": sum(r["predicted_step"] == r["step"] for r in steps), "n": len(steps)}
    summary["step_within_one"] = {"right": sum(abs(r["predicted_step"] - r["step"]) <= 1 for r in steps), "n": len(steps)}
    summary["mean_p_of_truth"] = float(np.mean([r["probabilities"][classes.index(r["truth"])]
                                                for r in rows]))
    print("\n" + ", ".join(f"{k} {v['right']}/{v['n']}" for k, v in summary.items() if isinstance(v, dict)),
          f"; mean probability of the truth {summary['mean_p_of_truth']:.2f}; {time.perf_counter() - start:.0f} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"cbed_holdout{'_inside' if args.inside else ''}.json").write_text(json.dumps({
        "interface_model": getattr(interface_model.zoo, "source", args.interface_model),
        "step_model": getattr(step_model.zoo, "source", args.step_model), "rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
