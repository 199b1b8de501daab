"""``stem-zoo report``'s part for atom finding: the benchmark against the LoG baseline and a hold-out field.

Writes ``atom_fcn_<config>.md``: F1 / RMSE of ``atom_fcn`` and of :class:`stem_zoo.tasks.atoms.locate.LoGBaseline`
on every split of ``stem_atom_columns/<config>``, then both methods on a freshly simulated
field outside every draw of the dataset (:func:`stem_datasets.builders.stem_atom_columns.recipe.holdout_field`:
LaAlO3, 7.6 nm), with overlay figures.

Example:
    $ stem-zoo report --config smoke --model atom_fcn --out report
"""

from __future__ import annotations

from pathlib import Path

from stem_zoo.tasks.atoms.metrics import count_detections, summarize


def holdout_scores(locate, fields: dict[str, dict]) -> dict[str, dict]:
    """Detection metrics of ``locate(image, pixel_size, detector) -> AtomColumns`` on each detector's field."""
    out = {}
    for detector, field in fields.items():
        found = locate(field["image"], field["pixel_size"], detector)
        classes = found["class_id"] if found.classified else None
        counts = count_detections(field["columns_xy"], field["columns_class"], found.xy, classes, field["pixel_size"],
                                  field["image"].shape)
        out[detector] = {"metrics": summarize([counts]), "columns": found}
    return out


def report(entries, out_dir: str | Path, config: str, data_dir: str | None = None) -> list[Path]:
    """The atom-finding report of each entry (``atom_fcn``) on ``stem_atom_columns/<config>``."""
    from stem_datasets.builders.stem_atom_columns.recipe import holdout_field
    from stem_datasets.simulation.cache import SimulationCache
    from stem_zoo.tasks.atoms.locate import LoGBaseline, atoms_figure, locate_atoms
    from stem_zoo.benchmarking import benchmark
    from stem_zoo.hub import load

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fields = holdout_field(cache=SimulationCache())
    paths = []
    for entry in entries:
        model = load(entry.id)
        fcn = benchmark(model, config=config, data_dir=data_dir)
        log = benchmark(LoGBaseline(), task=entry.id, config=config, data_dir=data_dir, name="LoG + Gaussian fit")
        methods = {
            entry.id: lambda image, px, detector: locate_atoms(image, model, pixel_size=px),
            "LoG + Gaussian fit": lambda image, px, detector: LoGBaseline().locate(image, px, detector=detector),
        }
        lines = [f"# {entry.id} on {entry.dataset}/{config}", "", f"{entry.task}.", "",
                 "## Benchmark splits (match radius 0.5 A, columns within 2 px of the edge left out)", "",
                 fcn["leaderboard"], "", log["leaderboard"], "",
                 "## Hold-out field, outside every draw of the dataset", "",
                 "LaAlO3 [001] (a material in no split), 7.6 nm thick (beyond every drawn thickness), defocus -30 A, "
                 "23 mrad, source sigma 0.3 A, drift 0.5 A, jitter 0.06 A, 3e5 e-/A^2 "
                 "(`stem_datasets.builders.stem_atom_columns.recipe.holdout_field`).", "",
                 "| method | detector | precision | recall | F1 | RMSE [pm] | class accuracy |", "| --- | --- | --- | --- | --- | --- | --- |"]
        figures = []
        for name, locate in methods.items():
            for detector, scored in holdout_scores(locate, fields).items():
                m = scored["metrics"]
                lines.append(f"| {name} | {detector} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
                             f"{m['rmse_pm']:.1f} | {m.get('class_accuracy', float('nan')):.3f} |")
                figure = out / f"{entry.id}_holdout_{detector}_{'fcn' if name == entry.id else 'log'}.png"
                atoms_figure(scored["columns"], figure, title=f"LaAlO3 hold-out, {detector.upper()}: {name}")
                figures.append(f"![{name}, {detector}]({figure.name})")
        lines += ["", *figures, ""]
        path = out / f"{entry.id}_{config}.md"
        path.write_text("\n".join(lines))
        paths.append(path)
    return paths
