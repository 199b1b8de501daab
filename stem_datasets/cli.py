"""Command line: ``stem-datasets build CONFIG [--dataset NAME ...]`` and ``stem-datasets report CONFIG [--dataset NAME ...]``.

Without ``--dataset``, every registered dataset that has the config (``stem_datasets.builders.DATASETS``,
including those in ``$STEM_DATASETS_PATH``).

Example:
    $ stem-datasets build smoke --dataset stem_cbed_interface
    $ stem-datasets report smoke --out report
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from stem_datasets import builders

    parser = argparse.ArgumentParser(prog="stem-datasets", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("build", "build DATASET/CONFIG"), ("report", "build DATASET/CONFIG if needed, then write a report")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("config", help="smoke, small or full")
        cmd.add_argument("--dataset", action="append", choices=builders.DATASETS,
                         help="repeatable; default: every registered dataset that has CONFIG")
        cmd.add_argument("--data-dir", default=None, help="TFDS data dir (default: ~/tensorflow_datasets)")
        if name == "report":
            cmd.add_argument("--out", default="report", help="folder for the markdown reports and figures")
    args = parser.parse_args(argv)

    from stem_datasets import report

    try:
        datasets = args.dataset or report.datasets_with_config(args.config)
        if not datasets:
            raise ValueError(f"no registered dataset has a config {args.config!r}; datasets: {', '.join(builders.DATASETS)}.")
        for dataset in datasets:
            if args.command == "build":
                builder, seconds = report.build(args.config, args.data_dir, dataset)
                print(f"{dataset}/{args.config}: {dict((k, v.num_examples) for k, v in builder.info.splits.items())} "
                      f"in {seconds:.0f} s at {builder.data_dir}")
            else:
                print(f"report written to {report.write_report(dataset, args.config, args.out, args.data_dir)}")
    except ValueError as error:
        print(f"stem-datasets: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
