"""4D-STEM cost of stem_cbed_interface: seconds per example and per probe position, projected full cost.

Runs one rough unit of each of ``smoke`` and ``small`` (uncached) and, for ``full``, one probe
position line at its sampling, then projects the config's CPU-hours from the measured
seconds per (probe position x slice x phonon configuration), side by side in one run.

    $ python bench/bench_cbed_interface.py            # ~2 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import os
import time


from stem_datasets.builders.stem_cbed_interface import recipe as ci
from stem_datasets.simulation.simulate import InterfaceScan, simulate_4dstem


def _cost(recipe, scan: InterfaceScan | None = None) -> dict:
    """Seconds of one rough run at the recipe's largest thickness, per example and per position."""
    unit = ("rough", len(ci.split_thicknesses(recipe, "train")) - 1, 5, 0)
    d = ci.draw(recipe, "train", unit)
    structure, microscope, exits = ci.structure_of(recipe, d), ci.microscope_of(recipe, d), list(d.thicknesses_angstrom)
    scan = scan or recipe.scan
    start = time.perf_counter()
    simulate_4dstem(structure, exits, microscope, scan, recipe.detector, cache=None)
    seconds = time.perf_counter() - start
    positions = scan.positions * scan.lines
    work = positions * structure.info["n_slices"] * max(1, microscope.frozen_phonons)
    return {"seconds": seconds, "per_example": seconds / scan.lines, "per_position": seconds / positions,
            "per_unit_work": seconds / work, "positions": positions}


def _full_cpu_hours(recipe, per_unit_work: float) -> float:
    work = 0
    for split in ci.SPLITS:
        for unit in ci.units(recipe, split):
            slices = round(max(ci.draw(recipe, split, unit).thicknesses_angstrom) / 1.9525)
            work += recipe.scan.positions * recipe.scan.lines * slices * recipe.microscope.frozen_phonons
    return work * per_unit_work * os.cpu_count() / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    rows = {name: _cost(ci.get_recipe(name)) for name in ("smoke", "small")}
    full = ci.get_recipe("full")
    rows["full (one line)"] = _cost(full, InterfaceScan(positions=full.scan.positions, lines=1))
    print(f"{'config':<18}{'s/run':>9}{'s/example':>11}{'s/position':>12}{'us/(pos*slice*phonon)':>24}")
    for name, r in rows.items():
        print(f"{name:<18}{r['seconds']:>9.1f}{r['per_example']:>11.2f}{r['per_position']:>12.3f}{1e6 * r['per_unit_work']:>24.0f}")
    for name in ("smoke", "small"):
        recipe = ci.get_recipe(name)
        runs = sum(len(ci.units(recipe, s)) for s in ci.SPLITS)
        print(f"{name}: {runs} runs; measured unit x runs ~ {rows[name]['seconds'] * runs / 60:.0f} min upper bound (largest thickness)")
    hours = _full_cpu_hours(full, rows["full (one line)"]["per_unit_work"])
    print(f"full: {sum(len(ci.units(full, s)) for s in ci.SPLITS)} runs, projected {hours:,.0f} CPU core-hours "
          f"({hours / os.cpu_count():,.0f} h wall on this {os.cpu_count()}-core machine)")
    print(f"ratio full/small work per run: {rows['full (one line)']['per_unit_work'] / rows['small']['per_unit_work']:.2f} "
          "x per (position x slice x phonon), from the finer sampling")


if __name__ == "__main__":
    main()
