"""What every stem_datasets TFDS builder shares: simulated here from a recipe, never fetched.

A builder folder declares its features (``_info``), ``VERSION``/``RELEASE_NOTES`` and configs;
:class:`RecipeBuilder` does the rest from ``self.builder_config.recipe`` (a
:class:`stem_datasets.pipeline.recipe.DatasetRecipe`): metadata from ``recipe.describe()``, one split
per ``recipe.splits``, the units of a split generated one after the other with a progress
bar, or on Apache Beam workers when ``recipe.use_beam`` (:mod:`stem_datasets.pipeline.beam`; the
simulation cache, ``$STEM_ZOO_CACHE``, must then be a location every worker reaches, e.g. a
``gs://`` URL, and ``$STEM_ZOO_BEAM_THREADS`` sets each worker's compute threads, default 1).
A :class:`stem_datasets.pipeline.recipe.PreparedRecipe`'s summaries (``stem_abf_tilt``'s GP validation)
join the metadata on either path. ``README.md``, ``CITATIONS.bib``
and ``TAGS.txt`` are read from the builder's own folder. Use as::

    class Builder(RecipeBuilder, tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")
        BUILDER_CONFIGS = configs(RECIPES)

        def _info(self):
            return self.recipe_info(tfds.features.FeaturesDict({...}), supervised_keys=("image", "label"))
"""

from __future__ import annotations

import dataclasses
import os
import sys
import uuid
from pathlib import Path

import tensorflow_datasets as tfds
from etils import epath

from stem_datasets.pipeline import registration
from stem_datasets.simulation.cache import SimulationCache
from stem_datasets.pipeline.recipe import DatasetRecipe, PreparedRecipe, check_recipe

HOMEPAGE = "https://github.com/stem-zoo/stem-zoo"
LICENSE = "CC-BY-4.0"


class OfflineBuilder:
    """Mixin for a ``tfds.core.GeneratorBasedBuilder``: never looks up a pre-built copy on GCS."""

    def download_and_prepare(self, *, download_dir=None, download_config=None, **kwargs):
        """As TFDS's, but with ``try_download_gcs=False`` (works offline, simulates instead)."""
        config = dataclasses.replace(download_config or tfds.download.DownloadConfig(), try_download_gcs=False)
        return super().download_and_prepare(download_dir=download_dir, download_config=config, **kwargs)


class RecipeConfig(tfds.core.BuilderConfig):
    """A config is a named recipe."""

    def __init__(self, recipe: DatasetRecipe):
        check_recipe(recipe)
        super().__init__(name=recipe.name, description=recipe.description)
        self.recipe = recipe


def configs(recipes: dict) -> list[RecipeConfig]:
    """``BUILDER_CONFIGS`` of a ``{name: recipe}`` mapping."""
    return [RecipeConfig(r) for r in recipes.values()]


class RecipeBuilder(OfflineBuilder):
    """Mixin (before ``tfds.core.GeneratorBasedBuilder``): splits and examples from the config's recipe."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "pkg_dir_path" not in cls.__dict__:  # README, CITATIONS.bib, TAGS.txt: beside the builder module
            cls.pkg_dir_path = epath.Path(Path(sys.modules[cls.__module__].__file__).parent)

    @property
    def recipe(self) -> DatasetRecipe:
        return getattr(self, "_bound_recipe", None) or self.builder_config.recipe

    def recipe_info(self, features, supervised_keys: tuple[str, str] | None = None) -> tfds.core.DatasetInfo:
        """The DatasetInfo of every stem_datasets dataset: features, homepage, licence, metadata filled at build."""
        return self.dataset_info_from_configs(features=features, supervised_keys=supervised_keys, homepage=HOMEPAGE,
                                              metadata=tfds.core.MetadataDict(), license=LICENSE)

    def _metadata(self) -> dict:
        """``DatasetInfo.metadata``: the recipe's ``describe()`` and the licence; builders may add to it."""
        return {**self.recipe.describe(), "license": LICENSE}

    def _split_generators(self, dl_manager):
        if hasattr(self.recipe, "with_manual_dir"):  # a config of files the user places (MANUAL_DOWNLOAD_INSTRUCTIONS)
            self._bound_recipe = self.recipe.with_manual_dir(dl_manager.manual_dir)
        self.info.metadata.update(self._metadata())
        recipe, self._cache_url = self.recipe, SimulationCache().url  # a URL: Beam workers open their own cache there
        if recipe.use_beam:
            from stem_datasets.pipeline.beam import RecipeStages

            threads = int(os.environ.get("STEM_ZOO_BEAM_THREADS", "1"))
            self._stages = RecipeStages(recipe, self._cache_url, run_id=uuid.uuid4().hex, threads=threads)
        elif isinstance(recipe, PreparedRecipe):  # on Beam a stage computes them (read in _process_pipeline_result)
            cache = SimulationCache(self._cache_url)
            _simulate_all(recipe, cache, f"{self.name}/{recipe.name} simulations")  # else minutes before any bar
            self.info.metadata[recipe.summary_name] = {key: recipe.summarize(key, cache) for key in recipe.prepared_keys()}
        return {split: self._generate_examples(split) for split in recipe.splits}

    def _generate_examples(self, split: str):
        recipe = self.recipe
        if recipe.use_beam:
            from stem_datasets.pipeline.beam import GenerateSplit

            return GenerateSplit(self._stages, split)
        return _examples(recipe, split, SimulationCache(self._cache_url), f"{self.name}/{recipe.name} {split}")

    def _process_pipeline_result(self, pipeline_result) -> None:
        """After a Beam build: the prepared keys' summaries into the metadata, the Beam counters into ``beam_counters``."""
        from apache_beam.metrics.metric import MetricsFilter

        counters = pipeline_result.metrics().query(MetricsFilter().with_namespace("stem_datasets"))["counters"]
        self.beam_counters = {c.key.metric.name: c.committed if c.committed is not None else c.attempted for c in counters}
        if self._stages.prepared:
            from stem_datasets.pipeline.beam import read_summaries

            self.info.metadata[self.recipe.summary_name] = read_summaries(self.recipe, self._cache_url, self._stages.run_id)


def _simulate_all(recipe: PreparedRecipe, cache: SimulationCache, description: str) -> None:
    """Every simulation the splits of a prepared recipe share, into ``cache``, one progress step each."""
    from tqdm.auto import tqdm

    for item in tqdm(recipe.simulations(), desc=description, unit="run"):
        recipe.simulate(item, cache)


def _examples(recipe: DatasetRecipe, split: str, cache: SimulationCache, description: str):
    from tqdm.auto import tqdm

    for unit in tqdm(recipe.units(split), desc=description, unit="unit"):
        yield from recipe.generate_unit(split, unit, cache)


def take_examples(builder, split: str, n: int) -> list[dict]:
    """The first ``n`` examples of a split as NumPy dicts (file order)."""
    import tensorflow_datasets as tfds

    return list(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False).take(n)))


registration.register_deferred()  # TFDS may have been imported first by this module (see registration.register)
