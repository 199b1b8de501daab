"""The same simulation in two processes with different thread counts agrees to TOLERANCE of the image's maximum.

Not bit for bit: abTEM plans its FFTs with FFTW_MEASURE, which times candidate algorithms when a process
first meets a shape, so the plan, and the last bits of a pixel, change from process to process (measured:
up to 4.3e-6 of the maximum). FFTW_ESTIMATE plans are bit-identical but cost ~30% more CPU per multislice run
(FFTs 2-3x slower), so the builds keep FFTW_MEASURE and the dataset cards state this tolerance.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # the full tier only: two processes run abTEM simulations (about 20 s)


TOLERANCE = 1e-5  # of an image's maximum, as the cards in builders/*/README.md state

SIMULATE = """
import sys
import dask, numpy as np
dask.config.set(num_workers=int(sys.argv[1]))
from stem_datasets.simulation import prism
from stem_datasets.physics.lattices import srtio3_001
from stem_datasets.simulation.microscope import Microscope
from stem_datasets.simulation.simulate import simulate_stem
from stem_datasets.physics.structures import tilted_perovskite

tiny = Microscope(potential_sampling=0.1, scan_step=0.35, frozen_phonons=0, haadf_detector=(50.0, 80.0))
sim = simulate_stem(tilted_perovskite((4.0, -3.0, 6.0), "a-b-c-"), [1.1], tiny, None)
atoms = srtio3_001((2, 2), 2)
shots = [prism.Shot(defocus=20.0, semiangle=20.0, positions=prism.grid_positions((12, 12), 0.65))]
field = prism.prism_images(atoms, shots, prism.PrismSettings(potential_sampling=0.1, haadf=(50.0, 80.0)), None)
np.savez(sys.argv[2], abf=sim.abf, haadf=sim.haadf, prism_haadf=field.haadf, prism_abf=field.abf)
"""


def test_two_processes_with_different_thread_counts_agree_within_the_tolerance(tmp_path):
    results = []
    for workers in (1, 3):
        out = tmp_path / f"run{workers}.npz"
        subprocess.run([sys.executable, "-c", SIMULATE, str(workers), str(out)], check=True, timeout=600,
                       capture_output=True)
        results.append(np.load(out))
    first, second = results
    for name in ("abf", "haadf", "prism_haadf", "prism_abf"):
        assert np.isfinite(first[name]).all() and first[name].std() > 0, name
        scale = float(np.abs(first[name]).max())
        np.testing.assert_allclose(second[name], first[name], rtol=0, atol=TOLERANCE * scale, err_msg=name)
