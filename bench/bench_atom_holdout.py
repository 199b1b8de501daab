"""Benchmark: atom_fcn, the LoG baseline (and atomap, with ``--atomap``) on atom_fcn's hold-out set.

The hold-out set (:mod:`stem_zoo.tasks.atoms.holdout`): five structures from families absent
from every ``stem_atom_columns`` draw, built by ASE, imaged on HAADF and ABF, noise-free and
at two doses. Per image: F1 (0.5 A, one to one, 2 px border), RMSE over each method's own
matches and over the columns every method found, the Cramer-Rao bound of the position at that dose
(:mod:`stem_zoo.tasks.atoms.limits`, from the noise-free image), atom_fcn's grouping accuracy (relative
classes, see :mod:`stem_zoo.tasks.atoms.metrics`), seconds per image. Then the goals of
issue 26 checked row by row. Both are told each image's detector.

    python bench/bench_atom_holdout.py [--model atom_fcn | runs/atom_fcn/model.keras] [--out bench_atoms]
        [--atomap VENV]

``--atomap VENV``: atomap 0.4.2 (and hyperspy) installed into a throw-away venv at VENV (made
if missing; needs the package registry), then its tutorial workflow run there on the same
images, one process per image: ``get_atom_positions`` at a separation of 1.0 A, a
``Sublattice``, nearest neighbours, centre-of-mass then 2-D Gaussian refinement (ABF images
inverted, as the baseline's). Its time per image includes the process start (~2 s).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="atom_fcn", help="zoo id, model folder, or a training run's .keras file")
    parser.add_argument("--column-width", type=float, default=1.0, help="LoG baseline: column FWHM [A]")
    parser.add_argument("--log-threshold", type=float, default=0.05, help="LoG baseline: relative peak threshold")
    parser.add_argument("--atomap", default=None, help="a venv folder for atomap (made if missing)")
    parser.add_argument("--out", default="bench_atoms")
    args = parser.parse_args(argv)

    from stem_datasets.simulation.cache import SimulationCache
    from stem_zoo.hub import load
    from stem_zoo.tasks.atoms.holdout import holdout_examples, score
    from stem_zoo.tasks.atoms.locate import LoGBaseline

    start = time.perf_counter()
    examples = holdout_examples(cache=SimulationCache())
    print(f"{len(examples)} hold-out images in {time.perf_counter() - start:.0f} s")
    methods = {"atom_fcn": load(args.model, task="atoms"),
               "log_baseline": LoGBaseline(column_width_A=args.column_width, threshold=args.log_threshold)}
    if args.atomap:
        methods["atomap"] = AtomapPeer(atomap_venv(Path(args.atomap)))
    rows, report = score(methods, examples)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "atom_holdout.json").write_text(json.dumps(rows, indent=1))
    (out / "atom_holdout.md").write_text(report)
    print(report)


ATOMAP_VERSION = "0.4.2"
ATOMAP_RUN = r'''
import sys, numpy as np, atomap.api as am, hyperspy.api as hs
image, pixel_size, invert = np.load(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "abf"
s = hs.signals.Signal2D(image.max() - image if invert else image)
separation = max(2, int(round(1.0 / pixel_size)))
positions = am.get_atom_positions(s, separation=separation)
if len(positions) == 0:
    np.save(sys.argv[4], np.zeros((0, 2)))
    sys.exit(0)
sublattice = am.Sublattice(positions, image=s.data)
sublattice.find_nearest_neighbors()
sublattice.refine_atom_positions_using_center_of_mass(show_progressbar=False)
sublattice.refine_atom_positions_using_2d_gaussian(show_progressbar=False)
np.save(sys.argv[4], np.stack([sublattice.x_position, sublattice.y_position], axis=-1))
'''


def atomap_venv(folder: Path) -> Path:
    """The python of a venv with atomap (made, and atomap installed, if missing)."""
    import subprocess
    import sys

    python = folder / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"atomap=={ATOMAP_VERSION}"], check=True)
    return python


class AtomapPeer:
    """atomap's tutorial workflow in its own venv, as a locator (positions only)."""

    name = "atomap"

    def __init__(self, python: Path):
        self.python = python

    def locate(self, image, pixel_size: float, detector: str | None = None):
        import subprocess
        import tempfile

        import numpy as np

        from stem_zoo.tasks.atoms.locate import AtomColumns, column_table

        with tempfile.TemporaryDirectory() as tmp:
            np.save(f"{tmp}/image.npy", np.asarray(image, np.float64))
            subprocess.run([str(self.python), "-c", ATOMAP_RUN, f"{tmp}/image.npy", str(pixel_size),
                            detector or "haadf", f"{tmp}/xy.npy"], check=True, capture_output=True)
            xy = np.load(f"{tmp}/xy.npy").reshape(-1, 2)
        return AtomColumns(column_table(xy[:, 0], xy[:, 1], pixel_size), np.asarray(image), pixel_size, None,
                           "atomap", classified=False)


if __name__ == "__main__":
    main()
