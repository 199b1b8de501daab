"""The import graph of stem_datasets (builders included) and stem_zoo: no cycles, no arrow from a lower layer up.

Layers, bottom up (:data:`LAYERS`): ``stem_datasets.physics`` < ``.simulation`` < ``.pipeline`` <
``stem_datasets.builders`` (each dataset's folder: builder, recipe, its own analysis) < the
datasets' application (``stem_datasets`` itself: the CLI, reports, publishing) < the zoo's core
(``stem_zoo.*`` outside ``stem_zoo.tasks``) < its tasks (``stem_zoo.tasks.<name>``). Every
``import`` counts, at module level or inside a function; a lower layer reaches a higher one only
through names it is given (an entry's builder, a task folder's declarations, an entry point, the
builder folders found on disk), never by importing it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"stem_datasets": ROOT / "stem_datasets", "stem_datasets.builders": ROOT / "builders",
            "stem_zoo": ROOT / "stem_zoo"}


def modules(packages: dict[str, Path]) -> dict[str, Path]:
    """{dotted module name: file} of every .py file of the packages."""
    found = {}
    for package, folder in packages.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((package, *parts))
            found[name.removesuffix(".__init__")] = path
    return found


def import_graph(packages: dict[str, Path]) -> dict[str, set[str]]:
    """{module: modules of the packages it imports}, every import statement (module level or not)."""
    known = modules(packages)
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module
                # ``from a import b``: module a.b where there is one, else the names of module a
                targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                           for alias in node.names]
            for target in targets:
                # the deepest known module the target names (``import a.b.c`` imports a.b.c, and a.b, a)
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


LAYERS = ("stem_datasets.physics", "stem_datasets.simulation", "stem_datasets.pipeline", "stem_datasets.builders",
          "stem_datasets", "stem_zoo", "stem_zoo.tasks")  # bottom up; a module's layer is its longest prefix here


def layer(module: str) -> int:
    """The index in :data:`LAYERS` of the longest layer prefix of ``module``.

    >>> [layer(m) for m in ("stem_datasets.physics.glazer", "stem_datasets.cli", "stem_zoo.hub", "stem_zoo.tasks.tilt")]
    [0, 4, 5, 6]
    """
    matches = [k for k, prefix in enumerate(LAYERS) if module == prefix or module.startswith(prefix + ".")]
    return max(matches, key=lambda k: len(LAYERS[k]))


def upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) where a lower layer imports a higher one."""
    return sorted((a, b) for a, targets in graph.items() for b in targets if layer(b) > layer(a))


@pytest.fixture(scope="module")
def graph():
    return import_graph(PACKAGES)


def test_the_graph_covers_every_module_and_sees_lazy_imports(graph):
    assert {"stem_datasets.physics.glazer", "stem_datasets.builders.stem_abf_tilt.stem_abf_tilt_dataset_builder",
            "stem_zoo.hub", "stem_zoo.tasks.tilt.maps"} <= set(graph)
    assert "stem_zoo.tasks.tilt.maps" in graph["stem_zoo.tasks.tilt.report"]  # imported inside a function
    assert "stem_datasets.physics.glazer" in graph["stem_zoo.tasks.tilt.metrics"]


def test_no_import_cycles(graph):
    assert cycles(graph) == [], "modules that import each other (directly or around a loop)"


def test_no_lower_layer_imports_a_higher_one(graph):
    assert upward(graph) == [], "stem_datasets must not import stem_zoo, nor the zoo's core a task"


def test_the_checks_catch_a_cycle_and_an_upward_arrow(tmp_path):
    (tmp_path / "stem_datasets" / "physics").mkdir(parents=True)
    (tmp_path / "stem_zoo" / "tasks" / "toy").mkdir(parents=True)
    files = {"stem_datasets/__init__.py": "", "stem_datasets/physics/__init__.py": "",
             "stem_datasets/physics/lattice.py": "def f():\n    import stem_zoo.hub\n    import stem_datasets.cli\n",
             "stem_datasets/cli.py": "",
             "stem_zoo/__init__.py": "", "stem_zoo/hub.py": "from stem_zoo import train\n",
             "stem_zoo/train.py": "from .hub import x\nfrom stem_zoo.tasks.toy import model\n",
             "stem_zoo/tasks/__init__.py": "", "stem_zoo/tasks/toy/__init__.py": "",
             "stem_zoo/tasks/toy/model.py": "import numpy\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    toy = import_graph({"stem_datasets": tmp_path / "stem_datasets", "stem_zoo": tmp_path / "stem_zoo"})
    assert cycles(toy) == [["stem_zoo.hub", "stem_zoo.train"]]
    assert upward(toy) == [("stem_datasets.physics.lattice", "stem_datasets.cli"),
                           ("stem_datasets.physics.lattice", "stem_zoo.hub"), ("stem_zoo.train", "stem_zoo.tasks.toy.model")]
