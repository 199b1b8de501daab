"""Datasets and models are found by registration: import order, no TensorFlow for the physics, outside folders.

The last test is the refactor's promise: a dataset that is one builder folder, a task that is one
folder (its hooks, its own metric, report, facade and ``stem-zoo`` subcommand) and a model that is
one model folder, all outside the package ($STEM_DATASETS_PATH, PYTHONPATH, $STEM_ZOO_WEIGHTS_PATH),
are built, listed, benchmarked, reported and run without editing a project file.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest


def _python(code: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})})
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_the_recipes_declare_the_interface():
    from stem_datasets.builders.stem_abf_tilt import recipe as abf_tilt
    from stem_datasets.builders.stem_cbed_interface import recipe as cbed_interface
    from stem_datasets.pipeline.recipe import DatasetRecipe, check_recipe

    for module in (abf_tilt, cbed_interface):
        for recipe in module.RECIPES.values():
            assert isinstance(recipe, DatasetRecipe) and check_recipe(recipe).splits == module.SPLITS
        smoke = module.RECIPES["smoke"]
        assert json.loads(json.dumps(smoke.describe())) and smoke.units("test") == (
            abf_tilt.units(smoke) if module is abf_tilt else cbed_interface.units(smoke, "test"))
    with pytest.raises(TypeError, match="lacks units, generate_unit, describe"):
        check_recipe(type("Half", (), {"name": "x", "description": "", "splits": ("train",), "use_beam": False})())


def test_physics_modules_import_without_tensorflow():
    _python("""
        import sys
        import stem_datasets.physics.structures, stem_datasets.simulation.simulate, stem_datasets.physics.glazer, stem_datasets.simulation.surrogate
        assert "tensorflow" not in sys.modules and "tensorflow_datasets" not in sys.modules, sorted(sys.modules)
    """)


@pytest.mark.parametrize("imports", ["import stem_datasets, tensorflow_datasets as tfds",
                                     "import tensorflow_datasets as tfds, stem_datasets",
                                     "import stem_datasets.pipeline.offline, tensorflow_datasets as tfds"])
@pytest.mark.slow
def test_builders_register_whatever_the_import_order(imports, tmp_path):
    _python(f"""
        {imports}
        assert {{"stem_abf_tilt", "stem_cbed_interface"}} <= set(tfds.list_builders())
        builder = tfds.builder("stem_abf_tilt/smoke", data_dir={str(tmp_path)!r})
        assert builder.builder_config.name == "smoke" and not builder.is_prepared()
        assert "Laanait" in tfds.builder("stem_abf_tilt/smoke", data_dir={str(tmp_path)!r}).info.citation
    """)


RECIPE = '''
"""A toy dataset: 8 x 8 images, bright or dark."""
from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class ToyRecipe:
    name: str
    n: int
    description: str = "toy"
    use_beam: bool = False
    splits: ClassVar[tuple[str, ...]] = ("train", "test")

    def units(self, split):
        return list(range(2))

    def generate_unit(self, split, unit, cache):
        rng = np.random.default_rng([len(split), unit])
        for k in range(self.n):
            label = (unit + k) % 2
            image = (0.7 * label + 0.1 * rng.random((8, 8, 1))).astype(np.float32)
            yield f"{split}/{unit}/{k}", {"image": image, "label": label}

    def describe(self):
        return {"examples_per_unit": self.n, "lattice_constant_angstrom": 4.0}


RECIPES = {r.name: r for r in (ToyRecipe("smoke", 3), ToyRecipe("small", 20))}
'''

BUILDER = '''
import numpy as np
import tensorflow_datasets as tfds

from stem_datasets.builders.toy_spots.toy_recipe import RECIPES
from stem_datasets.pipeline.offline import RecipeBuilder, configs


class Builder(RecipeBuilder, tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Toy."}
    BUILDER_CONFIGS = configs(RECIPES)

    def _info(self):
        return self.recipe_info(tfds.features.FeaturesDict({
            "image": tfds.features.Tensor(shape=(8, 8, 1), dtype=np.float32),
            "label": tfds.features.ClassLabel(names=["dark", "bright"]),
        }), supervised_keys=("image", "label"))
'''

TASK = {  # a task folder outside the package: its hooks, its own metric, report, facade and CLI subcommand
    "__init__.py": """
