"""``stem-zoo atoms``: atomic columns of a micrograph file (CSV, HDF5 and a figure)."""

from __future__ import annotations

from pathlib import Path


def add_command(subparsers) -> None:
    """Add ``atoms`` to the ``stem-zoo`` subcommands."""
    from stem_zoo.cli import micrograph_command

    parser = micrograph_command(subparsers, "atoms", "atomic columns of a micrograph: positions and classes", run,
                                model="atom_fcn", out="atoms", model_help="zoo id, model folder, hf://owner/name, or "
                                "'log' for the classical LoG baseline (positions only)")
    parser.add_argument("--threshold", type=float, default=0.5, help="minimum column probability of a column's pixels")
    parser.add_argument("--detector", choices=("auto", "haadf", "abf"), default="auto",
                        help="haadf: bright columns, abf: dark columns (auto: guessed from the image's skew)")
    parser.add_argument("--column-width", type=float, default=0.8, help="for --model log only: column FWHM in angstrom")


def run(args) -> int:
    from stem_datasets.cli import import_tensorflow
    from stem_zoo.cli import read_command_file
    from stem_zoo.tasks.atoms.locate import LoGBaseline, atoms_figure, locate_atoms, save_atoms_csv, save_atoms_hdf5

    image, pixel_size, out, stem = read_command_file(args)
    if args.model == "log":
        result = LoGBaseline(column_width_A=args.column_width, detector=args.detector).locate(image, pixel_size)
    else:
        import_tensorflow(args.verbose)
        result = locate_atoms(image, args.model, pixel_size=pixel_size, threshold=args.threshold, detector=args.detector)
    out.mkdir(parents=True, exist_ok=True)
    save_atoms_csv(result, out / f"{stem}_atoms.csv")
    save_atoms_hdf5(result, out / f"{stem}_atoms.h5")
    atoms_figure(result, out / f"{stem}_atoms.png",
                 title=f"{Path(args.file).name}: {result.method}, {len(result)} columns")
    counts = ", ".join(f"{n} {name}" for name, n in result.counts.items()) or "none"
    print(f"{len(result)} columns ({counts}) written to {out}/{stem}_atoms.csv, .h5, .png")
    return 0
