"""The shipped atom_fcn on a real abTEM field outside every draw of stem_atom_columns."""

import numpy as np
import pytest

from stem_datasets.physics import lattices
from stem_datasets.builders.stem_atom_columns.recipe import BULK, ShotDraw, simulate_field
from stem_datasets.simulation.prism import PrismSettings
from stem_zoo.tasks.atoms.locate import locate_atoms
from stem_zoo.tasks.atoms.metrics import count_detections, summarize


pytestmark = pytest.mark.slow  # the full tier only: a PRISM simulation of a hold-out LaAlO3 field (about a minute)


@pytest.fixture(scope="module")
def laalo3_field():
    """LaAlO3 [001] (a material in no split), 4.9 nm (13 cells), imaged as a drawn shot (defocus -25 A, 24 mrad,
    source sigma 0.3 A, a rotated, drifting scan, 1e6 e-/A^2): about 20 s of PRISM."""
    atoms = lattices.perovskite_001("LaAlO3", (4, 4), 13)
    shot = ShotDraw(rotation_deg=31.0, origin=(0.7, 1.9), drift=(0.5, -0.4), jitter_rms=0.05, jitter_seed=3,
                    defocus=-25.0, semiangle=24.0, source_size=0.3, dose_haadf=1e6, dose_abf=1e6)
    optics = PrismSettings(energy=200e3, max_semiangle=24.0, haadf=BULK.haadf, abf=BULK.abf, potential_sampling=0.07)
    return simulate_field(atoms, shot, optics, (72, 72), 0.2, seed=5, phonon_seed=6, cache=None)


@pytest.mark.parametrize("detector", ["haadf", "abf"])
def test_shipped_model_finds_the_columns(laalo3_field, detector):
    field = laalo3_field[detector]
    found = locate_atoms(field["image"], "atom_fcn", pixel_size=field["pixel_size"])
    counts = count_detections(field["columns_xy"], field["columns_class"], found.xy, found["class_id"],
                              field["pixel_size"], field["image"].shape)
    metrics = summarize([counts])
    assert metrics["n_true"] > 40
    assert metrics["f1"] >= 0.95, metrics
    assert metrics["rmse_pm"] < 10.0, metrics
    heavy = metrics["per_class"]["heavy"]
    assert heavy["f1"] >= 0.95, heavy  # La: the heaviest column class


def test_field_labels_are_the_lattice(laalo3_field):
    field = laalo3_field["haadf"]
    assert set(np.unique(field["columns_class"]).tolist()) == {1, 2, 3}
    d = np.linalg.norm(field["columns_xy"][:, None] - field["columns_xy"][None], axis=-1) + np.eye(len(field["columns_xy"])) * 99
    assert np.isclose(d.min() * 0.2, 3.789 / 2, atol=0.1)  # La-O / Al-O spacing a/2 despite drift and jitter
