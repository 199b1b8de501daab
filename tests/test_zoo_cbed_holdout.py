"""The shipped CBED classifiers on interfaces built outside the dataset's structure code and outside its draws.

Structures and imaging from :mod:`stem_zoo.tasks.cbed.holdout` (ASE alone; first checked here against the
dataset's ``lao_sto_interface`` column by column, and its nuisances against the dataset's ``Nuisance``):
12.5 nm thick (32 cells, between the 10 and 20 nm classes and below the unseen 15 nm class), defocus -40 A
(dataset: |defocus| <= 25 A), 1.4 mrad mistilt (<= 1), the scan 0.45 A off the interface plane (<= 0.3) and
0.6 A off in y, registered from its ADF as a user's scan (``classify_scan``). About a minute of multislice on
2 cores. ``bench/bench_cbed_holdout.py`` runs the whole hold-out (nine interfaces, two thicknesses).
"""

import numpy as np
import pytest

from stem_datasets.builders.stem_cbed_interface.recipe import A, RECIPES, thickness_range
from stem_datasets.physics.structures import lao_sto_interface
from stem_datasets.simulation.cache import SimulationCache
from stem_zoo.tasks.cbed import holdout
from stem_zoo.tasks.cbed.holdout import (HOLDOUT_CASES, INSIDE_THICKNESS_CELLS, THICKNESS_CELLS, HoldoutCase, ase_interface,
                                         classify_case)

RECIPE = RECIPES["small"]
CELLS = 32


# --- the tests -----------------------------------------------------------------------------------------------------


def _columns(atoms, half_width=8.0) -> set:
    """(element, x from the terminating TiO2 plane, y in the cell) of every column within ``half_width`` of it."""
    x0 = atoms.info["interface_x"]
    return {(s, round(float(p[0] - x0), 3), round(float(p[1] % A), 3) % round(A, 3)) for s, p in
            zip(atoms.get_chemical_symbols(), atoms.positions) if abs(p[0] - x0) < half_width}


@pytest.mark.parametrize("ase_kwargs, package_kwargs", [
    ({}, {}), ({"one_cell_out_from_slice": 0}, {"step_fraction": 0.0}),
])
def test_ase_built_interfaces_agree_with_the_dataset_structure_code(ase_kwargs, package_kwargs):
    ours, theirs = lao_sto_interface(4 * A, **package_kwargs), ase_interface(4, **ase_kwargs)
    assert sorted(ours.get_chemical_symbols()) == sorted(theirs.get_chemical_symbols())
    assert _columns(ours) == _columns(theirs)
    assert np.allclose(sorted(set(np.round(ours.positions[:, 2], 3))), sorted(set(np.round(theirs.positions[:, 2], 3))))


def test_holdout_is_built_without_the_dataset_structure_code():
    source = open(holdout.__file__).read()
    assert "stem_datasets.physics" not in source.replace("Nothing here comes from :mod:`stem_datasets.physics`", "")
    assert holdout.A == A  # the same SrTiO3, written down twice


@pytest.mark.parametrize("kwargs, match", [
    ({"cells_z": 0}, "cells_z must be"), ({"cells_z": 4.5}, "cells_z must be"),
    ({"cells_z": 4, "one_cell_out_from_slice": 9}, "slice 0-8"), ({"cells_z": 4, "ti_fraction": 1.5}, "0-1"),
])
def test_ase_interface_refuses_impossible_structures(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ase_interface(**kwargs)


def test_holdout_values_lie_outside_the_dataset_draws():
    n = RECIPE.nuisance
    for t in (*RECIPE.thicknesses_angstrom, RECIPE.unseen_thickness_angstrom):
        low, high = thickness_range(t, n.thickness_jitter)
        assert not any(low <= cells <= high for cells in THICKNESS_CELLS)
    for case in HOLDOUT_CASES:
        assert abs(case.defocus) > n.defocus and np.hypot(*case.mistilt) > n.mistilt_mrad
        assert abs(case.offset[0]) > n.scan_offset_x
    assert {case.interface for case in HOLDOUT_CASES} == {"rough", "intermixed", "abrupt"}


def _classify(case: HoldoutCase, model, cells: int = CELLS):
    predictions, registered = classify_case(case, cells, model, SimulationCache())
    assert registered.offset.dx == pytest.approx(case.offset[0], abs=0.1)
    assert registered.offset.y0 == pytest.approx(case.offset[1], abs=0.1)
    return predictions


CASES = {case.name: case for case in HOLDOUT_CASES}
DEFOCUS_EXTRAPOLATION = (
    "issue 28 (blocked: simulation compute): cbed_interface_cnn v0.4.0 reads intermixed vs abrupt through defocus beyond its training range "
    "(|df| <= 25 A): at -40 A this Ti 0.4 interface is called abrupt (p 0.59), at +35 A an abrupt one intermixed "
    "(bench/bench_cbed_holdout.py); inside the ranges it is right (next case). strict: the mark goes once weights pass.")


@pytest.mark.parametrize("name, inside", [
    ("abrupt", False), ("step 0.5 t", False),
    pytest.param("Ti 0.4", False, marks=pytest.mark.xfail(strict=True, reason=DEFOCUS_EXTRAPOLATION)),
    ("Ti 0.4", True),
])
@pytest.mark.slow
def test_shipped_interface_model_classifies_interfaces_it_never_saw(name, inside):
    case = CASES[name].inside_ranges() if inside else CASES[name]
    predictions = _classify(case, "cbed_interface_cnn", INSIDE_THICKNESS_CELLS[0] if inside else CELLS)  # one cell average
    assert predictions.names == [case.interface], predictions.probabilities.round(2)


@pytest.mark.slow
def test_shipped_step_model_finds_the_step_within_one_tenth():
    predictions = _classify(CASES["step 0.5 t"], "cbed_step_cnn")
    assert abs(int(predictions.names[0].split("_")[1]) - 5) <= 1, predictions.probabilities.round(2)
