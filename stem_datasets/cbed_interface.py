"""The recipe behind ``stem_cbed_interface``: which 4D-STEM simulations, which splits.

Two families of LaAlO3/SrTiO3 cross-sections (:func:`stem_datasets.structures.lao_sto_interface`):
*rough* (a buried step at 0, 0.1, ..., 1.0 of the thickness) and *intermixed* (a flat
interface with a random fraction of the first AlO2 plane's Al replaced by Ti). Every
simulation is a 4D-STEM grid across the interface; each line of it is one example (a
stack positions x ky x kx), and every example also carries the stack averaged over the
lines (one unit cell in y), which the seed paper needed for the step position.

A work unit is one multislice run. Rough runs are one per (thickness, step, repeat),
repeats differing by their frozen-phonon configurations. Intermixed runs use exit planes:
one run at the largest thickness of a split gives all of its thicknesses, so that both
classes have as many examples at every thickness. Splits are fixed by the recipe: train,
validation and test are disjoint runs at the seen thicknesses, ``test_unseen_thickness``
runs at a thickness absent from the others.

Example:
    >>> recipe = RECIPES["smoke"]
    >>> len(units(recipe, "train")), split_thicknesses(recipe, "test_unseen_thickness")
    (66, (46.86,))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from stem_datasets.cache import SimulationCache, unit_interval
from stem_datasets.microscope import Microscope
from stem_datasets.simulate import CbedDetector, InterfaceScan, simulate_4dstem
from stem_datasets.structures import (
    COMPOSITIONS,
    LAO_FILM_C,
    STEP_POSITIONS,
    interface_slice_thickness,
    lao_sto_interface,
    snap_interface_thickness,
)

SPLITS = ("train", "validation", "test", "test_unseen_thickness")
CLASSES = ("rough", "intermixed")


@dataclass(frozen=True)
class CbedInterfaceRecipe:
    """Everything that fixes the content of one ``stem_cbed_interface`` config."""

    name: str
    thicknesses_angstrom: tuple[float, ...]  # seen in train / validation / test (snapped to whole cells)
    unseen_thickness_angstrom: float
    microscope: Microscope
    scan: InterfaceScan
    detector: CbedDetector
    repeats: tuple[int, int, int, int]  # runs per (thickness, step) for each split, in SPLITS order
    intermix_range: tuple[float, float] = (0.1, 0.5)  # fraction of Ti on the first AlO2 plane's Al sites
    seed: int = 0
    description: str = ""
    use_beam: bool = False

    def __post_init__(self) -> None:
        seen = [snap_interface_thickness(t) for t in self.thicknesses_angstrom]
        if snap_interface_thickness(self.unseen_thickness_angstrom) in seen:
            raise ValueError(f"{self.name}: the unseen thickness {self.unseen_thickness_angstrom} A is also a seen one.")
        if len(self.repeats) != len(SPLITS) or min(self.repeats) < 1:
            raise ValueError(f"{self.name}: repeats needs one count >= 1 per split {SPLITS}, got {self.repeats}.")

    @property
    def stack_shape(self) -> tuple[int, int, int]:
        """(positions, ky, kx) of one example."""
        return (self.scan.positions, self.detector.pixels, self.detector.pixels)


# 200 kV, 20 mrad: an aberration-corrected probe whose bright-field disc fills two thirds
# of the cropped pattern (cropped at ~29 mrad after 2 x 2 binning).
_SMOKE_MICROSCOPE = Microscope(semiangle=20.0, potential_sampling=0.125, frozen_phonons=1)
_SMALL_MICROSCOPE = Microscope(semiangle=20.0, potential_sampling=0.1, frozen_phonons=2)
_FULL_MICROSCOPE = Microscope(semiangle=20.0, potential_sampling=0.05, frozen_phonons=8)

RECIPES: dict[str, CbedInterfaceRecipe] = {
    r.name: r
    for r in (
        CbedInterfaceRecipe(
            name="smoke",
            thicknesses_angstrom=(31.24, 62.48),
            unseen_thickness_angstrom=46.86,
            microscope=_SMOKE_MICROSCOPE,
            scan=InterfaceScan(positions=8, lines=2),
            detector=CbedDetector(pixels=32, binning=2),
            repeats=(2, 1, 1, 1),
            description="About a minute: 3 and 6 nm thin slabs (4.7 nm unseen), 8 x 2 probe positions, one phonon configuration.",
        ),
        CbedInterfaceRecipe(
            name="small",
            thicknesses_angstrom=(100.0, 200.0),
            unseen_thickness_angstrom=150.0,
            microscope=_SMALL_MICROSCOPE,
            scan=InterfaceScan(positions=8, lines=4),
            detector=CbedDetector(pixels=32, binning=2),
            repeats=(3, 1, 1, 2),
            description="About 15 minutes on 2 cores: 10 and 20 nm (15 nm unseen), 8 x 4 positions, 2 phonon configurations.",
        ),
        CbedInterfaceRecipe(
            name="full",
            thicknesses_angstrom=(100.0, 150.0, 250.0, 300.0),
            unseen_thickness_angstrom=200.0,
            microscope=_FULL_MICROSCOPE,
            scan=InterfaceScan(positions=41, lines=13),
            detector=CbedDetector(pixels=64, binning=2),
            repeats=(8, 2, 2, 4),
            description="The seed's scale (~600 runs per class over 5 thicknesses, 8 phonon configurations); Apache Beam.",
            use_beam=True,
        ),
    )
}


def get_recipe(name: str) -> CbedInterfaceRecipe:
    """The recipe of a config name, with a clear error for unknown names."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"Unknown stem_cbed_interface config {name!r}; known: {', '.join(RECIPES)}.") from None


