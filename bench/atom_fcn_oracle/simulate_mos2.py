"""Oracle training data: new MoS2 [001] draws (HAADF + ABF), made exactly as stem_atom_columns makes its examples.

The dataset's recipe puts MoS2 only in ``test_unseen_lattice`` (``AtomColumnsRecipe.units``: UNSEEN_ZONES for that
split, every other zone for the others). Here the recipe's own ``generate_unit`` is called for the unit
("MoS2 [001]", i) under the split label "train" and a recipe whose seed is not the dataset's (2026): every draw
(structure: vacancies, phonon and defect seeds; shots: rotation, origin, drift, jitter, defocus, semiangle, source
size, doses; Poisson noise) comes from sha256(seed, split, zone, index, ...), so none coincides with a test draw.
The script checks that explicitly against the three test structures and their shots.

Everything else (128 x 128 px, 0.2 A/px, field >= 26 A, LAYER optics at 80 kV, label radius, dose range
1e5-1e8, defocus +-50 A, ...) is the ``small`` recipe's. ``--shots`` > 3 adds scans of the same structure (the first
three are those of a 3-shot unit); a PRISM run is one per structure and each extra shot is a cheap reduction.

Output: an .npz (no pickle) holding stacked per-example fields; :func:`load_examples` turns it back into dicts shaped
like ``builder.as_dataset(...).as_numpy_iterator()`` gives them (``detector`` as the ClassLabel index, text as bytes).

Usage:
    python bench/atom_fcn_oracle/simulate_mos2.py --units 2 --out oracle_out/mos2_tiny.npz
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

TEXT = ("lattice", "family", "structure", "key")
SCALARS = ("pixel_size", "dose", "thickness_nm", "defocus_angstrom", "semiangle_mrad", "source_size_angstrom",
           "scan_rotation_deg", "jitter_angstrom", "energy_kev")
ZONE = "MoS2 [001]"


def check_disjoint(recipe, split: str, units: list, test_recipe) -> None:
    """Fail if any drawn structure or shot of ours equals one of the dataset's test_unseen_lattice draws."""
    from stem_datasets.builders.stem_atom_columns.recipe import draw_shot, draw_structure

    test_units = test_recipe.units("test_unseen_lattice")
    test_structs = {draw_structure(test_recipe, "test_unseen_lattice", u) for u in test_units}
    test_shots = {draw_shot(test_recipe, "test_unseen_lattice", u, k) for u in test_units for k in range(test_recipe.shots)}
    seeds = {(s.phonon_seed, s.defect_seed) for s in test_structs}
    defoci = {round(s.defocus, 6) for s in test_shots}
    for u in units:
        d = draw_structure(recipe, split, u)
        assert d not in test_structs and (d.phonon_seed, d.defect_seed) not in seeds, f"structure {u} equals a test draw"
        for k in range(recipe.shots):
            s = draw_shot(recipe, split, u, k)
            assert s not in test_shots and round(s.defocus, 6) not in defoci, f"shot {u},{k} equals a test draw"


def simulate(units: int, seed: int, shots: int, first_index: int = 0, split: str = "train", recipe_name: str = "small",
             verbose: bool = True) -> tuple[list[dict], list[float]]:
    from stem_datasets.builders.stem_atom_columns.recipe import generate_unit, get_recipe
    from stem_datasets.simulation.cache import SimulationCache

    base = get_recipe(recipe_name)
    if seed == base.seed and split == "test_unseen_lattice":
        raise SystemExit("that is the dataset's own test draw; pick another --seed or split")
    recipe = dataclasses.replace(base, seed=seed, shots=shots)
    todo = [(ZONE, i) for i in range(first_index, first_index + units)]
    check_disjoint(recipe, split, todo, get_recipe("small"))
    cache = SimulationCache()  # ~/.cache/stem_zoo/multislice (or $STEM_ZOO_CACHE), as the dataset builder uses
    examples, seconds = [], []
    for unit in todo:
        start = time.perf_counter()
        hits = cache.hits
        for key, ex in generate_unit(recipe, split, unit, cache):
            examples.append({**ex, "key": f"oracle-seed{seed}/{key}"})
        seconds.append(time.perf_counter() - start)
        if verbose:
            cached = " (cache hit)" if cache.hits > hits else ""
            print(f"unit {unit[1]}: {recipe.shots} shots x 2 detectors in {seconds[-1]:.1f} s{cached}", flush=True)
    return examples, seconds


