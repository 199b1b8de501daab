"""atom_fcn's hold-out set: five structures from families absent from every training draw, built by ASE alone.

The structures come from ASE's own constructors (``ase.build.bulk``, ``surface``, ``fcc110``,
``graphene``) with measured lattice constants, not from :mod:`stem_datasets.physics.lattices`,
so a mistake in the dataset's structure code cannot hide in both. They are imaged as the
dataset images its fields (:func:`stem_datasets.builders.stem_atom_columns.recipe.simulate_field`:
PRISM, one frozen-phonon configuration, a rotated and drifting raster with line jitter,
source-size blur, labels where that configuration has its columns), at fixed optics and
doses outside the dataset's draws, each noise-free and at a low and a moderate dose.

| structure | family | why it is a test |
| --- | --- | --- |
| Au [110] | fcc metal | one heavy element (Z 79) in a centred rectangle; 2.0 A spacing |
| GaAs [110] | zinc blende | dumbbells 1.41 A apart of two near-equal Z (31, 33) |
| CeO2 [110] | fluorite | heavy Ce with O columns 1.35 A away: a close heavy-light pair |
| GaN [11-20] | wurtzite | Ga-N dumbbells 1.10 A apart (intermediate and light) |
| hBN [001] | hexagonal monolayer | B and N single atoms (Z 5 and 7) at 80 kV |

Example (the structures only; imaging them takes minutes):
    >>> atoms = holdout_structure("GaN [11-20]", 14.0)
    >>> atoms.info["family"], sorted(set(atoms.get_chemical_symbols())), bool(min(atoms.cell.lengths()[:2]) >= 14)
    ('wurtzite', ['Ga', 'N'], True)
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from ase import Atoms
from ase.build import bulk, fcc110, graphene, make_supercell, surface

# Lattice constants at room temperature [A]: Au (Maeland & Flanagan, Can. J. Phys. 42, 2364 (1964)); GaAs
# (Pietsch et al., in Landolt-Boernstein III/41A1); CeO2 (Yashima et al., J. Phys. Chem. B 109, 19089 (2005));
# GaN a, c, u (Schulz & Thiemann, Solid State Commun. 23, 815 (1977)); hBN (Paszkowicz et al., Appl. Phys. A 75,
# 431 (2002)).
THICKNESS_A = 40.0  # along the beam, bulk structures
DOSES = {"bulk": (None, 1e5, 2e3), "2d": (None, 1e7, 1e5)}  # e/A^2; None: noise-free


def _bulk(atoms: Atoms, family: str, zone: str) -> Atoms:
    atoms.pbc = True
    atoms.info.update(family=family, zone=zone)
    return atoms


def _au(layers: int) -> Atoms:
    return _bulk(fcc110("Au", size=(1, 1, layers), a=4.078, orthogonal=True, periodic=True), "fcc", "Au [110]")


def _gaas(layers: int) -> Atoms:
    return _bulk(surface(bulk("GaAs", "zincblende", a=5.653, cubic=True), (1, 1, 0), layers, periodic=True),
                 "zinc blende", "GaAs [110]")


def _ceo2(layers: int) -> Atoms:
    return _bulk(surface(bulk("CeO2", "fluorite", a=5.411, cubic=True), (1, 1, 0), layers, periodic=True),
                 "fluorite", "CeO2 [110]")


def _gan(layers: int) -> Atoms:
    return _bulk(surface(bulk("GaN", "wurtzite", a=3.189, c=5.185, u=0.377), (1, 1, 0), layers, periodic=True),
                 "wurtzite", "GaN [11-20]")


def _hbn(_: int) -> Atoms:
    layer = graphene(formula="BN", a=2.504, size=(1, 1, 1), vacuum=2.0)
    atoms = make_supercell(layer, [[1, 0, 0], [1, 2, 0], [0, 0, 1]])  # the orthogonal a x sqrt(3) a cell
    atoms.set_cell(atoms.cell.cellpar(), scale_atoms=True)
    atoms.wrap()
    return _bulk(atoms, "2d", "hBN [001]")


BUILDERS = {"Au [110]": _au, "GaAs [110]": _gaas, "CeO2 [110]": _ceo2, "GaN [11-20]": _gan, "hBN [001]": _hbn}


def holdout_structure(name: str, field_min: float = 26.0) -> Atoms:
    """One hold-out structure, repeated in-plane to at least ``field_min`` A and ~4 nm along the beam (bulk)."""
    if name not in BUILDERS:
        raise ValueError(f"Unknown hold-out structure {name!r}; known: {', '.join(BUILDERS)}.")
    unit = BUILDERS[name](1)
    depth = unit.cell.lengths()[2]
    atoms = BUILDERS[name](1 if name == "hBN [001]" else max(1, int(round(THICKNESS_A / depth))))
    info = dict(atoms.info)
    repeats = [int(np.ceil(field_min / length)) for length in atoms.cell.lengths()[:2]]
    atoms = atoms.repeat((*repeats, 1))
    atoms.info.update(info)
    return atoms


def holdout_examples(shape: tuple[int, int] = (128, 128), names=None, cache=None) -> list[dict]:
    """Every hold-out image: each structure x detector x dose, as dataset-like examples.

    Each example: ``image`` (H, W), ``columns_xy``, ``columns_class``, ``mask``, ``pixel_size``,
    ``detector``, ``dose`` (0 for noise-free), ``lattice``, ``family``.
    """
    from stem_datasets.builders.stem_atom_columns.recipe import BULK, HOLDOUT_SHOT, LAYER, simulate_field

    field_min = max(shape) * 0.2 + 2.0
    out = []
    for name in names or BUILDERS:
        atoms = holdout_structure(name, field_min)
        two_d = atoms.info["family"] == "2d"
        optics, shot = (LAYER, replace(HOLDOUT_SHOT, semiangle=27.0)) if two_d else (BULK, HOLDOUT_SHOT)
        for dose in DOSES["2d" if two_d else "bulk"]:
            fields = simulate_field(atoms, replace(shot, dose_haadf=dose or 1.0, dose_abf=dose or 1.0), optics, shape,
                                    seed=int(dose or 0), phonon_seed=21, cache=cache, noise=dose is not None)
            for detector, example in fields.items():
                out.append({**example, "detector": detector, "dose": float(dose or 0.0), "lattice": name,
                            "family": atoms.info["family"]})
    return out


def score(methods: dict, examples: list[dict]) -> tuple[list[dict], str]:
    """Per-image rows of every method (the first one classifying), and a markdown table with issue 26's goals
    checked: F1 >= 0.95 wherever the second method (LoG) reaches 0.95 noise-free, RMSE on the common columns
    <= the second's, class accuracy >= 0.90."""
    import numpy as np

    from stem_zoo.tasks.atoms.limits import position_crb
    from stem_zoo.tasks.atoms.metrics import common_rmse, inside, score_examples, summarize

    records = {name: score_examples(method, examples) for name, method in methods.items()}
    names = list(methods)
    rows = []
    for i, example in enumerate(examples):
        row = {k: example[k] for k in ("lattice", "family", "detector", "dose")}
        clean = next((e for e in examples if not e["dose"] and e["lattice"] == example["lattice"]
                      and e["detector"] == example["detector"]), None)
        if example["dose"] and clean is not None:  # the bound at this dose, on the same image without noise
            shown = clean["columns_xy"][clean["columns_class"] > 0]  # the columns this detector shows
            crb = position_crb(clean["image"], shown, example["dose"], clean["pixel_size"])
            crb = crb[inside(shown, clean["image"].shape)]
            row["crb_pm"] = round(float(np.sqrt(np.mean(crb**2))), 2)
        per = [records[n][i] for n in names]
        for name, record in zip(names, per):
            m = summarize([record["counts"]])
            row[name] = {"f1": m["f1"], "rmse_pm": m["rmse_pm"], "class_accuracy": m.get("class_accuracy"),
                         "seconds": round(record["seconds"], 3)}
        common = [common_rmse([per[0]], [p]) for p in per[1:]]
        row["common"] = {names[0]: common[0][0], **{n: c[1] for n, c in zip(names[1:], common)},
                         "n": min(c[2] for c in common)} if common else {}
        rows.append(row)
    lines = ["| structure | detector | dose [e/A^2] | " + " | ".join(f"{n} F1 / RMSE [pm]" for n in names)
             + " | RMSE on common columns (" + " / ".join(names) + ") | Cramer-Rao bound [pm] | atom_fcn class acc. "
             "| s / image |",
             "| --- | --- | --- | " + " | ".join("---" for _ in names) + " | --- | --- | --- | --- |"]
    fmt = lambda v, d=3: "-" if v is None or v != v else f"{v:.{d}f}"  # noqa: E731
    for r in rows:
        lines.append(f"| {r['lattice']} | {r['detector']} | {_dose(r['dose'])} | "
                     + " | ".join(f"{fmt(r[n]['f1'])} / {fmt(r[n]['rmse_pm'], 1)}" for n in names)
                     + f" | {' / '.join(fmt(r['common'].get(n), 1) for n in names)} ({r['common'].get('n', 0)})"
                     + f" | {fmt(r.get('crb_pm'), 1)}"
                     + f" | {fmt(r[names[0]]['class_accuracy'])} | "
                     + " / ".join(fmt(r[n]['seconds'], 2) for n in names) + " |")
    lines += ["", *goals(rows, names)]
    return rows, "\n".join(lines) + "\n"


