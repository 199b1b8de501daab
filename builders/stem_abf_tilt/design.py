"""Which multislice runs a ``stem_abf_tilt`` config makes: the GP design, optics draws, test runs.

Every run is one tilt state, one composition and one set of imaging conditions, simulated
once with exit planes at every [1-10] layer of the config's thickness range; the radial
detector bins give every ABF collection range from the same pass. Plain NumPy, no TFDS.

Angles live on two lattices so that no test label can be a training label:
- training labels (GP examples, optics runs) sit on multiples of ``label_step_deg`` (0.25);
- test runs sit half a step off it (odd multiples of 0.125 deg), on no config's grid;
- the GP design points are space-filling (box corners + a scrambled Sobol sequence,
  rounded to 0.01 deg), which never hits an odd multiple of 0.125 either.

Example:
    >>> from stem_datasets.builders.stem_abf_tilt.recipe import get_recipe
    >>> runs = planned_runs(get_recipe("smoke"))
    >>> sorted({r.purpose for r in runs})
    ['design', 'imperfect', 'optics', 'test', 'unseen_material']
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np

from stem_datasets.simulation.cache import unit_interval
from stem_datasets.physics.glazer import canonical_angles, parse_pattern, same_crystal_angles
from stem_datasets.simulation.microscope import Microscope


@dataclass(frozen=True)
class Run:
    """One multislice run: ``purpose`` says which split(s) its images go to."""

    purpose: str  # design | optics | test | unseen_material | imperfect
    pattern: str
    angles: tuple[float, float, float]
    composition: str
    microscope: Microscope
    layers: tuple[int, ...]
    name: str


def canonical_box(pattern: str, limit: float) -> np.ndarray:
    """(3, 2) low/high per axis of the angles that represent every crystal once up to the shift.

    Untilted axes are [0, 0]; the first in-phase a/b axis (whose sign flip is the same
    crystal, see :func:`stem_datasets.physics.glazer.same_crystal_angles`) is [0, limit]; the others
    [-limit, limit]. Structures are simulated (and the GP designed) in this box; the mirror
    halves it again for labels, which :func:`stem_datasets.physics.glazer.canonical_angles` applies
    on top (a label's mirror twin is never simulated separately).
    """
    p = parse_pattern(pattern)
    box = np.array([[-limit, limit] if t else [0.0, 0.0] for t in p.tilted])
    flippable = [ax for ax in (0, 1) if p.tilted[ax] and not p.out_of_phase[ax]]
    if flippable:
        box[flippable[0], 0] = 0.0
    return box


def _rng(recipe, *salt) -> np.random.Generator:
    return np.random.default_rng([recipe.seed, int(unit_interval(recipe.name, *salt) * 2**32)])


def design_angles(recipe, pattern: str) -> np.ndarray:
    """GP design: every corner of the canonical box plus ``design_sobol`` Sobol points."""
    from scipy.stats import qmc

    box = canonical_box(pattern, recipe.tilt_limit_deg)
    axes = [ax for ax in range(3) if box[ax, 1] > box[ax, 0]]
    corners = np.array(list(itertools.product(*[box[ax] for ax in axes])))
    with warnings.catch_warnings():
        # A prefix of the sequence, so that raising design_sobol keeps every cached run; its balance
        # for n not a power of 2 is slightly worse, which the GP validation numbers include.
        warnings.filterwarnings("ignore", message="The balance properties of Sobol")
        sobol = qmc.Sobol(d=len(axes), scramble=True, seed=_rng(recipe, "design", pattern)).random(recipe.design_sobol)
    inner = box[axes, 0] + sobol * (box[axes, 1] - box[axes, 0])
    points = np.round(np.concatenate([corners, inner]), 2)
    out = np.zeros((len(points), 3))
    out[:, axes] = points
    return out + 0.0


def lattice_angles(recipe, pattern: str, n: int, salt: str, offset: bool, margin: float = 0.0) -> np.ndarray:
    """``n`` triples on the label lattice (``offset``: half a step off it), of distinct canonical labels.

    The triples are the structures' angles (:func:`~stem_datasets.physics.glazer.same_crystal_angles`);
    no two share a label (mirror twins included).
    """
    box = canonical_box(pattern, recipe.tilt_limit_deg - margin)
    step = recipe.label_step_deg
    rng = _rng(recipe, "lattice", pattern, salt)
    out: dict[tuple[float, ...], tuple[float, ...]] = {}  # label -> structure angles
    while len(out) < n:
        draw = rng.uniform(box[:, 0], box[:, 1])
        k = np.floor(draw / step) if offset else np.round(draw / step)
        value = (k + 0.5) * step if offset else k * step
        value = np.where(box[:, 1] > box[:, 0], np.clip(value, box[:, 0], box[:, 1]), 0.0)
        triple = same_crystal_angles(np.round(value, 6), pattern)
        out.setdefault(canonical_angles(triple, pattern), triple)
    return np.array(list(out.values()), dtype=float).reshape(n, 3)


def label_split(recipe, pattern: str, angles) -> str:
    """train / validation / test of a lattice label, fixed by a hash of its canonical form."""
    u = unit_interval(recipe.seed, pattern, *canonical_angles(angles, pattern))
    if u < recipe.validation_fraction:
        return "validation"
    return "test" if u < recipe.validation_fraction + recipe.test_fraction else "train"


def draw_optics(recipe, rng: np.random.Generator, beyond: bool = False) -> Microscope:
    """Defocus, two-fold astigmatism, beam mistilt and convergence angle drawn from the
    config's training ranges, or (``beyond``) from bands just outside them."""
    r = recipe.optics
    sign = lambda: rng.choice([-1.0, 1.0])  # noqa: E731
    if beyond:
        defocus = sign() * rng.uniform(*r.imperfect_defocus_A)
        c12 = rng.uniform(*r.imperfect_astigmatism_A)
        tilt = rng.uniform(*r.imperfect_mistilt_mrad)
    else:
        defocus = rng.uniform(-r.defocus_A, r.defocus_A)
        c12 = rng.uniform(0.0, r.astigmatism_A)
        tilt = rng.uniform(0.0, r.mistilt_mrad)
    direction = rng.uniform(0, 2 * np.pi)
    return recipe.microscope.replace(
        defocus=float(round(defocus, 1)),
        C12=float(round(c12, 1)),
        phi12=float(round(rng.uniform(0, np.pi), 3)),
        mistilt=(float(round(tilt * np.cos(direction), 2)), float(round(tilt * np.sin(direction), 2))),
        semiangle=float(round(rng.uniform(*r.semiangle_mrad), 1)),
    )


def planned_runs(recipe) -> list[Run]:
    """Every multislice run of a config, GP design first (that is the order to simulate in)."""
    runs: list[Run] = []
    train_layers = tuple(recipe.train_layers())
    all_layers = tuple(sorted({*train_layers, *recipe.held_out_layers, *recipe.beyond_layers}))
    for pattern in recipe.patterns:
        for n, g in enumerate(design_angles(recipe, pattern)):
            runs.append(Run("design", pattern, tuple(g), recipe.composition, recipe.microscope, train_layers, f"design{n}"))
    for pattern in recipe.patterns:
        rng = _rng(recipe, "optics", pattern)
        candidates = lattice_angles(recipe, pattern, 8 * recipe.n_optics_runs, "optics", offset=False)
        chosen = [g for g in candidates if label_split(recipe, pattern, g) == "train"][: recipe.n_optics_runs]
        for n, g in enumerate(chosen):
            runs.append(Run("optics", pattern, tuple(g), recipe.composition, draw_optics(recipe, rng), train_layers, f"optics{n}"))
        for n, g in enumerate(lattice_angles(recipe, pattern, recipe.n_test_runs, "test", offset=True, margin=0.5)):
            runs.append(Run("test", pattern, tuple(g), recipe.composition, recipe.microscope, all_layers, f"ms{n}"))
        for n, g in enumerate(lattice_angles(recipe, pattern, recipe.n_unseen_material_runs, "material", offset=True, margin=0.5)):
            runs.append(Run("unseen_material", pattern, tuple(g), recipe.unseen_composition, recipe.microscope,
                            train_layers, f"{recipe.unseen_composition}{n}"))
        rng = _rng(recipe, "imperfect", pattern)
        for n, g in enumerate(lattice_angles(recipe, pattern, recipe.n_imperfect_runs, "imperfect", offset=True, margin=0.5)):
            runs.append(Run("imperfect", pattern, tuple(g), recipe.composition, draw_optics(recipe, rng, beyond=True),
                            train_layers, f"imperfect{n}"))
    return runs
