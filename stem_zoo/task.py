"""The interface every zoo task declares, so that one trainer, benchmark, hub, report and CLI serve them all.

A task is one folder, ``stem_zoo/tasks/<name>/`` (model, apply, metrics, report, plots). Its
``model.py`` builds the networks of the task's entries: each entry's ``builder`` is
``"stem_zoo.tasks.<name>.model:build_..."`` and importing that module registers the models'
custom Keras objects. The folder's ``__init__.py`` declares, importing nothing heavy:

- ``HOOKS``: ``{hook: "module:function"}``, what the core calls: the members of
  :class:`ZooTask` (:data:`REQUIRED_HOOKS`) and any of :data:`OPTIONAL_HOOKS`, each in the
  module that owns it (so no module imports another only to expose a hook);
- ``FACADES``: ``{name: "module:function"}``, functions ``stem_zoo.<name>`` exposes
  (``stem_zoo.predict_map``);
- ``COMMANDS``: ``{name: "module:function"}``, ``stem-zoo <name>`` subcommands; the function gets
  the argparse subparsers, adds its parser and sets its ``run`` default (``run(args) -> int``);
- ``FORMER_MODULES``: module names of earlier releases, so older configs still load;
- ``METRICS_FEATURE`` (optional): a dataset feature whose values the benchmark passes to the
  ``metrics`` and ``uncertainty_metrics`` hooks as their third argument (tilt: the Glazer pattern).

Modules are relative to the task's package. A model whose builder module lies outside a
package (``STEM_ZOO_WEIGHTS_PATH``) is its own task: its module declares ``HOOKS`` with
targets ``":function"``. :func:`check_task` checks a declaration like
:func:`stem_datasets.pipeline.recipe.check_recipe` checks a recipe. The core (registry, data, train,
benchmarking, hub, report, cli, micrograph) names no task; a new task is its folder plus its
weights folders, and nothing else lists it.

Example:
    >>> from stem_zoo.task import check_task, task_of, task_packages
    >>> sorted(task_packages())
    ['atoms', 'cbed', 'polarization', 'tilt']
    >>> from stem_zoo.registry import get_entry
    >>> check_task(task_of(get_entry("cbed_step_cnn"))).__name__
    'stem_zoo.tasks.cbed'
    >>> task_hook(get_entry("tilt_dcnn"), "metrics").__module__
    'stem_zoo.tasks.tilt.metrics'
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any, Callable, Protocol

TASKS_PACKAGE = "stem_zoo.tasks"


class ZooTask(Protocol):
    """The hooks every task declares (in its ``HOOKS``), with their signatures."""

    def training_setup(self, settings) -> tuple:
        """(loss, optimizer, metrics, learning-rate schedule or None) for a :class:`stem_zoo.train.TrainSettings`."""

    def train_inputs(self, ds, entry, seed: int):
        """The tf.data pipeline of (input, label) pairs for training from the dataset's examples."""

    def eval_input(self, example: dict, entry):
        """The model input of one evaluation example (deterministic: no augmentation)."""


REQUIRED_HOOKS = ("training_setup", "train_inputs", "eval_input")
OPTIONAL_HOOKS: dict[str, str] = {
    "train_examples": "train_examples(ds, entry) -> ds: examples regrouped before shuffling (e.g. detector pairs)",
    "metrics": "metrics(true, pred, context) -> dict: the split metrics (required for regression; classifiers "
               "default to accuracy, recall and confusion)",
    "decode_outputs": "decode_outputs(raw, entry) -> (means, stds): a head with more outputs than the task's",
    "uncertainty_metrics": "uncertainty_metrics(true, means, stds, patterns) -> dict: calibration of the stds",
    "score_split": "score_split(model, examples, entry, by, features) -> (metrics, groups): scored from whole examples",
    "leaderboard": "leaderboard(rows, splits, dataset, config) -> str: the task's own leaderboard table",
    "grouped_table": "grouped_table(record) -> str: the task's own per-group table",
    "report": "report(entries, out_dir, config, data_dir) -> list[Path]: the task's section of `stem-zoo report`",
}
HOOK_NAMES = (*REQUIRED_HOOKS, *OPTIONAL_HOOKS)


def check_task(task: ModuleType | Any) -> ModuleType:
    """``task`` (a task package or module) if its ``HOOKS`` name every required hook and only known ones, each as
    ``"module:function"``; else a clear error (cheap: imports nothing).

    >>> import types
    >>> check_task(types.SimpleNamespace(__name__="toy", HOOKS={"training_setup": "model:setup",
    ...                                                          "train_inputs": "model:inputs"}))
    Traceback (most recent call last):
    ...
    TypeError: toy is not a ZooTask: its HOOKS lack eval_input (see stem_zoo.task).
    """
    name = getattr(task, "__name__", type(task).__name__)
    hooks = getattr(task, "HOOKS", None)
    if not isinstance(hooks, dict):
        raise TypeError(f"{name} is not a ZooTask: it declares no HOOKS dict (see stem_zoo.task).")
    missing = [hook for hook in REQUIRED_HOOKS if hook not in hooks]
    if missing:
        raise TypeError(f"{name} is not a ZooTask: its HOOKS lack {', '.join(missing)} (see stem_zoo.task).")
    unknown = [hook for hook in hooks if hook not in HOOK_NAMES]
    if unknown:
        raise TypeError(f"{name}: unknown hooks {', '.join(unknown)}; known: {', '.join(HOOK_NAMES)}.")
    malformed = [hook for hook, target in hooks.items() if not (isinstance(target, str) and ":" in target)]
    if malformed:
        raise TypeError(f"{name}: hooks {', '.join(malformed)} must be 'module:function' strings.")
    return task


def task_of(entry) -> ModuleType:
    """The task of an entry: the package holding its builder module (or that module, outside a package)."""
    module = entry.builder.split(":")[0]
    package = module.rpartition(".")[0]
    return importlib.import_module(package or module)


def task_hook(entry, name: str, required: bool = False) -> Callable | None:
    """The task hook ``name`` of an entry (None where its task has none, or a clear error if ``required``)."""
    if name not in HOOK_NAMES:
        raise ValueError(f"{name!r} is not a stem_zoo task hook; known: {', '.join(HOOK_NAMES)}.")
    task = check_task(task_of(entry))
    target = task.HOOKS.get(name)
    if target is None:
        if required:
            raise TypeError(f"{entry.id}: its task {task.__name__} declares no {name!r} hook "
                            f"({OPTIONAL_HOOKS.get(name, name)}).")
        return None
    return resolve(task, target)


def builtin_tasks() -> dict[str, ModuleType]:
    """{name: package} of every task folder under ``stem_zoo/tasks`` (cheap: their ``__init__`` only)."""
    root = importlib.import_module(TASKS_PACKAGE)
    return {info.name: importlib.import_module(f"{TASKS_PACKAGE}.{info.name}")
            for info in pkgutil.iter_modules(root.__path__) if info.ispkg}


def task_packages(entries=()) -> dict[str, ModuleType]:
    """The task folders under ``stem_zoo/tasks``, then the tasks of ``entries`` that live elsewhere (models of
    ``STEM_ZOO_WEIGHTS_PATH``), by name (a task outside the package by its module's full name)."""
    tasks = builtin_tasks()
    for entry in entries:
        task = task_of(entry)
        if task not in tasks.values():
            tasks[task.__name__] = task
    return tasks


def resolve(task: ModuleType, target: str) -> Callable:
    """The function ``"module:function"`` names, the module relative to the task's package (``":function"``: in the
    task module itself)."""
    module, _, function = target.partition(":")
    owner = importlib.import_module(f"{task.__name__}.{module}") if module else task
    try:
        return getattr(owner, function)
    except AttributeError:
        raise TypeError(f"{task.__name__} declares {target!r}, but {owner.__name__} has no {function!r}.") from None


def facades(entries=()) -> dict[str, tuple[ModuleType, str]]:
    """{facade name: (task, "module:function")} of every task's ``FACADES``; a name declared twice is an error."""
    out: dict[str, tuple[ModuleType, str]] = {}
    for task in task_packages(entries).values():
        for name, target in getattr(task, "FACADES", {}).items():
            if name in out:
                raise ValueError(f"{task.__name__} and {out[name][0].__name__} both declare the facade {name!r}.")
            out[name] = (task, target)
    return out


def add_commands(subparsers, entries=()) -> None:
    """Every task's ``COMMANDS`` added to the ``stem-zoo`` parser's subparsers."""
    for task in task_packages(entries).values():
        for target in getattr(task, "COMMANDS", {}).values():
            resolve(task, target)(subparsers)