def _dose(dose: float) -> str:
    return "noise-free" if not dose else f"{dose:.0e}"


def goals(rows: list[dict], names: list[str]) -> list[str]:
    """Issue 26's hold-out goals, each with the rows that miss it."""
    fcn, log = names[0], names[1]
    clean = {(r["lattice"], r["detector"]): r for r in rows if not r["dose"]}
    easy = {k for k, r in clean.items() if r[log]["f1"] >= 0.95}
    f1_miss = [r for r in rows if (r["lattice"], r["detector"]) in easy and r[fcn]["f1"] < 0.95]
    rmse_miss = [r for r in rows if r["common"].get("n") and r["common"][fcn] > r["common"][log]]
    accuracy = [r[fcn]["class_accuracy"] for r in rows if r[fcn]["class_accuracy"] == r[fcn]["class_accuracy"]
                and r[fcn]["class_accuracy"] is not None]  # images where atom_fcn matched columns
    name = lambda r: f"{r['lattice']} {r['detector']} {_dose(r['dose'])}"  # noqa: E731
    return ["## Goals", "",
            f"- F1 >= 0.95 wherever LoG reaches 0.95 noise-free ({len(easy)} structure-detector pairs): "
            f"{'met' if not f1_miss else 'missed on ' + ', '.join(name(r) for r in f1_miss)}",
            f"- RMSE on the common columns <= LoG's: {'met' if not rmse_miss else 'missed on ' + ', '.join(name(r) for r in rmse_miss)}",
            f"- class accuracy >= 0.90: mean {sum(accuracy) / max(len(accuracy), 1):.3f} over {len(accuracy)} images, "
            f"lowest {min(accuracy, default=float('nan')):.3f}"]
