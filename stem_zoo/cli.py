"""Command line: ``stem-zoo list | train | benchmark | publish | map | atoms | polarization``.

Example:
    $ stem-zoo map micrograph.dm4 --model tilt_dcnn --out maps/
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stem_datasets.cli import import_tensorflow, quiet_tensorflow


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stem-zoo", description="stem_zoo models: train, benchmark, publish, map.")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's C++ and Python log lines")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the zoo's models")

    train = sub.add_parser("train", help="train a zoo model with MirroredStrategy")
    train.add_argument("model")
    train.add_argument("--config", default=None, help="dataset config (default: the entry's)")
    train.add_argument("--epochs", type=int, default=12)
    train.add_argument("--batch-size", type=int, default=32, help="global batch, split across replicas")
    train.add_argument("--steps-per-epoch", type=int, default=None)
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--decay-every", type=int, default=2, help="halve the learning rate every this many epochs")
    train.add_argument("--seed", type=int, default=0, help="seed of the weights, shuffling and augmentation")
    train.add_argument("--ensemble", type=int, default=1,
                       help="train this many members (seeds --seed, --seed + 1, ...) and save their average")
    train.add_argument("--out", required=True, help="run folder (resumes if it holds a backup)")
    train.add_argument("--data-dir", default=None)
    train.add_argument("--workers", action="store_true",
                       help="one of several machines (MultiWorkerMirroredStrategy): the cluster and this machine's "
                            "task from TF_CONFIG; run the same command on each; only the chief writes --out")

    bench = sub.add_parser("benchmark", help="score a model on every split of a dataset config")
    bench.add_argument("model", help="zoo id, model folder or hf://owner/name[@revision]")
    bench.add_argument("--config", default="small")
    bench.add_argument("--out", default="benchmark")
    bench.add_argument("--data-dir", default=None)
    bench.add_argument("--by", default=None, help="also score per value of this dataset feature, e.g. thickness_nm")

    publish = sub.add_parser("publish", help="stage a model folder for the Hub and upload it")
    publish.add_argument("model", help="zoo id or model folder")
    publish.add_argument("repo_id")
    publish.add_argument("--out", default=None, help="staging folder")
    publish.add_argument("--upload", action="store_true",
                         help="upload and tag the entry's hub_revision; without it only stage (a dry run)")

    report = sub.add_parser("report", help="main job: each zoo model's report (its module's hook, else its benchmark)")
    report.add_argument("--config", default="smoke")
    report.add_argument("--model", action="append", default=None, help="zoo id, repeatable (default: every zoo model)")
    report.add_argument("--out", default="report")
    report.add_argument("--data-dir", default=None)

    tilt_map = sub.add_parser("map", help="tilt maps of a micrograph (tif, dm3/dm4, emd, h5, npy)")
    tilt_map.add_argument("file")
    tilt_map.add_argument("--model", default="tilt_dcnn")
    tilt_map.add_argument("--pixel-size", type=float, default=None, help="angstrom per pixel (overrides the file)")
    tilt_map.add_argument("--dataset", default=None, help="HDF5 dataset path")
    tilt_map.add_argument("--pattern", default=None,
                          help="the crystal's Glazer pattern (e.g. a-b-c-): every column's label in the frame of the "
                               "(0, 0) column, one label per domain (default: each column's own)")
    tilt_map.add_argument("--out", default="maps")

    atoms = sub.add_parser("atoms", help="atomic columns of a micrograph: positions and classes "
                                         "(tif, dm3/dm4, emd, h5, npy)")
    atoms.add_argument("file")
    atoms.add_argument("--model", default="atom_fcn", help="zoo id, model folder, hf://owner/name, or 'log' for the "
                       "classical LoG baseline (positions only)")
    atoms.add_argument("--pixel-size", type=float, default=None, help="angstrom per pixel (overrides the file)")
    atoms.add_argument("--dataset", default=None, help="HDF5 dataset path")
    atoms.add_argument("--out", default="atoms")
    atoms.add_argument("--threshold", type=float, default=0.5, help="minimum column probability of a column's pixels")
    atoms.add_argument("--detector", choices=("auto", "haadf", "abf"), default="auto", help="for --model log only")
    atoms.add_argument("--column-width", type=float, default=0.8, help="for --model log only: column FWHM in angstrom")

    polar = sub.add_parser("polarization", help="per-cell polarization vectors of a BiFeO3 HAADF micrograph "
                                                "(tif, dm3/dm4, emd, h5, npy)")
    polar.add_argument("file")
    polar.add_argument("--model", default="polarization_dcnn", help="zoo id, model folder, hf://owner/name or a "
                       "training run's .keras file")
    polar.add_argument("--pixel-size", type=float, default=None, help="angstrom per pixel (overrides the file)")
    polar.add_argument("--sampling", choices=("centred", "grid"), default=None,
                       help="windows on the Fe columns found by atom finding, or on a regular grid without it "
                            "(default: those the model was trained on)")
    polar.add_argument("--atom-model", default="atom_fcn", help="atom finder for --sampling centred")
    polar.add_argument("--dataset", default=None, help="HDF5 dataset path")
    polar.add_argument("--out", default="polarization")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    quiet_tensorflow(args.verbose)
    try:
        if args.command not in ("list", "map", "atoms", "polarization"):  # those import it once the file is read
            import_tensorflow(args.verbose)
        return _run(args)
    except (ValueError, FileNotFoundError, NotImplementedError) as error:
        print(f"stem-zoo: error: {error}", file=sys.stderr)
        return 2


def _run(args) -> int:
    if args.command == "list":
        from stem_zoo.registry import MODELS

        for entry in MODELS.values():
            print(f"{entry.id}\t{entry.dataset}/{entry.dataset_config}\t{entry.hub_repo}@{entry.hub_revision}")
        return 0
    if args.command == "train":
        from stem_zoo.train import TrainSettings, train

        settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size, steps_per_epoch=args.steps_per_epoch,
                                 learning_rate=args.learning_rate, decay_every_epochs=args.decay_every,
                                 seed=args.seed, ensemble=args.ensemble)
        record = train(args.model, args.out, config=args.config, settings=settings, data_dir=args.data_dir,
                       multi_worker=args.workers)
        print(json.dumps(record, indent=1))
        return 0

    if args.command == "report":
        from stem_zoo.report import write_reports

        for path in write_reports(args.config, args.out, args.model, args.data_dir):
            print(f"report written to {path}")
        return 0

    from stem_zoo.hub import load

    if args.command == "benchmark":
        from stem_zoo.benchmarking import benchmark

        result = benchmark(load(args.model), config=args.config, data_dir=args.data_dir, out_dir=args.out, by=args.by)
        print(result["leaderboard"])
        return 0
    if args.command == "publish":
        from stem_zoo.hub import publish

        folder = publish(load(args.model), args.repo_id, dry_run=not args.upload, out_dir=args.out)
        print(f"published: {folder}" if args.upload else f"dry run, nothing uploaded: staged in {folder}; --upload "
              f"uploads it to https://huggingface.co/{args.repo_id}")
        return 0
    if args.command == "map":
        import numpy as np

        from stem_zoo.io import read_micrograph
        from stem_zoo.maps import map_figure, predict_map, save_columns_csv, save_maps_hdf5

        image, pixel_size = read_micrograph(args.file, args.pixel_size, args.dataset)
        import_tensorflow(args.verbose)
        maps = predict_map(image, load(args.model), pixel_size=pixel_size, pattern=args.pattern)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = Path(args.file).stem
        np.save(out / f"{stem}_tilt_maps.npy", maps.maps)
        save_maps_hdf5(maps, out / f"{stem}_tilt_maps.h5")
        save_columns_csv(maps, out / f"{stem}_tilt_columns.csv")
        map_figure(maps, out / f"{stem}_tilt_maps.png", title=f"{Path(args.file).name}: {args.model}")
        print(f"maps {maps.maps.shape} and {len(maps.columns)} B columns written to {out}")
        return 0
    if args.command == "atoms":
        return _atoms(args)
    if args.command == "polarization":
        return _polarization(args)
    raise AssertionError(args.command)


def _atoms(args) -> int:
    from stem_zoo.atoms import LoGBaseline, atoms_figure, locate_atoms, save_atoms_csv, save_atoms_hdf5
    from stem_zoo.io import read_micrograph

    image, pixel_size = read_micrograph(args.file, args.pixel_size, args.dataset)
    if args.model != "log":
        import_tensorflow(args.verbose)
    if args.model == "log":
        result = LoGBaseline(column_width_A=args.column_width, detector=args.detector).locate(image, pixel_size)
    else:
        result = locate_atoms(image, args.model, pixel_size=pixel_size, threshold=args.threshold)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.file).stem
    save_atoms_csv(result, out / f"{stem}_atoms.csv")
    save_atoms_hdf5(result, out / f"{stem}_atoms.h5")
    atoms_figure(result, out / f"{stem}_atoms.png",
                 title=f"{Path(args.file).name}: {result.method}, {len(result)} columns")
    counts = ", ".join(f"{n} {name}" for name, n in result.counts.items()) or "none"
    print(f"{len(result)} columns ({counts}) written to {out}/{stem}_atoms.csv, .h5, .png")
    return 0


def _polarization(args) -> int:
    from stem_zoo.io import read_micrograph
    from stem_zoo.polarization import predict_polarization

    image, pixel_size = read_micrograph(args.file, args.pixel_size, args.dataset)
    import_tensorflow(args.verbose)
    result = predict_polarization(image, args.model, pixel_size=pixel_size, atom_model=args.atom_model,
                                  sampling=args.sampling)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.file).stem
    result.save_hdf5(out / f"{stem}_polarization.h5")
    result.save_npy(out / f"{stem}_polarization.npy")
    result.figures(out, stem)
    dropped = ", ".join(f"{n} {why}" for why, n in result.dropped.items())
    print(f"{len(result)} cells ({result.sampling} windows; dropped: {dropped}); mean |P| "
          f"{result.magnitude_pm.mean():.1f} pm; written to {out}/{stem}_polarization.h5, .npy, "
          "_polarization_quiver.png, _polarization_angle.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
