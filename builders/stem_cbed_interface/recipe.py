"""The recipe behind ``stem_cbed_interface``: which 4D-STEM simulations, which splits.

Three kinds of LaAlO3/SrTiO3 cross-section (:func:`stem_datasets.physics.structures.lao_sto_interface`):
*rough* (a buried step at 0.1, ..., 0.9 of the thickness), *intermixed* (a flat interface
with a random fraction of the first AlO2 plane's Al replaced by Ti) and *abrupt* (flat,
at the nominal plane or one cell out, no step inside the sample). Every structure is
drawn anew with the nuisance parameters a real interface varies in (:class:`Nuisance`):
thickness within its class, the step edge's direction, lateral position and terrace
width, the Ti sites, the scan's offset, defocus and mistilt. Train, validation and test
therefore hold different structures, not only different phonon seeds;
``test_unseen_thickness`` holds structures at a thickness class absent from the others.

The scan lands off the lattice by the drawn offset, as a real one does; every run records
the ADF signal with the patterns and is registered to the lattice from it
(:func:`stem_datasets.pipeline.scan_registration.register_scan`, on the ADF with Poisson
noise at a drawn dose), the same step ``stem_zoo`` applies to a user's scan. Examples hold
the registered patterns.

:class:`CbedInterfaceRecipe` is a :class:`stem_datasets.pipeline.recipe.DatasetRecipe`; the builder
only declares features. A work unit is one multislice run. Each registered line of its 4D-STEM
scan is one example (a stack positions x ky x kx) that also carries the stack averaged over the
lines (one unit cell in y), which the seed paper needed for the step position. Intermixed
and abrupt runs use exit planes: one run gives a structure at each thickness class of its split.

Example:
    >>> recipe = RECIPES["smoke"]
    >>> len(units(recipe, "train")), split_thicknesses(recipe, "test_unseen_thickness")
    (28, (46.86,))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar, Iterator

import numpy as np

from stem_datasets.simulation.cache import SimulationCache, unit_interval
from stem_datasets.simulation.microscope import Microscope
from stem_datasets.simulation.simulate import CbedDetector, CbedStacks, InterfaceScan, simulate_4dstem
from stem_datasets.pipeline.recipe import recipe_named
from stem_datasets.pipeline.scan_registration import RegisteredScan, register_scan
from stem_datasets.physics.structures import (
    COMPOSITIONS,
    INTERFACE_WIDTH_CELLS,
    LAO_FILM_C,
    STEP_POSITIONS,
    interface_slice_thickness,
    lao_sto_interface,
    snap_interface_thickness,
)

SPLITS = ("train", "validation", "test", "test_unseen_thickness")
CLASSES = ("rough", "intermixed", "abrupt")  # rough / intermixed keep the indices of version 1
STEPS = tuple(range(1, STEP_POSITIONS - 1))  # a step at k/10 of the thickness; 0 and 10 would be flat (abrupt)
A = COMPOSITIONS["SrTiO3"].lattice_constant


@dataclass(frozen=True)
class Nuisance:
    """Ranges of what varies from structure to structure (uniform draws, per structure).

    Lengths in A, angles in degrees (step) or mrad (beam).
    """

    thickness_jitter: float = 0.1  # thickness = class thickness x (1 +- this), whole cells
    step_angle_deg: float = 15.0  # step edge direction against y, in the interface plane
    terrace_width_cells: tuple[float, float] = (5.0, 7.0)  # width in y of the raised terrace (7: the whole cell)
    scan_offset_x: float = 0.3  # the scan line's start against the terminating TiO2 plane
    defocus: float = 25.0  # |defocus| up to this
    mistilt_mrad: float = 1.0  # beam tilt off the zone axis, any direction, up to this
    intermix_range: tuple[float, float] = (0.1, 0.5)  # fraction of Ti on the first AlO2 plane's Al sites
    adf_dose: tuple[float, float] = (1e4, 1e6)  # electrons per probe position behind the ADF used to register (log-uniform)


@dataclass(frozen=True)
class CbedInterfaceRecipe:
    """Everything that fixes the content of one ``stem_cbed_interface`` config."""

    name: str
    thicknesses_angstrom: tuple[float, ...]  # thickness classes of train / validation / test
    unseen_thickness_angstrom: float
    microscope: Microscope
    scan: InterfaceScan
    detector: CbedDetector
    # Structures per split (SPLITS order): (rough per thickness class and step, intermixed runs, abrupt runs)
    structures: tuple[tuple[int, int, int], ...]
    nuisance: Nuisance = Nuisance()
    seed: int = 0
    description: str = ""
    use_beam: bool = False
    splits: ClassVar[tuple[str, ...]] = SPLITS

    def __post_init__(self) -> None:
        classes = [thickness_range(t, self.nuisance.thickness_jitter) for t in
                   (*self.thicknesses_angstrom, self.unseen_thickness_angstrom)]
        for i, (low, high) in enumerate(classes):
            for other_low, other_high in classes[i + 1:]:
                if low <= other_high and other_low <= high:
                    raise ValueError(f"{self.name}: thickness classes {classes} overlap; the unseen thickness "
                                     "and every seen one need disjoint ranges of whole cells.")
        if len(self.structures) != len(SPLITS) or min(min(c) for c in self.structures) < 1:
            raise ValueError(f"{self.name}: structures needs (rough, intermixed, abrupt) counts >= 1 per split {SPLITS}.")

    @property
    def stack_shape(self) -> tuple[int, int, int]:
        """(positions, ky, kx) of one example."""
        return (self.scan.positions, self.detector.pixels, self.detector.pixels)

    # The DatasetRecipe interface (stem_datasets.pipeline.recipe), delegating to this module's functions.
    def units(self, split: str) -> list[tuple]:
        """The multislice runs of a split (:func:`units`)."""
        return units(self, split)

    def generate_unit(self, split: str, unit: tuple, cache: SimulationCache | None) -> Iterator[tuple[str, dict]]:
        """(key, example) pairs of one run (:func:`generate_unit`)."""
        return generate_unit(self, split, unit, cache)

    def describe(self) -> dict:
        """Plain-JSON metadata (:func:`describe`)."""
        return describe(self)


def thickness_range(nominal_angstrom: float, jitter: float) -> tuple[int, int]:
    """The whole numbers of SrTiO3 cells a thickness class may have."""
    cells = nominal_angstrom / A
    return int(round(cells * (1 - jitter))), int(round(cells * (1 + jitter)))


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
            scan=InterfaceScan(positions=8, lines=4, oversample=2, margin=2),
            detector=CbedDetector(pixels=32, binning=2),
            structures=((1, 6, 4), (1, 3, 2), (1, 3, 2), (1, 3, 2)),
            description="A few minutes: 3 and 6 nm thin slabs (4.7 nm unseen), 19 x 4 probe positions registered to 8 x 4, "
                        "one phonon configuration.",
        ),
        CbedInterfaceRecipe(
            name="small",
            thicknesses_angstrom=(100.0, 200.0),
            unseen_thickness_angstrom=150.0,
            microscope=_SMALL_MICROSCOPE,
            scan=InterfaceScan(positions=8, lines=8, oversample=2, margin=2),
            detector=CbedDetector(pixels=32, binning=2),
            structures=((3, 16, 16), (1, 5, 5), (2, 8, 8), (1, 5, 5)),
            description="About 70 minutes on 2 cores: 10 and 20 nm (15 nm unseen) +-10%, 19 x 8 positions registered "
                        "to 8 x 8, 2 phonon configurations, 185 structures.",
        ),
        CbedInterfaceRecipe(
            name="full",
            thicknesses_angstrom=(100.0, 150.0, 250.0, 300.0),
            unseen_thickness_angstrom=200.0,
            microscope=_FULL_MICROSCOPE,
            scan=InterfaceScan(positions=41, lines=13, oversample=1, margin=3),
            detector=CbedDetector(pixels=64, binning=2),
            nuisance=Nuisance(thickness_jitter=0.05),
            structures=((16, 150, 40), (4, 36, 10), (4, 36, 10), (8, 72, 20)),
            description="The seed's scale (~600 structures per class, 8 phonon configurations); Apache Beam.",
            use_beam=True,
        ),
    )
}


def get_recipe(name: str) -> CbedInterfaceRecipe:
    """The recipe of a named config, with a clear error for unknown names."""
    return recipe_named(RECIPES, "stem_cbed_interface", name)


def split_thicknesses(recipe: CbedInterfaceRecipe, split: str) -> tuple[float, ...]:
    """The nominal thickness classes [A] of a split (snapped to whole cells)."""
    _check_split(split)
    values = (recipe.unseen_thickness_angstrom,) if split == "test_unseen_thickness" else recipe.thicknesses_angstrom
    return tuple(round(snap_interface_thickness(t), 2) for t in values)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; known: {', '.join(SPLITS)}.")


def units(recipe: CbedInterfaceRecipe, split: str) -> list[tuple]:
    """The multislice runs of a split: ("rough", class index, step, r), ("intermixed", r), ("abrupt", r)."""
    _check_split(split)
    rough, mixed, abrupt = recipe.structures[SPLITS.index(split)]
    classes = range(len(split_thicknesses(recipe, split)))
    return ([("rough", c, step, r) for c in classes for step in STEPS for r in range(rough)]
            + [("intermixed", r) for r in range(mixed)] + [("abrupt", r) for r in range(abrupt)])


@dataclass(frozen=True)
class StructureDraw:
    """One structure's label and nuisance values, drawn from (seed, split, unit)."""

    interface: str
    thicknesses_angstrom: tuple[float, ...]  # one per thickness class of the run (exit planes)
    nominal_angstrom: tuple[float, ...]
    step_position: int  # k: the step at k/10 of the thickness on the scan lines; -1 without a step
    flat_one_cell_out: bool  # abrupt only: the flat interface one cell further into the film
    intermix_fraction: float
    step_angle_deg: float
    terrace_width_angstrom: float
    step_offset_angstrom: float  # the terrace's centre in y minus the scan lines' centre (where the edge is at k/10)
    scan_offset: tuple[float, float]  # (dx from the terminating TiO2 plane, y of line 0 from the A columns) [A]
    defocus: float
    mistilt: tuple[float, float]  # mrad
    structure_seed: int
    phonon_seed: int
    adf_dose: float  # electrons per probe position behind the ADF that registers the scan
    adf_seed: int


