"""Command line: ``stem-zoo list | train | benchmark | publish | report``, and each task's own subcommands
(``map``, ``atoms``, ``polarization``: :data:`COMMANDS` of the task folders, see :mod:`stem_zoo.task`).

Example:
    $ stem-zoo map micrograph.dm4 --model tilt_dcnn --out maps/
"""

from __future__ import annotations

import argparse
import json
import sys

from stem_datasets.cli import import_tensorflow, quiet_tensorflow
from stem_zoo.task import add_commands
from stem_zoo.train import add_arguments as add_train_arguments


def micrograph_command(subparsers, name: str, help: str, run, model: str, out: str,
                       model_help: str | None = None) -> argparse.ArgumentParser:
    """A task's subcommand that reads one micrograph file: FILE, --model, --pixel-size, --dataset and --out, then
    ``run(args)`` (which reads the file before TensorFlow starts: :func:`read_command_file`). The task adds the rest."""
    parser = subparsers.add_parser(name, help=f"{help} (tif, dm3/dm4, emd, h5, npy)")
    parser.add_argument("file")
    parser.add_argument("--model", default=model, help=model_help)
    parser.add_argument("--pixel-size", type=float, default=None, help="angstrom per pixel (overrides the file)")
    parser.add_argument("--dataset", default=None, help="HDF5 dataset path")
    parser.add_argument("--out", default=out)
    parser.set_defaults(run=run, reads_file_first=True)
    return parser


def read_command_file(args):
    """(image, pixel size [A], output folder, the file's stem) of a :func:`micrograph_command`."""
    from pathlib import Path

    from stem_zoo.micrograph import read_micrograph

    image, pixel_size = read_micrograph(args.file, args.pixel_size, args.dataset)
    return image, pixel_size, Path(args.out), Path(args.file).stem


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stem-zoo", description="stem_zoo models: train, benchmark, publish, map.")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's C++ and Python log lines")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the zoo's models")

    train = sub.add_parser("train", help="train a zoo model with MirroredStrategy (its own hyper-parameters unless "
                                         "flags change them)")
    add_train_arguments(train)

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

    from stem_zoo.registry import MODELS

    add_commands(sub, MODELS.values())  # each task's own subcommands (stem_zoo.task): map, atoms, polarization, ...
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    quiet_tensorflow(args.verbose)
    try:
        if args.command != "list" and not getattr(args, "reads_file_first", False):  # those import it once the file is read
            import_tensorflow(args.verbose)
        return args.run(args) if hasattr(args, "run") else _run(args)
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
        from stem_zoo.registry import get_entry
        from stem_zoo.train import settings_of_args, train

        settings = settings_of_args(args, get_entry(args.model))
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
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
