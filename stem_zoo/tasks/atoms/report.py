"""``stem-zoo report``'s part for atom finding: the benchmark against the LoG baseline and the hold-out set.

Writes ``atom_fcn_<config>.md``: F1 / RMSE of ``atom_fcn`` and of :class:`stem_zoo.tasks.atoms.locate.LoGBaseline`
on every split of ``stem_atom_columns/<config>``, then both methods on the hold-out set
(:mod:`stem_zoo.tasks.atoms.holdout`: five ASE-built structures of families absent from training,
64 x 64 px fields for ``smoke``, 128 x 128 px otherwise), with overlay figures of the noise-free images.

Example:
    $ stem-zoo report --config smoke --model atom_fcn --out report
"""

from __future__ import annotations

from pathlib import Path


def report(entries, out_dir: str | Path, config: str, data_dir: str | None = None) -> list[Path]:
    """The atom-finding report of each entry (``atom_fcn``) on ``stem_atom_columns/<config>``."""
    from stem_datasets.simulation.cache import SimulationCache
    from stem_zoo.benchmarking import benchmark
    from stem_zoo.hub import load
    from stem_zoo.tasks.atoms.holdout import holdout_examples, score
    from stem_zoo.tasks.atoms.locate import LoGBaseline, atoms_figure, locate_atoms

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shape = (64, 64) if config == "smoke" else (128, 128)
    examples = holdout_examples(shape, cache=SimulationCache())
    baseline = LoGBaseline(column_width_A=1.0, threshold=0.05)
    paths = []
    for entry in entries:
        model = load(entry.id)
        fcn = benchmark(model, config=config, data_dir=data_dir)
        log = benchmark(baseline, task=entry.id, config=config, data_dir=data_dir, name="LoG + Gaussian fit")
        _, table = score({entry.id: model, "LoG + Gaussian fit": baseline}, examples)
        lines = [f"# {entry.id} on {entry.dataset}/{config}", "", f"{entry.task}.", "",
                 "## Benchmark splits (match radius 0.5 A, columns within 2 px of the edge left out)", "",
                 fcn["leaderboard"], "", log["leaderboard"], "",
                 f"## Hold-out set ({shape[0]} x {shape[1]} px), outside every draw of the dataset", "",
                 "Five structures of families absent from training, built by ASE (`stem_zoo.tasks.atoms.holdout`).", "",
                 table, ""]
        for example in examples:
            if example["dose"]:
                continue
            found = locate_atoms(example["image"], model, pixel_size=example["pixel_size"], detector=example["detector"])
            name = f"{entry.id}_holdout_{example['lattice'].split()[0]}_{example['detector']}.png"
            atoms_figure(found, out / name, title=f"{example['lattice']}, {example['detector'].upper()}: {entry.id}")
            lines.append(f"![{example['lattice']}, {example['detector']}]({name})")
        path = out / f"{entry.id}_{config}.md"
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths
