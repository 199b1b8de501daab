"""Run independent simulations in worker processes, one per core, with a progress bar.

abTEM's threaded scheduler keeps two cores only partly busy on small runs (building the
potential and the frozen-phonon draws are serial); two processes pinned one per core
finish more 4D-STEM runs per minute (`bench/bench_cbed_interface.py` prints the ratio).

Example:
    >>> map_pinned(abs, [-1, 2, -3], workers=1)
    [1, 2, 3]
"""

from __future__ import annotations

import multiprocessing as mp
import os
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _pin(counter, cores: list[int]) -> None:
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    if hasattr(os, "sched_setaffinity") and cores:
        os.sched_setaffinity(0, {cores[index % len(cores)]})


def map_pinned(fn: Callable[[T], R], items: Iterable[T], workers: int | None = None, desc: str = "") -> list[R]:
    """``[fn(x) for x in items]`` in ``workers`` spawned processes, each pinned to one core, in order.

    ``fn`` and the items must be picklable (module-level functions, dataclasses). With one
    worker (or one item) everything runs here, in this process.
    """
    from tqdm.auto import tqdm

    items = list(items)
    workers = min(workers or default_workers(), len(items))
    bar = dict(total=len(items), desc=desc, unit="run", disable=not desc)
    if workers <= 1:
        return [fn(x) for x in tqdm(items, **bar)]
    from concurrent.futures import ProcessPoolExecutor

    context = mp.get_context("spawn")  # never fork a process that may hold TensorFlow's threads
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    counter = context.Value("i", 0)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_pin, initargs=(counter, cores)) as pool:
        return list(tqdm(pool.map(fn, items), **bar))
