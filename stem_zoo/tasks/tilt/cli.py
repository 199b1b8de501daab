"""``stem-zoo map``: tilt maps of a micrograph file (npy, HDF5, CSV and a figure)."""

from __future__ import annotations

from pathlib import Path


def add_command(subparsers) -> None:
    """Add ``map`` to the ``stem-zoo`` subcommands."""
    parser = subparsers.add_parser("map", help="tilt maps of a micrograph (tif, dm3/dm4, emd, h5, npy)")
    parser.add_argument("file")
    parser.add_argument("--model", default="tilt_dcnn")
    parser.add_argument("--pixel-size", type=float, default=None, help="angstrom per pixel (overrides the file)")
    parser.add_argument("--dataset", default=None, help="HDF5 dataset path")
    parser.add_argument("--pattern", default=None,
                        help="the crystal's Glazer pattern (e.g. a-b-c-): every column's label in the frame of the "
                             "(0, 0) column, one label per domain (default: each column's own)")
    parser.add_argument("--out", default="maps")
    parser.set_defaults(run=run, reads_file_first=True)


def run(args) -> int:
    import numpy as np

    from stem_datasets.cli import import_tensorflow
    from stem_zoo.hub import load
    from stem_zoo.micrograph import read_micrograph
    from stem_zoo.tasks.tilt.maps import map_figure, predict_map, save_columns_csv, save_maps_hdf5

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
