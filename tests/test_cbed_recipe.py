"""The stem_cbed_interface recipe: balanced classes, structures drawn per split, fixed seeds, clear errors."""

import numpy as np
import pytest

from stem_datasets.builders.stem_cbed_interface import recipe as ci


@pytest.mark.parametrize("name", list(ci.RECIPES))
def test_every_step_and_class_in_every_split_and_the_unseen_thickness_is_unseen(name):
    recipe = ci.get_recipe(name)
    for split in ci.SPLITS:
        units = ci.units(recipe, split)
        rough = [u for u in units if u[0] == "rough"]
        classes = len(ci.split_thicknesses(recipe, split))
        assert {u[2] for u in rough} == set(ci.STEPS) and {u[1] for u in rough} == set(range(classes))
        assert {u[0] for u in units} == set(ci.CLASSES)
    unseen = ci.thickness_range(recipe.unseen_thickness_angstrom, recipe.nuisance.thickness_jitter)
    for t in recipe.thicknesses_angstrom:
        low, high = ci.thickness_range(t, recipe.nuisance.thickness_jitter)
        assert high < unseen[0] or low > unseen[1]


def test_draws_are_reproducible_within_their_ranges_and_differ_between_splits():
    recipe = ci.get_recipe("small")
    n = recipe.nuisance
    draws = {split: [ci.draw(recipe, split, u) for u in ci.units(recipe, split)] for split in ci.SPLITS}
    assert ci.draw(recipe, "train", ("rough", 0, 3, 1)) == draws["train"][ci.units(recipe, "train").index(("rough", 0, 3, 1))]
    for split, ds in draws.items():
        for d in ds:
            assert abs(d.defocus) <= n.defocus and np.hypot(*d.mistilt) <= n.mistilt_mrad
            assert abs(d.step_angle_deg) <= n.step_angle_deg and abs(d.scan_offset[0]) <= n.scan_offset_x
            for t, nominal in zip(d.thicknesses_angstrom, d.nominal_angstrom):
                low, high = ci.thickness_range(nominal, n.thickness_jitter)
                assert low <= round(t / ci.A) <= high
            if d.interface == "intermixed":
                assert n.intermix_range[0] <= d.intermix_fraction <= n.intermix_range[1]
    # no two structures alike, inside a split or across splits (nuisance draws are per structure)
    keys = [(d.interface, d.step_position, d.thicknesses_angstrom, round(d.defocus, 6)) for ds in draws.values() for d in ds]
    assert len(keys) == len(set(keys))
    spread = [d.defocus for d in draws["train"]]
    assert np.std(spread) > n.defocus / 3  # actually varied, not a constant


def test_rough_structure_has_its_step_at_the_labelled_depth_on_the_scan_lines():
    recipe = ci.get_recipe("smoke")
    d = ci.draw(recipe, "test", ("rough", 1, 6, 0))
    atoms = ci.structure_of(recipe, d)
    info = atoms.info
    assert info["step_fraction"] == pytest.approx(0.6, abs=0.5 / info["n_slices"] + 1e-9)
    # on the scan lines' centre, the first film B plane is Ti below the step depth and Al above it
    y = ci.lines_centre_y(recipe, d)
    symbols = np.array(atoms.get_chemical_symbols())
    first_b = (np.abs(atoms.positions[:, 0] - (info["interface_x"] + ci.A)) < 0.5) & np.isin(symbols, ["Al", "Ti"])
    near = first_b & (np.abs(atoms.positions[:, 1] - y) < ci.A / 2 + 0.01)
    z, kind = atoms.positions[near, 2], symbols[near]
    depth = info["step_fraction"] * info["thickness_angstrom"]
    assert np.all(kind[z < depth - ci.A] == "Al") and np.all(kind[z > depth + ci.A] == "Ti")


def test_unknown_config_and_split_and_overlapping_classes_are_refused():
    with pytest.raises(ValueError, match="Unknown stem_cbed_interface config 'huge'; known: smoke, small, full"):
        ci.get_recipe("huge")
    with pytest.raises(ValueError, match="Unknown split"):
        ci.units(ci.get_recipe("smoke"), "training")
    smoke = ci.RECIPES["smoke"]
    with pytest.raises(ValueError, match="overlap"):
        ci.CbedInterfaceRecipe("bad", (100.0,), 105.0, smoke.microscope, smoke.scan, smoke.detector, smoke.structures)


def test_datasets_are_found_by_their_folders_and_unknown_names_are_refused():
    from pathlib import Path

    from stem_datasets import builders, report

    folders = {p.parent.name for p in Path(builders.__file__).parent.glob("*/*_dataset_builder.py")}
    assert set(builders.DATASETS) == folders >= {"stem_abf_tilt", "stem_cbed_interface"}
    with pytest.raises(ValueError, match="Unknown dataset 'stem_nothing'; known: stem_abf_tilt, .*stem_cbed_interface"):
        report.build("smoke", dataset="stem_nothing")
    with pytest.raises(ValueError, match="Unknown stem_cbed_interface config 'huge'; known: smoke, small, full"):
        report.build("huge", dataset="stem_cbed_interface")
