"""``stem-zoo polarization``: per-cell polarization of a BiFeO3 micrograph file (HDF5, npy and figures)."""

from __future__ import annotations


def add_command(subparsers) -> None:
    """Add ``polarization`` to the ``stem-zoo`` subcommands."""
    from stem_zoo.cli import micrograph_command

    parser = micrograph_command(subparsers, "polarization", "per-cell polarization vectors of a BiFeO3 HAADF "
                                "micrograph", run, model="polarization_dcnn", out="polarization",
                                model_help="zoo id, model folder, hf://owner/name or a training run's .keras file")
    parser.add_argument("--sampling", choices=("centred", "grid"), default=None,
                        help="windows on the Fe columns found by atom finding, or on a regular grid without it "
                             "(default: those the model was trained on)")
    parser.add_argument("--atom-model", default="atom_fcn", help="atom finder for --sampling centred")


def run(args) -> int:
    from stem_datasets.cli import import_tensorflow
    from stem_zoo.cli import read_command_file
    from stem_zoo.tasks.polarization.predict import predict_polarization

    image, pixel_size, out, stem = read_command_file(args)
    import_tensorflow(args.verbose)
    result = predict_polarization(image, args.model, pixel_size=pixel_size, atom_model=args.atom_model,
                                  sampling=args.sampling)
    out.mkdir(parents=True, exist_ok=True)
    result.save_hdf5(out / f"{stem}_polarization.h5")
    result.save_npy(out / f"{stem}_polarization.npy")
    result.figures(out, stem)
    dropped = ", ".join(f"{n} {why}" for why, n in result.dropped.items())
    print(f"{len(result)} cells ({result.sampling} windows; dropped: {dropped}); mean |P| "
          f"{result.magnitude_pm.mean():.1f} pm; written to {out}/{stem}_polarization.h5, .npy, "
          "_polarization_quiver.png, _polarization_angle.png")
    return 0
