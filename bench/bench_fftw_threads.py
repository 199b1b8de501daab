"""Why the simulations pin abTEM's FFTW to one thread (``stem_datasets.simulation.simulate.use_cpu_fftw``).

Runs, side by side in one process (after a warm-up that pays abTEM's import and numba's compilation), the PRISM
simulation of one ``stem_atom_columns/smoke`` structure and a conventional multislice of a tilted perovskite, each
with 1 FFTW thread and with N, in the order 1, N, N, 1. Prints the wall-time ratio, the largest change of an image
as a fraction of its maximum (the cards allow 1e-5) and whether the two N runs agree. Rerun it after an abTEM
upgrade before allowing more threads.

Measured with abTEM 1.0.11 on 2 cores (N = 2), two runs: PRISM ratio 0.77 and 0.80, images bit for bit
unchanged; multislice ratio 9.3 and 6.5, images changed by 0.99-1.0 of their maximum and different in each N run.

    python bench/bench_fftw_threads.py            # N: this process's CPUs (at least 2)
    python bench/bench_fftw_threads.py --threads 4
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _prism():
    from stem_datasets.builders.stem_atom_columns import recipe as atom_columns

    recipe = atom_columns.get_recipe("smoke")
    images = atom_columns.simulate_unit(recipe, "test", ("SrTiO3 [110]", 0), cache=None)[-1]
    return np.concatenate([images.haadf.ravel(), images.abf.ravel()])


def _multislice():
    from stem_datasets.physics.structures import tilted_perovskite
    from stem_datasets.simulation.microscope import Microscope
    from stem_datasets.simulation.simulate import simulate_stem

    microscope = Microscope(potential_sampling=0.05, scan_step=0.6, frozen_phonons=1)
    images = simulate_stem(tilted_perovskite((4.0, -3.0, 6.0), "a-b-c-"), [4.0], microscope, None)
    return np.concatenate([images.haadf.ravel(), images.abf.ravel()])


def _timed(run, threads: int):
    """Seconds and images of ``run()`` with abTEM's FFTs on ``threads`` FFTW threads."""
    from unittest import mock

    import abtem

    from stem_datasets.simulation import prism, simulate

    def pinned():
        abtem.config.set({"device": "cpu", "fft": "fftw", "fftw.threads": threads})

    # every simulation calls use_cpu_fftw first; both modules hold the name
    with mock.patch.object(simulate, "use_cpu_fftw", pinned), mock.patch.object(prism, "use_cpu_fftw", pinned):
        start = time.perf_counter()
        out = run()
        return time.perf_counter() - start, out


def main() -> None:
    from stem_datasets.simulation import prism

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=max(2, len(os.sched_getaffinity(0))), help="N")
    threads = parser.parse_args().threads
    _timed(lambda: prism.prism_images(*_warm_up_field(), cache=None), 1)
    print(f"abTEM FFTW threads: 1 against {threads}")
    for name, run in (("PRISM, stem_atom_columns/smoke SrTiO3 [110]", _prism),
                      ("multislice, tilted perovskite 4 nm, 0.6 A scan step", _multislice)):
        times, images = {1: [], threads: []}, {1: [], threads: []}
        for n in (1, threads, threads, 1):
            seconds, image = _timed(run, n)
            times[n].append(seconds)
            images[n].append(image)
        one, many = np.mean(times[1]), np.mean(times[threads])
        scale = np.max(np.abs(images[1][0]))
        change = max(np.max(np.abs(image - images[1][0])) for image in images[threads]) / scale
        repeat = np.max(np.abs(images[threads][0] - images[threads][1])) / scale
        print(f"{name}: {one:.1f} s on 1 thread, {many:.1f} s on {threads}: ratio {many / one:.2f}; largest change "
              f"{change:.1e} of the maximum; the two {threads}-thread runs differ by {repeat:.1e}")


def _warm_up_field():
    from stem_datasets.physics.lattices import srtio3_001
    from stem_datasets.simulation.prism import PrismSettings, Shot, grid_positions

    shots = [Shot(defocus=0.0, semiangle=20.0, positions=grid_positions((4, 4), 0.5))]
    return srtio3_001((2, 2), 2), shots, PrismSettings(potential_sampling=0.1, haadf=(50, 80))


if __name__ == "__main__":
    main()