def draw(recipe: CbedInterfaceRecipe, split: str, unit: tuple) -> StructureDraw:
    """The reproducible draw of one unit (every value from a hash of seed, split and unit)."""
    _check_split(split)
    n = recipe.nuisance
    u = lambda *what: unit_interval(recipe.seed, split, *unit, *what)  # noqa: E731
    symmetric = lambda limit, *what: limit * (2 * u(*what) - 1)  # noqa: E731
    nominal = split_thicknesses(recipe, split)
    if unit[0] == "rough":
        nominal = (nominal[unit[1]],)
    thicknesses = []
    for i, t in enumerate(nominal):
        low, high = thickness_range(t, n.thickness_jitter)
        thicknesses.append(round((low + int(u("cells", i) * (high - low + 1))) * A, 4))
    width = n.terrace_width_cells[0] + (n.terrace_width_cells[1] - n.terrace_width_cells[0]) * u("terrace")
    tilt, azimuth = n.mistilt_mrad * np.sqrt(u("tilt")), 2 * np.pi * u("azimuth")  # uniform over the disc
    low, high = n.intermix_range
    return StructureDraw(
        interface=unit[0],
        thicknesses_angstrom=tuple(thicknesses),
        nominal_angstrom=tuple(nominal),
        step_position=unit[2] if unit[0] == "rough" else -1,
        flat_one_cell_out=unit[0] == "abrupt" and u("flat") < 0.5,
        intermix_fraction=low + (high - low) * u("intermix") if unit[0] == "intermixed" else 0.0,
        step_angle_deg=symmetric(n.step_angle_deg, "angle"),
        terrace_width_angstrom=width * A,
        step_offset_angstrom=symmetric(max(width / 2 - 1, 0) * A, "lateral"),  # scan lines stay a cell inside
        scan_offset=(symmetric(n.scan_offset_x, "dx"), A * u("y0")),
        defocus=symmetric(n.defocus, "defocus"),
        mistilt=(float(tilt * np.cos(azimuth)), float(tilt * np.sin(azimuth))),
        structure_seed=int(u("sites") * 2**31),
        phonon_seed=int(u("phonons") * 2**31),
        adf_dose=float(np.exp(np.log(n.adf_dose[0]) + u("adf_dose") * np.log(n.adf_dose[1] / n.adf_dose[0]))),
        adf_seed=int(u("adf_noise") * 2**31),
    )


