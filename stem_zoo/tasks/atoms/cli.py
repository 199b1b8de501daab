"""``stem-zoo atoms``: atomic columns of a micrograph file (CSV, HDF5 and a figure)."""

from __future__ import annotations

from pathlib import Path


def add_command(subparsers) -> None:
    """Add ``atoms`` to the ``stem-zoo`` subcommands."""
    parser = subparsers.add_parser("atoms", help="atomic columns of a micrograph: positions and classes "
                                                 "(tif, dm3/dm4, emd, h5, npy)")
    parser.add_argument("file")
    parser.add_argument("--model", default="atom_fcn", help="zoo id, model folder, hf://owner/name, or 'log' for the "
                        "classical LoG baseline (positions only)")
    parser.add_argument("--pixel-size", type=float, default=None, help="angstrom per pixel (overrides the file)")
    parser.add_argument("--dataset", default=None, help="HDF5 dataset path")
    parser.add_argument("--out", default="atoms")
    parser.add_argument("--threshold", type=float, default=0.5, help="minimum column probability of a column's pixels")
    parser.add_argument("--detector", choices=("auto", "haadf", "abf"), default="auto", help="for --model log only")
    parser.add_argument("--column-width", type=float, default=0.8, help="for --model log only: column FWHM in angstrom")
    parser.set_defaults(run=run, reads_file_first=True)


def run(args) -> int:
    from stem_datasets.cli import import_tensorflow
    from stem_zoo.micrograph import read_micrograph
    from stem_zoo.tasks.atoms.locate import LoGBaseline, atoms_figure, locate_atoms, save_atoms_csv, save_atoms_hdf5

    image, pixel_size = read_micrograph(args.file, args.pixel_size, args.dataset)
    if args.model == "log":
        result = LoGBaseline(column_width_A=args.column_width, detector=args.detector).locate(image, pixel_size)
    else:
        import_tensorflow(args.verbose)
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
