"""What a registered, cell-averaged CBED stack can determine about the interface: Fisher information and Bayes limits.

At `small`'s imaging (200 kV, 20 mrad, 2 frozen-phonon configurations, 32 x 32 px) and 10 nm
(``--cells``), on the model's positions (a registered scan; registration leaves ~0.02 A, left
out here), the cell average of 8 lines. For each question a pair of mean stacks is compared
under the noise the data carry:

* the physics: Poisson noise at ``--doses`` electrons per probe position and line (the average
  holds 8 lines) on the thermally averaged pattern (a real probe dwells for ~10^9 phonon periods),
  estimated from ``--seeds`` phonon seeds x 2 configurations, paired between the two classes, with
  the estimate's own noise subtracted; and the nuisances a user cannot fix, as linear directions
  to be marginalized: defocus, thickness, beam tilt x and y (finite differences, common seeds);
* the dataset: a stack of `small` holds only 2 phonon configurations, whose sampling noise the
  models also face. Its covariance is not diagonal: a per-pixel model of it (var = c * mean**g,
  fitted over pixels) overstated the separation 30-100x against these held-out realizations in a
  2 nm check (issue 28's closing note), so it is measured, not modelled: the
  held-out separation of single realizations along the mean difference (leave one pair out),
  a linear read-out's d' (a floor on what an optimal one reaches).

Printed per pair: d' = sqrt(dmu' S^-1 dmu) with the nuisances known and marginalized (Fisher
with nuisance parameters: the part of dmu the nuisance derivatives cannot mimic) and the Bayes
accuracy of the two-class decision at equal priors, Phi(d'/2); then the dataset's d' and its
Phi(d'/2). For the step depth, the Cramer-Rao bound in tenths of the thickness.

    $ python bench/cbed_limits.py          # ~25 runs, ~6 minutes on 2 cores
"""

from __future__ import annotations

import argparse
from math import erf, sqrt

import numpy as np

from stem_datasets.builders.stem_cbed_interface.recipe import A, RECIPES
from stem_datasets.physics.structures import lao_sto_interface
from stem_datasets.simulation.simulate import InterfaceScan, simulate_4dstem

RECIPE = RECIPES["small"]
SCAN = InterfaceScan(positions=RECIPE.scan.positions, lines=RECIPE.scan.lines)  # on the model's positions
DEFOCUS_STEP, TILT_STEP = 10.0, 0.5  # A, mrad


def cell_averages(cells: int, exits: tuple[int, ...], k=None, mix=0.0, structure_seed=0, seed=1, defocus=0.0,
                  tilt=(0.0, 0.0)) -> dict[int, np.ndarray]:
    """{exit cells: cell-averaged stack (positions, ky, kx), fraction of the probe} of one multislice run."""
    centre = 3 * A + A / 2 - A / (2 * SCAN.lines)
    structure = lao_sto_interface(cells * A, step_fraction=k, intermix_fraction=mix, seed=structure_seed,
                                  step_y_angstrom=centre)
    microscope = RECIPE.microscope.replace(defocus=defocus, mistilt=tilt, seed=seed)
    run = simulate_4dstem(structure, [e * A for e in exits], microscope, SCAN, RECIPE.detector, None, offset=(0.0, 3 * A))
    return {e: run.cbed[i].mean(axis=0) for i, e in enumerate(exits)}


def d_prime(differences: np.ndarray, variance: np.ndarray, nuisances: np.ndarray | None = None) -> float:
    """sqrt of the Fisher information of the change ``differences`` (paired realizations of b - a, pixels), with
    ``nuisances`` (n, pixels) marginalized. The mean change's own noise (its spread over the pairs / their number)
    is subtracted: with thousands of pixels it would otherwise dominate a small signal."""
    w = 1.0 / variance
    dmu = differences.mean(axis=0)
    bias = float(np.sum(differences.var(axis=0, ddof=1) * w)) / len(differences) if len(differences) > 1 else 0.0
    info = float(np.sum(dmu * dmu * w)) - bias
    if nuisances is not None and len(nuisances):
        cross = nuisances @ (dmu * w)
        gram = (nuisances * w) @ nuisances.T
        info -= float(cross @ np.linalg.solve(gram, cross))
    return sqrt(max(info, 0.0))


def bayes_accuracy(d: float) -> float:
    return 0.5 * (1 + erf(d / 2 / sqrt(2)))


def _sd(d: float) -> float:
    return 1 / d if d > 0 else float("inf")


