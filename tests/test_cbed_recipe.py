"""The stem_cbed_interface recipe: balanced classes, disjoint runs, fixed seeds, clear errors."""

import pytest

from stem_datasets import cbed_interface as ci


@pytest.mark.parametrize("name", list(ci.RECIPES))
def test_classes_are_balanced_and_the_unseen_thickness_is_unseen(name):
    recipe = ci.get_recipe(name)
    for split in ci.SPLITS:
        units = ci.units(recipe, split)
        rough = [u for u in units if u[0] == "rough"]
        mixed = [u for u in units if u[0] == "intermixed"]
        thicknesses = ci.split_thicknesses(recipe, split)
        assert len(rough) == len(mixed) * len(thicknesses)  # intermixed runs give every thickness (exit planes)
        assert {u[2] for u in rough} == set(range(11))
    assert not set(ci.split_thicknesses(recipe, "test_unseen_thickness")) & set(ci.split_thicknesses(recipe, "train"))


def test_units_are_reproducible_and_repeats_differ():
    recipe = ci.get_recipe("smoke")
    one = ci.unit_structure_and_microscope(recipe, "train", ("intermixed", 3, 0))
    same = ci.unit_structure_and_microscope(recipe, "train", ("intermixed", 3, 0))
    other = ci.unit_structure_and_microscope(recipe, "train", ("intermixed", 3, 1))
    assert one[0].get_chemical_symbols() == same[0].get_chemical_symbols() and one[1] == same[1]
    assert one[1].seed != other[1].seed and one[0].info["seed"] != other[0].info["seed"]
    low, high = recipe.intermix_range
    assert low <= one[0].info["intermix_fraction"] <= high
    rough = ci.unit_structure_and_microscope(recipe, "validation", ("rough", 31.24, 4, 0))
    assert rough[0].info["step_fraction"] == pytest.approx(0.4, abs=0.05) and rough[2] == [pytest.approx(31.24, abs=0.01)]


def test_unknown_config_and_split_are_refused():
    with pytest.raises(ValueError, match="Unknown stem_cbed_interface config 'huge'; known: smoke, small, full"):
        ci.get_recipe("huge")
    with pytest.raises(ValueError, match="Unknown split"):
        ci.units(ci.get_recipe("smoke"), "training")
    with pytest.raises(ValueError, match="also a seen one"):
        ci.CbedInterfaceRecipe("bad", (100.0,), 101.0, ci.RECIPES["smoke"].microscope, ci.RECIPES["smoke"].scan,
                               ci.RECIPES["smoke"].detector, (1, 1, 1, 1))
