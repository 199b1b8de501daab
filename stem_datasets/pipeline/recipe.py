"""The interface every dataset recipe declares, so that one generic builder, CLI and report serve them all.

A recipe is what fixes the content of one config of a dataset: its splits, its independent
work units (one multislice run, one Glazer pattern, ...) and how a unit becomes examples.
The TFDS side (:class:`stem_datasets.pipeline.offline.RecipeBuilder`) iterates units with a progress
bar, or hands them to Apache Beam when ``use_beam``; a builder folder then only declares its
features, version and configs. A recipe module may also define
``report_section(builder, out_dir) -> list[str]`` (markdown lines, figures written to
``out_dir``) for ``stem-datasets report``; without it the report draws a generic preview.

A recipe whose splits share work (``stem_abf_tilt``: one GP per pattern for train, validation and
test) also declares :class:`PreparedRecipe`; on Apache Beam its simulations, then its prepared
keys, each become one pipeline stage before the splits, so nothing is computed twice.

Example:
    >>> from stem_datasets.builders.stem_cbed_interface.recipe import RECIPES
    >>> recipe = RECIPES["smoke"]
    >>> isinstance(recipe, DatasetRecipe), recipe.splits[0], len(recipe.units("train"))
    (True, 'train', 28)
    >>> check_recipe(recipe) is recipe
    True
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any, Iterator, Protocol, runtime_checkable

COUNTS: Counter = Counter()  # this process's tally of :func:`count` events


@runtime_checkable
class DatasetRecipe(Protocol):
    """One config of a dataset: plain, picklable (Beam workers receive it), no TensorFlow needed."""

    name: str  # the config name, e.g. "smoke"
    description: str
    splits: tuple[str, ...]
    use_beam: bool  # generate the units on Apache Beam workers (paper-scale configs)

    def units(self, split: str) -> list:
        """The independent work units of a split (picklable values)."""

    def generate_unit(self, split: str, unit: Any, cache) -> Iterator[tuple[str, dict]]:
        """(key, example) pairs of one unit; ``cache`` is a :class:`stem_datasets.simulation.cache.SimulationCache`."""

    def describe(self) -> dict:
        """Plain-JSON metadata of the config (``DatasetInfo.metadata``, the card and the report)."""


@runtime_checkable
class PreparedRecipe(Protocol):
    """A recipe whose splits share work, done once per key and kept in the simulation cache.

    ``simulations()`` lists independent simulations (picklable) and ``simulate(item, cache)``
    stores one; ``prepared_keys()`` are the keys of the shared work (e.g. the patterns) and
    ``prepare(key, cache)`` does it from the cached simulations and stores it; ``summarize(key,
    cache)`` returns plain-JSON numbers about it, collected into ``DatasetInfo.metadata[
    summary_name]``. ``generate_unit(split, unit, cache, prepared=True)`` then only reads what
    is prepared (an error if it is not in ``cache``) instead of computing it.
    """

    summary_name: str

    def simulations(self) -> list: ...

    def simulate(self, item: Any, cache) -> None: ...

    def prepared_keys(self) -> list: ...

    def prepare(self, key: Any, cache) -> None: ...

    def summarize(self, key: Any, cache) -> dict: ...


def count(name: str, n: int = 1) -> None:
    """Add ``n`` to this process's ``COUNTS[name]`` and, on an Apache Beam worker, to the counter ``stem_datasets:name``.

    >>> count("doc_example"); COUNTS["doc_example"]
    1
    """
    COUNTS[name] += n
    if "apache_beam" in sys.modules:  # only on Beam workers (or where Beam is in use): never imported here
        sys.modules["apache_beam"].metrics.Metrics.counter("stem_datasets", name).inc(n)


def check_recipe(recipe: Any) -> DatasetRecipe:
    """``recipe`` if it declares every member of :class:`DatasetRecipe`, else a clear error (cheap: calls nothing)."""
    missing = [name for name in ("name", "description", "splits", "use_beam", "units", "generate_unit", "describe")
               if not hasattr(recipe, name)]
    if missing:
        raise TypeError(f"{type(recipe).__name__} is not a DatasetRecipe: it lacks {', '.join(missing)}.")
    if not (isinstance(recipe.name, str) and recipe.name and isinstance(recipe.splits, tuple) and recipe.splits):
        raise TypeError(f"{type(recipe).__name__}: name must be a non-empty str and splits a non-empty tuple of str.")
    return recipe


def recipe_named(recipes: dict, dataset: str, name: str):
    """``recipes[name]``, with a clear error naming the dataset and its configs for an unknown name.

    >>> recipe_named({"smoke": 1}, "toy", "big")
    Traceback (most recent call last):
    ...
    ValueError: Unknown toy config 'big'; known: smoke.
    """
    try:
        return recipes[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown {dataset} config {name!r}; known: {', '.join(recipes)}.") from None
