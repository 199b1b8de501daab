"""``stem-zoo polarization``: per-cell polarization of a BiFeO3 micrograph file (HDF5, npy and figures)."""

from __future__ import annotations

from pathlib import Path


def add_command(subparsers) -> None:
    """Add ``polarization`` to the ``stem-zoo`` subcommands."""
    parser = subparsers.add_parser("polarization", help="per-cell polarization vectors of a BiFeO3 HAADF micrograph "
                                                        "(tif, dm3/dm4, emd, h5, npy)")
    parser.add_argument("file")
    parser.add_argument("--model", default="polarization_dcnn", help="zoo id, model folder, hf://owner/name or a "
                        "training run's .keras file")
    parser.add_argument("--pixel-size", type=float, default=None, help="angstrom per pixel (overrides the file)")
    parser.add_argument("--sampling", choices=("centred", "grid"), default=None,
                        help="windows on the Fe columns found by atom finding, or on a regular grid without it "
                             "(default: those the model was trained on)")
    parser.add_argument("--atom-model", default="atom_fcn", help="atom finder for --sampling centred")
    parser.add_argument("--dataset", default=None, help="HDF5 dataset path")
    parser.add_argument("--out", default="polarization")
    parser.set_defaults(run=run, reads_file_first=True)


def run(args) -> int:
    from stem_datasets.cli import import_tensorflow
    from stem_zoo.micrograph import read_micrograph
    from stem_zoo.tasks.polarization.predict import predict_polarization

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