def empirical_d_prime(a: np.ndarray, b: np.ndarray, variance: np.ndarray) -> float:
    """Held-out separation of two groups of realizations (seeds, pixels), leave one pair out: the left-out pair projected
    on (mean b - mean a) / variance of the others, scaled so the others' means lie 1 apart; in pooled sd."""
    pa, pb = [], []
    for i in range(len(a)):
        rest = np.arange(len(a)) != i
        w = (b[rest].mean(axis=0) - a[rest].mean(axis=0)) / variance
        w /= (b[rest].mean(axis=0) - a[rest].mean(axis=0)) @ w
        pa.append(a[i] @ w - a[rest].mean(axis=0) @ w)
        pb.append(b[i] @ w - a[rest].mean(axis=0) @ w)
    pa, pb = np.array(pa), np.array(pb)
    return float((pb.mean() - pa.mean()) / sqrt(0.5 * (pa.var(ddof=1) + pb.var(ddof=1))))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=26, help="thickness in SrTiO3 cells (26: 10.2 nm)")
    parser.add_argument("--seeds", type=int, default=5, help="phonon seeds per class")
    parser.add_argument("--doses", nargs="*", type=float, default=[1e4, 1e5, 1e6], help="e- per probe position and line")
    args = parser.parse_args(argv)
    n, seeds = args.cells, range(1, args.seeds + 1)
    thickness = (n - 1, n, n + 1)
    flat = lambda **kw: cell_averages(n + 1, thickness, **kw)  # noqa: E731  exits n-1, n, n+1 in one run

    abrupt = [flat(seed=s) for s in seeds]
    base = abrupt[0][n]
    nuisances = np.array([
        (flat(defocus=DEFOCUS_STEP)[n] - flat(defocus=-DEFOCUS_STEP)[n]).ravel() / 2,  # per 10 A of defocus
        (abrupt[0][n + 1] - abrupt[0][n - 1]).ravel() / 2,  # per cell of thickness
        (flat(tilt=(TILT_STEP, 0.0))[n] - base).ravel(),  # per 0.5 mrad
        (flat(tilt=(0.0, TILT_STEP))[n] - base).ravel(),
    ])
    print(f"{n} cells ({n * A / 10:.1f} nm), {args.seeds} phonon seeds x {RECIPE.microscope.frozen_phonons} configurations; "
          f"{base.size} values per stack; nuisances marginalized: defocus, thickness, tilt x, tilt y")

    # class pairs: (name, group a realizations, group b realizations), paired by phonon seed
    intermixed = {mix: [flat(mix=mix, structure_seed=100 + s, seed=s)[n] for s in seeds] for mix in (0.1, 0.3)}
    one_cell_out = [cell_averages(n, (n,), k=0.0, seed=s)[n] for s in seeds]
    step_09 = [cell_averages(n, (n,), k=0.9, seed=s)[n] for s in seeds]
    step_01 = [cell_averages(n, (n,), k=0.1, seed=s)[n] for s in seeds]
    pairs = {
        "abrupt vs 10% Ti": ([a[n] for a in abrupt], intermixed[0.1]),
        "abrupt vs 30% Ti": ([a[n] for a in abrupt], intermixed[0.3]),
        "abrupt (nominal) vs step 0.9 t": ([a[n] for a in abrupt], step_09),
        "abrupt (one cell out) vs step 0.1 t": (one_cell_out, step_01),
    }
    header = f"{'pair':38s}" + "".join(f"{f'd @{d:.0e}':>11s}{'marg.':>7s}{'Bayes':>7s}" for d in args.doses)
    header += f"{'dataset d':>11s}{'Bayes':>7s}"
    print(header)
    for name, (a, b) in pairs.items():
        a, b = np.array(a).reshape(len(a), -1), np.array(b).reshape(len(b), -1)
        row = f"{name:38s}"
        for dose in args.doses:
            variance = np.maximum(a.mean(axis=0), 1e-12) / (SCAN.lines * dose)
            known, marginal = d_prime(b - a, variance), d_prime(b - a, variance, nuisances)
            row += f"{known:11.2f}{marginal:7.2f}{bayes_accuracy(marginal):7.2f}"
        dataset = empirical_d_prime(a, b, np.maximum(a.mean(axis=0), 1e-12))
        print(f"{row}{dataset:11.2f}{bayes_accuracy(dataset):7.2f}", flush=True)

    # step depth: a tenth of the thickness deeper or shallower around 0.5 t, two phonon seeds
    per_tenth = np.array([(cell_averages(n, (n,), k=0.6, seed=s)[n] - cell_averages(n, (n,), k=0.4, seed=s)[n]).ravel() / 2
                          for s in (1, 2)])
    print("\nstep depth at 0.5 t: Cramer-Rao sd [tenths of the thickness] (known nuisances / marginalized)")
    for dose in args.doses:
        variance = np.maximum(base.ravel(), 1e-12) / (SCAN.lines * dose)
        print(f"  {dose:.0e} e-/position: {_sd(d_prime(per_tenth, variance)):.3f} / {_sd(d_prime(per_tenth, variance, nuisances)):.3f}")

if __name__ == "__main__":
    main()
