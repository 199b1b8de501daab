"""Oracle fine-tune of atom_fcn: the shipped weights, trained further on stem_atom_columns/small train + new MoS2 draws.

The question: are the columns of the three failing MoS2 ABF images (defocus +29, +42, +47 A) findable at all by this
network when MoS2 is in its training data? The oracle sees new MoS2 structures/scans (simulate_mos2.py, another
seed), never the test images.

Training is that of ``stem-zoo train atom_fcn`` (stem_zoo.tasks.atoms.model.training_setup / train_inputs): random
96 x 96 crops, one of 8 rot90/flips, per-crop standardization, class-weighted CE + soft Dice, Adam; batches of 16.
The mix: each training example is drawn from the MoS2 images with probability ``--mos2-fraction`` (else from the
dataset's train split). The learning rate decays from ``--lr`` to ``--lr``/10 (cosine) over the run: a fine-tune of
converged weights (the shipped run ended after 30 epochs with Adam 1e-3 halved on plateau).

Printed: per image of test_unseen_lattice, F1 of the shipped model and of the oracle (and LoG with
``--log-baseline``); split F1 over all records; F1 on the first ``--test-images`` of ``test``; F1 of the oracle on
its own MoS2 training images (can it even fit them?).

Usage (tiny check):
    python bench/atom_fcn_oracle/train_oracle.py --mos2 oracle_out/mos2_tiny.npz \
        --epochs 1 --steps 3 --unseen-images 3 --test-images 3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from simulate_mos2 import load_examples, load_meta  # noqa: E402

HARD_DEFOCUS = 25.0  # A: the failing images are ABF at defocus +29..+47


def mixed_pipeline(builder, entry, mos2: list[dict], fraction: float, batch: int, seed: int):
    import tensorflow as tf

    from stem_zoo import data
    from stem_zoo.tasks.atoms import model as atom_fcn

    keep = lambda e: {"image": e["image"], "mask": e["mask"]}  # noqa: E731
    train = data.examples(builder, "train", entry).map(keep).cache()
    n_train = int(train.reduce(0, lambda n, _: n + 1))
    train = train.shuffle(1024, seed=seed, reshuffle_each_iteration=True).repeat()
    sources, weights = [train], [1.0 - fraction]
    if mos2 and fraction > 0:
        tensors = {"image": np.stack([e["image"] for e in mos2]).astype(np.float32),
                   "mask": np.stack([e["mask"] for e in mos2]).astype(np.uint8)}
        extra = tf.data.Dataset.from_tensor_slices(tensors).shuffle(len(mos2), seed=seed + 1,
                                                                     reshuffle_each_iteration=True).repeat()
        sources.append(extra)
        weights.append(fraction)
    mix = sources[0] if len(sources) == 1 else tf.data.Dataset.sample_from_datasets(
        sources, weights=weights, seed=seed + 2, stop_on_empty_dataset=False)
    ds = atom_fcn.train_inputs(mix, entry, seed)  # same crop / rot90 / flip / standardization as stem-zoo train
    return ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE), n_train


def per_image(records_by_method: dict[str, list[dict]]) -> None:
    from stem_zoo.tasks.atoms.metrics import summarize

    names = list(records_by_method)
    first = records_by_method[names[0]]
    print(f"{'#':>2} {'det':5s} {'dose':>7s} {'df':>5s} {'sa':>4s} {'src':>4s} {'n':>4s}  "
          + "  ".join(f"{n:>22s}" for n in names) + "  hard")
    for i, rec in enumerate(first):
        f = rec["features"]
        hard = f["detector"] == "abf" and f["defocus_angstrom"] > HARD_DEFOCUS
        cells = []
        for n in names:
            s = summarize([records_by_method[n][i]["counts"]])
            cells.append(f"P {s['precision']:.2f} R {s['recall']:.2f} F1 {s['f1']:.3f}")
        print(f"{i:2d} {f['detector']:5s} {f['dose']:7.1e} {f['defocus_angstrom']:+5.0f} {f['semiangle_mrad']:4.1f} "
              f"{f['source_size_angstrom']:4.2f} {summarize([rec['counts']])['n_true']:4d}  " + "  ".join(cells)
              + ("  <--" if hard else ""))


def split_line(label: str, records_by_method: dict[str, list[dict]], select=None) -> None:
    from stem_zoo.tasks.atoms.metrics import summarize

    parts = []
    for n, recs in records_by_method.items():
        chosen = [r["counts"] for r in recs if select is None or select(r["features"])]
        if not chosen:
            continue
        s = summarize(chosen)
        parts.append(f"{n}: F1 {s['f1']:.4f} (P {s['precision']:.3f} R {s['recall']:.3f}, n={s['n']}, "
                     f"RMSE {s['rmse_pm']:.1f} pm)")
    print(f"{label:28s} " + " | ".join(parts), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mos2", nargs="*", default=["oracle_out/mos2_oracle.npz"], help=".npz from simulate_mos2.py")
    p.add_argument("--mos2-fraction", type=float, default=0.25)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--steps", type=int, default=3, help="steps per epoch")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-4, help="initial learning rate (cosine decay to lr/10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--base", default="atom_fcn", help="zoo id or .keras to start from")
    p.add_argument("--unseen-images", type=int, default=18, help="how many test_unseen_lattice images to score")
    p.add_argument("--test-images", type=int, default=64, help="how many `test` images to score")
    p.add_argument("--no-base-score", action="store_true", help="skip scoring the starting model")
    p.add_argument("--log-baseline", nargs=2, type=float, metavar=("WIDTH_A", "THRESHOLD"),
                   help="also score stem_zoo.tasks.atoms.locate.LoGBaseline (the card's: 1.0 0.05)")
    p.add_argument("--out", default="oracle_out/oracle.keras")
    a = p.parse_args()

    t0 = time.perf_counter()
    import keras

    from stem_zoo import data
    from stem_zoo.hub import load
    from stem_zoo.tasks.atoms.locate import LoGBaseline
    from stem_zoo.tasks.atoms.metrics import score_examples
    from stem_zoo.tasks.atoms.model import WeightedCrossEntropyDice
    from stem_zoo.registry import get_entry

    keras.utils.set_random_seed(a.seed)
    entry = get_entry("atom_fcn")
    builder = data.load_builder("stem_atom_columns", "small", None)
    feats = builder.info.features
    print(f"dataset {builder.info.full_name}", flush=True)
    unseen = list(data.examples(builder, "test_unseen_lattice", entry).take(a.unseen_images).as_numpy_iterator())
    test = list(data.examples(builder, "test", entry).take(a.test_images).as_numpy_iterator())
    mos2 = [e for path in a.mos2 for e in load_examples(path)]
    for path in a.mos2:
        m = load_meta(path)
        print(f"{path}: seed {m['seed']}, {m['units']} units x {m['shots']} shots, split label {m['split_label']!r}")
    # the oracle images must not be the test images (different draws; checked here on the pixels too)
    test_hashes = {e["image"].tobytes() for e in unseen}
    assert not any(e["image"].tobytes() in test_hashes for e in mos2), "an oracle image equals a test image"
    abf_df = sorted(float(e["defocus_angstrom"]) for e in mos2 if int(e["detector"]) == 1)
    print(f"MoS2 oracle images: {len(mos2)} ({len(abf_df)} ABF; ABF defocus > +{HARD_DEFOCUS:.0f} A: "
          f"{sum(d > HARD_DEFOCUS for d in abf_df)}: {', '.join(f'{d:+.0f}' for d in abf_df if d > HARD_DEFOCUS)})")
    print(f"setup {time.perf_counter() - t0:.1f} s", flush=True)

    base_unseen = base_test = None
    logs = None
    if not a.no_base_score:
        t = time.perf_counter()
        base = load(a.base, task="atoms")
        base_unseen = score_examples(base, unseen, entry, features=feats)
        base_test = score_examples(base, test, entry, features=feats)
        print(f"scored the starting model in {time.perf_counter() - t:.1f} s", flush=True)
        del base
    if a.log_baseline:
        logs = score_examples(LoGBaseline(column_width_A=a.log_baseline[0], threshold=a.log_baseline[1]), unseen,
                              entry, features=feats)

    model = load(a.base, task="atoms")  # a fresh copy to train
    total = max(1, a.epochs * a.steps)
    schedule = keras.optimizers.schedules.CosineDecay(a.lr, total, alpha=0.1)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=WeightedCrossEntropyDice(),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="pixel_accuracy")])
    ds, n_train = mixed_pipeline(builder, entry, mos2, a.mos2_fraction, a.batch, a.seed)
    print(f"training: {n_train} train-split images + {len(mos2)} MoS2 (fraction {a.mos2_fraction}), "
          f"{a.epochs} x {a.steps} steps x {a.batch}, lr {a.lr} cosine", flush=True)
    t = time.perf_counter()
    model.fit(ds, epochs=a.epochs, steps_per_epoch=a.steps, verbose=2)
    train_s = time.perf_counter() - t
    print(f"trained {total} steps in {train_s:.1f} s ({train_s / total:.2f} s/step incl. tf.function tracing)",
          flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    model.save(a.out)
    print(f"saved {a.out}")

    t = time.perf_counter()
    oracle = load(a.out, task="atoms")  # as any user would load it (checks that the file round-trips)
    oracle_unseen = score_examples(oracle, unseen, entry, features=feats)
    oracle_test = score_examples(oracle, test, entry, features=feats)
    oracle_own = score_examples(oracle, mos2, entry, features=feats) if mos2 else []
    score_s = time.perf_counter() - t

    methods = {}
    if base_unseen is not None:
        methods["base"] = base_unseen
    methods["oracle"] = oracle_unseen
    if logs is not None:
        methods["LoG"] = logs
    print(f"\n== test_unseen_lattice, per image ({len(unseen)} images) ==")
    per_image(methods)
    hard = lambda f: f["detector"] == "abf" and f["defocus_angstrom"] > HARD_DEFOCUS  # noqa: E731
    print()
    split_line("test_unseen_lattice (all)", methods)
    split_line("  ABF defocus > +25 A", methods, hard)
    split_line("  the rest", methods, lambda f: not hard(f))
    tests = {"oracle": oracle_test} if base_test is None else {"base": base_test, "oracle": oracle_test}
    split_line(f"test (first {len(test)})", tests)
    if oracle_own:
        split_line("oracle's own MoS2 train", {"oracle": oracle_own})
        split_line("  its ABF defocus > +25 A", {"oracle": oracle_own}, hard)
    print(f"\nscoring the oracle: {score_s:.1f} s; total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
