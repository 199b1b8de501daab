"""``stem-zoo map``: tilt maps of a micrograph file (npy, HDF5, CSV and a figure)."""

from __future__ import annotations

from pathlib import Path


def add_command(subparsers) -> None:
    """Add ``map`` to the ``stem-zoo`` subcommands."""
    from stem_zoo.cli import micrograph_command

    parser = micrograph_command(subparsers, "map", "tilt maps of a micrograph", run, model="tilt_dcnn", out="maps")
    parser.add_argument("--pattern", default=None,
                        help="the crystal's Glazer pattern (e.g. a-b-c-): every column's label in the frame of the "
                             "(0, 0) column, one label per domain (default: each column's own)")


def run(args) -> int:
    import numpy as np

    from stem_datasets.cli import import_tensorflow
    from stem_zoo.cli import read_command_file
    from stem_zoo.hub import load
    from stem_zoo.tasks.tilt.maps import map_figure, predict_map, save_columns_csv, save_maps_hdf5

    image, pixel_size, out, stem = read_command_file(args)
    import_tensorflow(args.verbose)
    maps = predict_map(image, load(args.model), pixel_size=pixel_size, pattern=args.pattern)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / f"{stem}_tilt_maps.npy", maps.maps)
    save_maps_hdf5(maps, out / f"{stem}_tilt_maps.h5")
    save_columns_csv(maps, out / f"{stem}_tilt_columns.csv")
    map_figure(maps, out / f"{stem}_tilt_maps.png", title=f"{Path(args.file).name}: {args.model}")
    print(f"maps {maps.maps.shape} and {len(maps.columns)} B columns written to {out}")
    return 0
