"""Command line: ``stem-datasets build CONFIG [--dataset NAME ...]`` and ``stem-datasets report CONFIG [--dataset NAME ...]``.

``stem-datasets limits stem_abf_tilt/CONFIG --dose D [...]`` prints the Cramer-Rao bound of the tilt angles from one
crop (:mod:`stem_datasets.builders.stem_abf_tilt.limits`).

Without ``--dataset``, every registered dataset that has the config (``stem_datasets.builders.DATASETS``,
including those in ``$STEM_DATASETS_PATH``).

Example:
    $ stem-datasets build smoke --dataset stem_cbed_interface
    $ stem-datasets report smoke --out report
    $ stem-datasets limits stem_abf_tilt/small --dose 1e4 --nuisance thickness defocus --thickness 8.8
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile

# Lines of TensorFlow's C++ logger (absl format: I0000 00:00:1795.. 123 port.cc:153] ...) and those around them.
_TF_LOG_LINE = re.compile(r"[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] |WARNING: All log messages before absl::"
                          r"InitializeLog|To enable the following instructions: ")


def quiet_tensorflow(verbose: bool = False) -> None:
    """Unless ``verbose``: TensorFlow's C++ log at fatal only (if ``TF_CPP_MIN_LOG_LEVEL`` is unset), its Python log
    and absl's at errors. Call before TensorFlow is imported (level 2 would still let through GPU-less machines'
    "failed call to cuInit").

    >>> quiet_tensorflow(verbose=True)  # leaves the environment and the loggers alone
    """
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)


def import_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow now, dropping what its C++ logger writes to stderr meanwhile (unless ``verbose`` or
    ``TF_CPP_MIN_LOG_LEVEL`` < 2): those lines come before absl's log is initialized, whatever the level.

    >>> import_tensorflow()  # doctest: +SKIP
    """
    if "tensorflow" in sys.modules or verbose or os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("0", "1"):
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not _TF_LOG_LINE.match(line)))


def main(argv: list[str] | None = None) -> int:
    from stem_datasets import builders

    parser = argparse.ArgumentParser(prog="stem-datasets", description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's C++ and Python log lines")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("build", "build DATASET/CONFIG"), ("report", "build DATASET/CONFIG if needed, then write a report")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("config", help="smoke, small or full")
        cmd.add_argument("--dataset", action="append", choices=builders.DATASETS,
                         help="repeatable; default: every registered dataset that has CONFIG")
        cmd.add_argument("--data-dir", default=None, help="TFDS data dir (default: ~/tensorflow_datasets)")
        if name == "report":
            cmd.add_argument("--out", default="report", help="folder for the markdown reports and figures")
    publish = sub.add_parser("publish", help="stage the splits but train of a prepared DATASET/CONFIG for a Hub "
                             "dataset repo (a dry run unless --upload)")
    publish.add_argument("name", help="DATASET/CONFIG, already built, e.g. stem_abf_tilt/small")
    publish.add_argument("repo_id", help="Hub dataset repo, owner/name")
    publish.add_argument("--data-dir", default=None, help="TFDS data dir that holds it (default: ~/tensorflow_datasets)")
    publish.add_argument("--out", default=None, help="staging folder, new or empty (default: a temporary folder)")
    publish.add_argument("--tag", default=None, help="revision tag of the upload (default: v<dataset version>)")
    publish.add_argument("--upload", action="store_true", help="upload and tag; without it nothing leaves this machine")
    _add_limits_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "limits":
        return _limits(args)
    quiet_tensorflow(args.verbose)

    from stem_datasets import report

    try:
        if args.command == "publish":
            from stem_datasets.publish import publish as publish_splits

            import_tensorflow(args.verbose)
            done = publish_splits(args.name, args.repo_id, args.out, args.data_dir, upload=args.upload, tag=args.tag)
            for path in sorted(p for p in done.folder.rglob("*") if p.is_file()):
                print(f"{path.stat().st_size:>13,d}  {path.relative_to(done.folder)}")
            print(f"uploaded to https://huggingface.co/datasets/{args.repo_id}, commit {done.commit} tagged {done.tag}"
                  if args.upload else f"dry run, nothing uploaded: staged in {done.folder}; --upload uploads it to "
                  f"https://huggingface.co/datasets/{args.repo_id} and tags the commit {done.tag}")
            return 0
        datasets = args.dataset or report.datasets_with_config(args.config)
        if not datasets:
            raise ValueError(f"no registered dataset has a config {args.config!r}; datasets: {', '.join(builders.DATASETS)}.")
        import_tensorflow(args.verbose)
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


def _add_limits_parser(sub) -> None:
    from stem_datasets.builders.stem_abf_tilt.limits import DEFAULT_NUISANCE, NUISANCES

    limits = sub.add_parser("limits", help="Cramer-Rao bound of the tilt angles from one crop of stem_abf_tilt/CONFIG "
                            "(markdown table per pattern and thickness)")
    limits.add_argument("name", help="stem_abf_tilt/CONFIG, e.g. stem_abf_tilt/small")
    limits.add_argument("--dose", type=float, nargs="+", default=[1e4], help="e/A^2, one or more (default 1e4)")
    limits.add_argument("--nuisance", nargs="*", default=list(DEFAULT_NUISANCE), choices=NUISANCES, metavar="NAME",
                        help=f"unknown parameters besides the angles, any of {', '.join(NUISANCES)} "
                             f"(default: {' '.join(DEFAULT_NUISANCE)}; none: --nuisance with no name)")
    limits.add_argument("--pattern", action="append", default=None,
                        help="repeatable; default: every pattern of the config, each at its representative angles")
    limits.add_argument("--thickness", type=float, nargs="+", default=[4.4, 8.8, 15.5], help="nm (default 4.4 8.8 15.5)")


def _limits(args) -> int:
    """``stem-datasets limits``: print :func:`stem_datasets.builders.stem_abf_tilt.limits.crb_table` (multislice runs cached)."""
    from stem_datasets.builders.stem_abf_tilt.limits import crb_table

    try:
        dataset, _, config = args.name.partition("/")
        if dataset != "stem_abf_tilt" or not config:
            raise ValueError(f"limits knows stem_abf_tilt/CONFIG only, got {args.name!r}.")
        print("\n".join(crb_table(config, args.dose, [tuple(args.nuisance)], args.pattern, args.thickness)))
    except ValueError as error:
        print(f"stem-datasets: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
