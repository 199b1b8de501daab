"""A build shows one progress line per split that moves with every unit, from before the first unit's work."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import tensorflow_datasets  # noqa: F401  (first: importing stem_datasets.pipeline.offline first leaves the builders unregistered)

from stem_datasets.pipeline.offline import _examples  # noqa: E402


@dataclass
class ToyRecipe:
    """Three units of two examples; each unit takes long enough for tqdm to print it (mininterval 0.1 s)."""

    name: str = "smoke"
    description: str = "toy"
    splits: tuple[str, ...] = ("train",)
    use_beam: bool = False
    started: list = field(default_factory=list)

    def units(self, split: str) -> list[str]:
        return ["a", "b", "c"]

    def generate_unit(self, split, unit, cache):
        self.started.append(unit)
        time.sleep(0.15)  # a multislice run
        for k in range(2):
            yield f"{unit}/{k}", {"value": k}

    def describe(self) -> dict:
        return {}


def test_every_unit_advances_the_bar_and_the_bar_comes_first(capsys):
    recipe = ToyRecipe()
    examples = _examples(recipe, "train", cache=None, description="toy/smoke train")
    next(examples)  # the first unit's first example
    before = capsys.readouterr().err
    assert recipe.started == ["a"] and re.search(r"toy/smoke train:\s+0%.*0/3", before), before
    assert len(list(examples)) == 5 and recipe.started == ["a", "b", "c"]
    counts = [int(n) for n in re.findall(r"(\d)/3 \[", capsys.readouterr().err)]
    assert counts[-1] == 3 and {1, 2} <= set(counts), counts  # a line per finished unit (\r-separated)


@dataclass
class ToyPreparedRecipe(ToyRecipe):
    """A recipe whose splits share simulations (as stem_abf_tilt's GP): they run first, one bar step each."""

    summary_name: str = "toy_summary"
    log: list = field(default_factory=list)

    def simulations(self) -> list[int]:
        return [0, 1, 2, 3]

    def simulate(self, item, cache):
        self.log.append(f"simulate {item}")

    def prepared_keys(self) -> list[str]:
        return ["p"]

    def prepare(self, key, cache):
        self.log.append(f"prepare {key}")

    def summarize(self, key, cache) -> dict:
        self.log.append(f"summarize {key}")
        return {"n": 1}

    def generate_unit(self, split, unit, cache, prepared=False):
        self.log.append(f"unit {unit}")
        for k in range(2):
            yield f"{unit}/{k}", {"value": k}


def test_shared_simulations_run_under_their_own_bar_before_anything_else(tmp_path, capsys):
    import numpy as np
    import tensorflow_datasets as tfds

    from stem_datasets.pipeline.offline import RecipeBuilder, configs
    from stem_datasets.pipeline.recipe import PreparedRecipe

    recipe = ToyPreparedRecipe()
    assert isinstance(recipe, PreparedRecipe)
    with tfds.core.registered.skip_registration():
        class ToyProgress(RecipeBuilder, tfds.core.GeneratorBasedBuilder):
            VERSION = tfds.core.Version("1.0.0")
            BUILDER_CONFIGS = configs({"smoke": recipe})

            def _info(self):
                return self.recipe_info(tfds.features.FeaturesDict({"value": tfds.features.Scalar(dtype=np.int64)}))

    builder = ToyProgress(config="smoke", data_dir=tmp_path)
    builder.download_and_prepare()
    assert recipe.log[:5] == ["simulate 0", "simulate 1", "simulate 2", "simulate 3", "summarize p"]
    assert recipe.log[5:] == ["unit a", "unit b", "unit c"]
    assert builder.info.splits["train"].num_examples == 6 and builder.info.metadata["toy_summary"] == {"p": {"n": 1}}
    assert re.search(r"toy_progress/smoke simulations: 100%.*4/4", capsys.readouterr().err)