HOOKS = {"training_setup": "model:training_setup", "train_inputs": "model:train_inputs",
         "eval_input": "model:eval_input", "metrics": "metrics:brightness_metrics", "report": "report:report"}
FACADES = {"count_bright": "apply:count_bright"}
COMMANDS = {"toy-count": "cli:add_command"}
""",
    "model.py": """
def build(input_spec):
    import keras

    inputs = keras.Input((*input_spec.crop_shape, 1))
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs)))


def training_setup(settings):
    import keras

    return "sparse_categorical_crossentropy", keras.optimizers.SGD(settings.learning_rate), ["accuracy"], []


def train_inputs(ds, entry, seed):
    return ds.map(lambda e: (e[entry.input.feature], e[entry.label]))


def eval_input(example, entry):
    return example[entry.input.feature]
""",
    "metrics.py": """
import numpy as np


def brightness_metrics(true, pred, context=None):
    true, pred = np.asarray(true).astype(int), np.asarray(pred).argmax(axis=1)
    return {"n": int(len(true)), "accuracy": float(np.mean(pred == true)),
            "bright_recall": float(np.mean(pred[true == 1] == 1))}
""",
    "apply.py": """
import numpy as np


def count_bright(images, threshold=0.4):
    return int(np.sum(np.asarray(images, float).mean(axis=(1, 2)) >= threshold))
""",
    "report.py": """
from pathlib import Path

import numpy as np


def report(entries, out_dir, config, data_dir=None):
    import stem_zoo

    bright = lambda x: np.stack([x.mean(axis=(1, 2, 3)) < 0.4, x.mean(axis=(1, 2, 3)) >= 0.4], 1).astype(float)
    paths = []
    for entry in entries:
        result = stem_zoo.benchmark(bright, task=entry.id, config=config, data_dir=data_dir, name="threshold")
        path = Path(out_dir) / f"{entry.id}_{config}.md"
        path.write_text("# toy report\\n\\n" + result["leaderboard"])
        paths.append(path)
    return paths
""",
    "cli.py": """
def add_command(subparsers):
    parser = subparsers.add_parser("toy-count", help="count bright images in a .npy stack")
    parser.add_argument("file")
    parser.set_defaults(run=run, reads_file_first=True)


def run(args):
    import numpy as np

    from toy_task.apply import count_bright

    print(f"bright: {count_bright(np.load(args.file))}")
    return 0