def save(path: str, examples: list[dict], meta: dict) -> None:
    from stem_datasets.builders.stem_atom_columns.recipe import DETECTORS

    xy = [np.asarray(e["columns_xy"], np.float32).reshape(-1, 2) for e in examples]
    arrays = {
        "image": np.stack([e["image"] for e in examples]).astype(np.float32),
        "mask": np.stack([e["mask"] for e in examples]).astype(np.uint8),
        "columns_xy": np.concatenate(xy).astype(np.float32),
        "columns_class": np.concatenate([np.asarray(e["columns_class"], np.int32) for e in examples]),
        "columns_offsets": np.cumsum([0] + [len(c) for c in xy]).astype(np.int64),
        "detector": np.array([DETECTORS.index(e["detector"]) for e in examples], np.int64),
        "drift_angstrom": np.stack([e["drift_angstrom"] for e in examples]).astype(np.float32),
        "meta_json": np.array(json.dumps(meta)),
    }
    arrays.update({k: np.array([e[k] for e in examples], np.float32) for k in SCALARS})
    arrays.update({k: np.array([str(e[k]) for e in examples]) for k in TEXT})  # fixed-width unicode, no pickle
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def load_examples(path: str) -> list[dict]:
    """Examples as the dataset's numpy iterator gives them (image (H, W, 1), mask (H, W), detector index, ...)."""
    with np.load(path, allow_pickle=False) as z:
        off = z["columns_offsets"]
        out = []
        for i in range(len(z["image"])):
            e = {"image": z["image"][i], "mask": z["mask"][i],
                 "columns_xy": z["columns_xy"][off[i]:off[i + 1]], "columns_class": z["columns_class"][off[i]:off[i + 1]],
                 "detector": z["detector"][i], "drift_angstrom": z["drift_angstrom"][i]}
            e.update({k: z[k][i] for k in SCALARS})
            e.update({k: str(z[k][i]).encode() for k in TEXT})
            out.append(e)
        return out


def load_meta(path: str) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return json.loads(str(z["meta_json"]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--units", type=int, default=2, help="MoS2 structures (each one PRISM run)")
    p.add_argument("--shots", type=int, default=3, help="scans per structure (the dataset's small recipe: 3)")
    p.add_argument("--seed", type=int, default=7171, help="recipe seed (the dataset's is 2026)")
    p.add_argument("--first-index", type=int, default=0)
    p.add_argument("--recipe", default="small", help="'small' (the dataset's shapes) or 'smoke' (64 px, only for timing)")
    p.add_argument("--out", default="oracle_out/mos2_oracle.npz")
    a = p.parse_args()
    start = time.perf_counter()
    examples, seconds = simulate(a.units, a.seed, a.shots, a.first_index, recipe_name=a.recipe)
    meta = {"zone": ZONE, "split_label": "train", "seed": a.seed, "shots": a.shots, "units": a.units,
            "first_index": a.first_index, "recipe": a.recipe, "unit_seconds": seconds}
    save(a.out, examples, meta)
    abf = [e for e in examples if e["detector"] == "abf"]
    df = sorted(float(e["defocus_angstrom"]) for e in abf)
    print(f"{len(examples)} examples ({len(abf)} ABF) -> {a.out} in {time.perf_counter() - start:.1f} s; "
          f"per unit {np.mean(seconds):.1f} s; ABF defoci {', '.join(f'{d:+.0f}' for d in df)}; "
          f"ABF with defocus > +25 A: {sum(d > 25 for d in df)}")
    back = load_examples(a.out)
    e = back[0]
    print("fields:", {k: (np.shape(v), np.asarray(v).dtype.str) for k, v in e.items()})


if __name__ == "__main__":
    main()