def lines_centre_y(recipe: CbedInterfaceRecipe, d: StructureDraw) -> float:
    """y [A] of the middle of the scan lines' cell, placed in the middle of the supercell."""
    return (INTERFACE_WIDTH_CELLS // 2) * A + d.scan_offset[1] + A / 2 - A / (2 * recipe.scan.lines)


def structure_of(recipe: CbedInterfaceRecipe, d: StructureDraw):
    """The atoms of a draw (at its largest thickness; the others are exit planes)."""
    thickness = max(d.thicknesses_angstrom)
    if d.interface == "rough":
        step = d.step_position / (STEP_POSITIONS - 1)
        return lao_sto_interface(thickness, step_fraction=step, step_angle_deg=d.step_angle_deg,
                                 step_y_angstrom=lines_centre_y(recipe, d), terrace_width_angstrom=d.terrace_width_angstrom,
                                 terrace_offset_angstrom=d.step_offset_angstrom)
    if d.interface == "intermixed":
        return lao_sto_interface(thickness, intermix_fraction=d.intermix_fraction, seed=d.structure_seed)
    return lao_sto_interface(thickness, step_fraction=0.0 if d.flat_one_cell_out else None)


def microscope_of(recipe: CbedInterfaceRecipe, d: StructureDraw) -> Microscope:
    return recipe.microscope.replace(defocus=d.defocus, mistilt=d.mistilt, seed=d.phonon_seed)


def simulate_unit(recipe: CbedInterfaceRecipe, split: str, unit: tuple, cache: SimulationCache | None):
    """(draw, structure, raw CBED stacks with their ADF) of one unit, from the cache when it was run before."""
    d = draw(recipe, split, unit)
    structure = structure_of(recipe, d)
    y0 = lines_centre_y(recipe, d) - A / 2 + A / (2 * recipe.scan.lines)
    stacks = simulate_4dstem(structure, sorted(d.thicknesses_angstrom), microscope_of(recipe, d), recipe.scan,
                             recipe.detector, cache, offset=(d.scan_offset[0], y0))
    return d, structure, stacks


def register_unit(recipe: CbedInterfaceRecipe, d: StructureDraw, stacks: CbedStacks, t_index: int) -> tuple[RegisteredScan, np.ndarray]:
    """(registered scan, the noisy ADF it was registered from) of one exit thickness of a run.

    The scan's nominal positions are where it was meant to go (the drawn offset unknown);
    the ADF gets Poisson noise at the draw's dose, as a user's would.
    """
    rng = np.random.default_rng([d.adf_seed, t_index])
    adf = (rng.poisson(np.maximum(stacks.adf[t_index], 0) * d.adf_dose) / d.adf_dose).astype(np.float32)
    registered = register_scan(stacks.cbed[t_index], adf, recipe.scan.raw_x(A), recipe.scan.lines_y(A), recipe.scan.model_x(A))
    return registered, adf


def generate_unit(
    recipe: CbedInterfaceRecipe, split: str, unit: tuple, cache: SimulationCache | None
) -> Iterator[tuple[str, dict]]:
    """Yield (key, example) for every registered line and exit thickness of one unit."""
    d, structure, stacks = simulate_unit(recipe, split, unit, cache)
    step_fraction = structure.info["step_fraction"] if d.interface == "rough" else -1.0
    order = np.argsort(d.thicknesses_angstrom)  # stacks come in increasing thickness
    run = "/".join(map(str, unit))
    true_y0 = d.scan_offset[1] % A  # line 0 from the A columns (simulate_unit)
    for t_index, k in enumerate(order):
        thickness = stacks.thicknesses_angstrom[t_index]
        registered, adf = register_unit(recipe, d, stacks, t_index)
        average = registered.cell_average()
        error = (registered.offset.dx - d.scan_offset[0], (registered.offset.y0 - true_y0 + A / 2) % A - A / 2)
        for line in range(registered.cbed.shape[0]):
            yield f"{split}/{run}/{d.nominal_angstrom[k]:.0f}/line{line}", {
                "cbed": registered.cbed[line],
                "cbed_cell_average": average,
                "adf": adf,
                "registration_error_angstrom": np.asarray(error, np.float32),
                "interface": d.interface,
                "step_position": np.int32(d.step_position),
                "step_fraction": np.float32(step_fraction),
                "intermix_fraction": np.float32(structure.info["intermix_fraction"]),
                "thickness_angstrom": np.float32(thickness),
                "thickness_class_angstrom": np.float32(d.nominal_angstrom[k]),
                "line_position": np.int32(line),
                "line_y_angstrom": np.float32((registered.lines_y[line] - registered.offset.y0 + true_y0) % A),
                "step_angle_deg": np.float32(d.step_angle_deg if d.interface == "rough" else 0.0),
                "terrace_width_angstrom": np.float32(d.terrace_width_angstrom if d.interface == "rough" else 0.0),
                "step_offset_angstrom": np.float32(d.step_offset_angstrom if d.interface == "rough" else 0.0),
                "scan_offset_x_angstrom": np.float32(d.scan_offset[0]),
                "defocus_angstrom": np.float32(d.defocus),
                "mistilt_mrad": np.asarray(d.mistilt, np.float32),
                "simulation": run,
            }


def describe(recipe: CbedInterfaceRecipe) -> dict:
    """Plain-JSON physics and geometry of a config (dataset metadata and card)."""
    cell = lao_sto_interface(interface_slice_thickness(A)).cell[0, 0]
    sampling = 1e3 * recipe.microscope.wavelength / cell * recipe.detector.binning  # abTEM: dk = 1 / cell
    return {
        "microscope": recipe.microscope.to_dict(),
        "nuisance": asdict(recipe.nuisance),
        "thickness_classes_angstrom": {s: list(split_thicknesses(recipe, s)) for s in SPLITS},
        "thickness_cells": {s: [thickness_range(t, recipe.nuisance.thickness_jitter) for t in split_thicknesses(recipe, s)]
                            for s in SPLITS},
        "runs_per_split": {s: len(units(recipe, s)) for s in SPLITS},
        "structures_per_split": {s: dict(zip(("rough_per_class_and_step", "intermixed", "abrupt"), c))
                                 for s, c in zip(SPLITS, recipe.structures)},
        "stack_shape": list(recipe.stack_shape),
        "cell_angstrom": round(float(cell), 4),
        "substrate_a_angstrom": A,
        "film_c_angstrom": LAO_FILM_C,
        "cbed_mrad_per_pixel": round(sampling, 4),
        "cbed_max_angle_mrad": round(sampling * recipe.detector.pixels / 2, 2),
        "cbed_binning": recipe.detector.binning,
        "positions_x_angstrom_from_interface": [round(float(x), 4) for x in recipe.scan.model_x(A)],
        "raw_scan_x_angstrom": [round(float(x), 4) for x in recipe.scan.raw_x(A)],
        "lines_per_cell": recipe.scan.lines,
        "adf_mrad": list(recipe.detector.adf_mrad),
        "registration": "stem_datasets.pipeline.scan_registration.register_scan: scan offset fitted from the ADF "
                        "(Poisson noise at nuisance.adf_dose), patterns resampled onto the model's positions (cubic spline in x)",
        "step_positions": list(STEPS),
    }


# --- the dataset report's section (``stem-datasets report``) ----------------------------------------------------------


def report_section(builder, out_dir) -> list[str]:
    """How well the scans were registered, per split, and a figure: one example per class, its noisy ADF raster on
    the fitted x (the nominal planes dashed), and its registered patterns."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import tensorflow_datasets as tfds

    from stem_datasets.pipeline.scan_registration import interface_columns

    recipe, name = builder.builder_config.recipe, builder.builder_config.name
    lines = ["## Scan registration", "",
             "Fitted minus drawn scan offset (`registration_error_angstrom`), per split: median and largest |error| "
             "[A] along x (across the interface) and y (along it). The drawn offsets reach "
             f"+-{recipe.nuisance.scan_offset_x} A in x and a whole cell in y.", "",
             "| split | runs x thicknesses | median x | max x | median y | max y |", "| --- | --- | --- | --- | --- | --- |"]
    shown = {}
    for split in builder.info.splits:
        errors = {}
        for e in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
            errors[(e["simulation"], float(e["thickness_angstrom"]))] = e["registration_error_angstrom"]
            kind = CLASSES[int(e["interface"])]
            if kind not in shown and int(e["line_position"]) == 0:
                shown[kind] = e
        err = np.abs(np.array(list(errors.values())))
        lines.append(f"| {split} | {len(err)} | {np.median(err[:, 0]):.3f} | {err[:, 0].max():.3f} | "
                     f"{np.median(err[:, 1]):.3f} | {err[:, 1].max():.3f} |")
    x, y = recipe.scan.raw_x(A), recipe.scan.lines_y(A)
    cols = 1 + min(4, recipe.scan.positions)
    figure, axes = plt.subplots(len(shown), cols, figsize=(2.2 * cols, 2.2 * len(shown)), squeeze=False)
    for r, (kind, e) in enumerate(sorted(shown.items())):
        dx = float(e["scan_offset_x_angstrom"] + e["registration_error_angstrom"][0])
        ax = axes[r, 0]
        step = x[1] - x[0]
        ax.imshow(e["adf"], cmap="gray", aspect="auto",
                  extent=(x[0] + dx - step / 2, x[-1] + dx + step / 2, len(y) - 0.5, -0.5))
        for plane in sorted({cx for _, cx, _ in interface_columns()}):
            if x[0] + dx <= plane <= x[-1] + dx:  # the nominal planes where the fit puts them
                ax.axvline(plane, color="tab:cyan", lw=0.8, ls="--")
        ax.set(title=f"{kind}: noisy ADF, fitted planes", xlabel="x from the TiO2 plane [A]", ylabel="raw line")
        ax.title.set_fontsize(7)
        for c in range(1, cols):
            p = (c - 1) * (recipe.scan.positions - 1) // max(cols - 2, 1)
            axes[r, c].imshow(np.sqrt(e["cbed"][p]), cmap="magma")
            axes[r, c].set_title(f"registered x = {p * recipe.scan.step(A):.2f} A", fontsize=7)
            axes[r, c].set_axis_off()
    figure.suptitle(f"stem_cbed_interface/{name}: registered scans (line 0)", fontsize=9)
    figure.tight_layout()
    path = Path(out_dir) / f"stem_cbed_interface_{name}_registration.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return [*lines, "", f"![registration]({path.name})", ""]