""",
}

ENTRY = {
    "id": "toy_model", "builder": "toy_task.model:build", "task": "bright or dark", "dataset": "toy_spots",
    "dataset_config": "smoke", "dataset_version": "1.0.0", "input": {"crop_shape": [8, 8], "pixel_size": 1.0},
    "outputs": ["dark", "bright"], "output_units": "class probability", "hub_repo": "nobody/toy_model",
    "hub_revision": "v0", "label": "label",
}


def _toy_folders(root):
    folder = root / "datasets" / "toy_spots"
    folder.mkdir(parents=True)
    files = {"__init__.py": "", "toy_recipe.py": RECIPE, "toy_spots_dataset_builder.py": BUILDER,
             "README.md": "# toy_spots\n\nBright and dark 8 x 8 images.\n", "TAGS.txt": "content.data-type.image\n",
             "CITATIONS.bib": "@misc{toy, title={Toy spots}, year={2026}}\n", "checksums.tsv": ""}
    for name, text in files.items():
        (folder / name).write_text(text)
    (root / "models" / "toy_model").mkdir(parents=True)
    (root / "models" / "toy_model" / "config.json").write_text(json.dumps({"entry": ENTRY}))
    (root / "code" / "toy_task").mkdir(parents=True)
    for name, text in TASK.items():
        (root / "code" / "toy_task" / name).write_text(text)


def test_a_dataset_and_a_model_from_outside_the_package(tmp_path):
    _toy_folders(tmp_path)
    env = {"STEM_DATASETS_PATH": str(tmp_path / "datasets"), "STEM_ZOO_WEIGHTS_PATH": str(tmp_path / "models"),
           "PYTHONPATH": os.pathsep.join([str(tmp_path / "code"), os.environ.get("PYTHONPATH", "")]),
           "STEM_ZOO_CACHE": str(tmp_path / "cache")}
    data_dir, out = str(tmp_path / "tfds"), str(tmp_path / "report")
    done = _python(f"""
        import numpy as np
        from stem_datasets import builders, cli
        assert "toy_spots" in builders.DATASETS and "stem_abf_tilt" in builders.DATASETS
        assert cli.main(["build", "smoke", "--dataset", "toy_spots", "--data-dir", {data_dir!r}]) == 0
        from matplotlib.figure import Figure
        savefig = Figure.savefig  # print what each saved figure shows: its title and its panels' titles
        Figure.savefig = lambda self, *a, **k: print("figure:", [self._suptitle.get_text() if self._suptitle else "",
                                                                 *(ax.get_title() for ax in self.axes)]) or savefig(self, *a, **k)
        assert cli.main(["report", "smoke", "--dataset", "toy_spots", "--data-dir", {data_dir!r}, "--out", {out!r}]) == 0

        import stem_zoo
        from stem_zoo import registry
        assert "toy_model" in registry.list_models() and "tilt_dcnn" in registry.list_models()
        bright = lambda x: np.stack([x.mean(axis=(1, 2, 3)) < 0.4, x.mean(axis=(1, 2, 3)) >= 0.4], 1).astype(float)
        result = stem_zoo.benchmark(bright, task="toy_model", config="smoke", data_dir={data_dir!r})
        print(result["splits"]["test"])
        assert result["dataset"] == "toy_spots/smoke:1.0.0" and result["splits"]["test"]["accuracy"] == 1.0
        assert result["splits"]["test"]["n"] == 6 and result["splits"]["test"]["bright_recall"] == 1.0  # its metric

        from stem_zoo import report, task
        assert task.check_task(task.task_of(registry.get_entry("toy_model"))).__name__ == "toy_task"
        assert stem_zoo.count_bright(np.full((3, 8, 8), 0.5)) == 3  # its facade
        np.save({str(tmp_path / "stack.npy")!r}, np.stack([np.zeros((8, 8)), np.ones((8, 8))]))
        from stem_zoo.cli import main
        assert main(["toy-count", {str(tmp_path / "stack.npy")!r}]) == 0  # its subcommand
        written = report.write_reports("smoke", {out!r}, ["toy_model"], {data_dir!r})  # its report
        assert [p.name for p in written] == ["toy_model_smoke.md"]
        assert "# toy report" in written[0].read_text() and "threshold" in written[0].read_text()
    """, env=env, cwd=tmp_path)
    assert "bright: 1" in done.stdout
    assert "toy_spots/smoke: {'train': 6, 'test': 6}" in done.stdout
    report = (tmp_path / "report" / "toy_spots_smoke.md").read_text()
    assert "| test | 6 |" in report and '"examples_per_unit": 3' in report
    assert (tmp_path / "report" / "toy_spots_smoke_examples.png").stat().st_size > 1000
    import ast

    (figure,) = [ast.literal_eval(line[len("figure: "):]) for line in done.stdout.splitlines() if line.startswith("figure: ")]
    assert figure[0] == "toy_spots/smoke: `image` (first examples)"  # the examples figure: 4 of each split, labelled
    assert [title.split("\n")[0] for title in figure[1:]] == ["train"] * 4 + ["test"] * 4
    assert {title.split("\n")[1] for title in figure[1:] if title} == {"label: dark", "label: bright"}
    info = json.loads((tmp_path / "tfds" / "toy_spots" / "smoke" / "1.0.0" / "dataset_info.json").read_text())
    assert "Toy spots" in info["citation"] and info["redistributionInfo"]["license"] == "CC-BY-4.0"
