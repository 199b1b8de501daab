"""The Apache Beam stages of a recipe's build: its simulations, then its prepared work, then each split.

:class:`stem_datasets.pipeline.offline.RecipeBuilder` hands TFDS one :class:`GenerateSplit` per split. For a
:class:`stem_datasets.pipeline.recipe.PreparedRecipe` the first split to be expanded also adds, once per
pipeline, a stage of every simulation (one work item each) and after it a stage of every prepared
key (``stem_abf_tilt``: fit and validate one GP per pattern); the splits wait for both (a side
input) and then only read the shared simulation cache. Each stage's summary (the GP validation)
goes to that cache under the build's ``run_id``, where :func:`read_summaries` finds it after the
pipeline. Every worker computes with ``threads`` threads (abTEM's dask scheduler, BLAS): one Beam
worker per core, as Dataflow runs its Python workers.

This module imports Apache Beam: only Beam builds import it. Example (a toy recipe, no physics)::

    import apache_beam as beam
    with beam.Pipeline() as p:
        examples = p | "train" >> GenerateSplit(RecipeStages(recipe, "file:///tmp/cache", "run0"), "train")
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import apache_beam as beam

from stem_datasets.simulation.cache import SimulationCache, cache_key
from stem_datasets.pipeline.recipe import DatasetRecipe, PreparedRecipe


def summary_key(run_id: str, key: Any) -> str:
    """Cache key of one prepared key's summary in one build."""
    return cache_key({"summary": run_id, "key": str(key)})


@contextlib.contextmanager
def compute_threads(threads: int) -> Iterator[None]:
    """Limit abTEM's dask scheduler and the BLAS / OpenMP pools to ``threads`` threads."""
    import dask
    from threadpoolctl import threadpool_limits

    with dask.config.set(num_workers=threads), threadpool_limits(threads):
        yield


def _simulate(item, recipe: PreparedRecipe, url: str, threads: int) -> None:
    with compute_threads(threads):
        recipe.simulate(item, SimulationCache(url))


def _prepare(key, recipe: PreparedRecipe, url: str, run_id: str, threads: int, after=None) -> None:
    cache = SimulationCache(url)
    with compute_threads(threads):
        recipe.prepare(key, cache)
        cache.put_json(summary_key(run_id, key), recipe.summarize(key, cache))


def _generate(unit, recipe: DatasetRecipe, split: str, url: str, threads: int, prepared: bool, after=None):
    cache = SimulationCache(url)
    with compute_threads(threads):
        if prepared:
            yield from recipe.generate_unit(split, unit, cache, prepared=True)
        else:
            yield from recipe.generate_unit(split, unit, cache)


class RecipeStages:
    """The stages every split of one build shares, added to a pipeline once (by the first split expanded)."""

    def __init__(self, recipe: DatasetRecipe, url: str, run_id: str, threads: int = 1):
        self.recipe, self.url, self.run_id, self.threads = recipe, url, run_id, int(threads)
        self._ready: dict[int, beam.PCollection] = {}

    @property
    def prepared(self) -> bool:
        """Whether the recipe has shared work (simulations and prepared keys)."""
        return isinstance(self.recipe, PreparedRecipe)

    def ready(self, pipeline: beam.Pipeline) -> beam.PCollection:
        """One element once every simulation and prepared key of the build is done."""
        if id(pipeline) not in self._ready:
            r, url, threads = self.recipe, self.url, self.threads
            simulated = (
                pipeline
                | "simulations" >> beam.Create(r.simulations())
                | "spread simulations" >> beam.Reshuffle()
                | "simulate" >> beam.Map(_simulate, r, url, threads)
                | "count simulations" >> beam.combiners.Count.Globally()
            )
            self._ready[id(pipeline)] = (
                pipeline
                | "prepared keys" >> beam.Create(r.prepared_keys())
                | "spread prepared keys" >> beam.Reshuffle()
                | "prepare" >> beam.Map(_prepare, r, url, self.run_id, threads, after=beam.pvalue.AsSingleton(simulated))
                | "count prepared" >> beam.combiners.Count.Globally()
            )
        return self._ready[id(pipeline)]


class GenerateSplit(beam.PTransform):
    """(key, example) pairs of one split: its units spread over the workers, after the shared stages."""

    def __init__(self, stages: RecipeStages, split: str):
        super().__init__()
        self.stages, self.split = stages, split

    def expand(self, pbegin):
        s = self.stages
        units = pbegin | "units" >> beam.Create(s.recipe.units(self.split)) | "spread units" >> beam.Reshuffle()
        if not s.prepared:
            return units | "generate" >> beam.FlatMap(_generate, s.recipe, self.split, s.url, s.threads, False)
        after = beam.pvalue.AsSingleton(s.ready(pbegin.pipeline))
        return units | "generate" >> beam.FlatMap(_generate, s.recipe, self.split, s.url, s.threads, True, after=after)


def read_summaries(recipe: PreparedRecipe, url: str, run_id: str) -> dict:
    """``{key: summary}`` the prepare stage stored for this build, removed from the cache once read."""
    cache, out = SimulationCache(url), {}
    for key in recipe.prepared_keys():
        summary = cache.get_json(summary_key(run_id, key))
        if summary is None:
            raise RuntimeError(f"the {recipe.summary_name} of {key} is not in the simulation cache {url}: "
                               "the Beam workers and this process must share it ($STEM_ZOO_CACHE).")
        out[key] = summary
        cache.delete(summary_key(run_id, key))
    return out