def split_thicknesses(recipe: CbedInterfaceRecipe, split: str) -> tuple[float, ...]:
    """The (snapped) thicknesses [A] of a split."""
    _check_split(split)
    values = (recipe.unseen_thickness_angstrom,) if split == "test_unseen_thickness" else recipe.thicknesses_angstrom
    return tuple(round(snap_interface_thickness(t), 2) for t in values)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; known: {', '.join(SPLITS)}.")


def units(recipe: CbedInterfaceRecipe, split: str) -> list[tuple]:
    """The independent multislice runs of a split: ("rough", t, step, r) or ("intermixed", index, r)."""
    _check_split(split)
    repeats = recipe.repeats[SPLITS.index(split)]
    thicknesses = split_thicknesses(recipe, split)
    rough = [("rough", t, step, r) for t in thicknesses for step in range(STEP_POSITIONS) for r in range(repeats)]
    mixed = [("intermixed", k, r) for k in range(STEP_POSITIONS) for r in range(repeats)]
    return rough + mixed


def unit_structure_and_microscope(recipe: CbedInterfaceRecipe, split: str, unit: tuple):
    """The structure, microscope (its phonon seed) and exit thicknesses of one unit."""
    salt = (recipe.seed, split, *unit)
    microscope = recipe.microscope.replace(seed=int(unit_interval("phonons", *salt) * 2**31))
    thicknesses = split_thicknesses(recipe, split)
    if unit[0] == "rough":
        _, t, step, _ = unit
        return lao_sto_interface(_exact(t), step_fraction=step / (STEP_POSITIONS - 1)), microscope, [_exact(t)]
    low, high = recipe.intermix_range
    fraction = low + (high - low) * unit_interval("intermix", *salt)
    structure = lao_sto_interface(
        _exact(max(thicknesses)), intermix_fraction=fraction, seed=int(unit_interval("sites", *salt) * 2**31)
    )
    return structure, microscope, [_exact(t) for t in thicknesses]


def _exact(thickness: float) -> float:
    return snap_interface_thickness(thickness)  # the rounded value of split_thicknesses -> whole cells again


def simulate_unit(recipe: CbedInterfaceRecipe, split: str, unit: tuple, cache: SimulationCache | None) -> tuple:
    """(structure, CBED stacks) of one unit, from the cache when it was run before."""
    structure, microscope, exits = unit_structure_and_microscope(recipe, split, unit)
    return structure, simulate_4dstem(structure, exits, microscope, recipe.scan, recipe.detector, cache)


def generate_unit(
    recipe: CbedInterfaceRecipe, split: str, unit: tuple, cache: SimulationCache | None
) -> Iterator[tuple[str, dict]]:
    """Yield (key, example) for every line and exit thickness of one unit."""
    _check_split(split)
    structure, stacks = simulate_unit(recipe, split, unit, cache)
    info = structure.info
    rough = unit[0] == "rough"
    for t_index, thickness in enumerate(stacks.thicknesses_angstrom):
        average = stacks.cell_average()[t_index]
        run = "/".join(map(str, unit)) + (f"/{thickness:.2f}" if not rough else "")
        for line in range(stacks.cbed.shape[1]):
            yield f"{split}/{run}/line{line}", {
                "cbed": stacks.cbed[t_index, line],
                "cbed_cell_average": average,
                "interface": "rough" if rough else "intermixed",
                "step_position": np.int32(unit[2] if rough else -1),
                "step_fraction": np.float32(info["step_fraction"] if rough else -1.0),
                "intermix_fraction": np.float32(info["intermix_fraction"]),
                "thickness_angstrom": np.float32(thickness),
                "line_position": np.int32(line),
                "simulation": run,
            }


def generate_examples(recipe: CbedInterfaceRecipe, split: str, cache: SimulationCache | None) -> Iterator[tuple[str, dict]]:
    """All examples of one split, unit after unit."""
    for unit in units(recipe, split):
        yield from generate_unit(recipe, split, unit, cache)


def describe(recipe: CbedInterfaceRecipe) -> dict:
    """Plain-JSON physics and geometry of a config (dataset metadata and card)."""
    a = COMPOSITIONS["SrTiO3"].lattice_constant
    cell = lao_sto_interface(interface_slice_thickness(a)).cell[0, 0]
    sampling = 1e3 * recipe.microscope.wavelength / cell * recipe.detector.binning  # abTEM: dk = 1 / cell
    return {
        "microscope": recipe.microscope.to_dict(),
        "thicknesses_angstrom": {s: list(split_thicknesses(recipe, s)) for s in SPLITS},
        "runs_per_split": {s: len(units(recipe, s)) for s in SPLITS},
        "repeats": dict(zip(SPLITS, recipe.repeats)),
        "stack_shape": list(recipe.stack_shape),
        "cell_angstrom": round(float(cell), 4),
        "substrate_a_angstrom": a,
        "film_c_angstrom": LAO_FILM_C,
        "cbed_mrad_per_pixel": round(sampling, 4),
        "cbed_max_angle_mrad": round(sampling * recipe.detector.pixels / 2, 2),
        "cbed_binning": recipe.detector.binning,
        "positions_x_angstrom_from_interface": [round(float(x), 4) for x in np.linspace(0, recipe.scan.span_cells * a, recipe.scan.positions)],
        "lines_y_angstrom": [round(float(y), 4) for y in np.arange(recipe.scan.lines) * a / recipe.scan.lines],
        "intermix_range": list(recipe.intermix_range),
        "step_positions": STEP_POSITIONS,
    }
