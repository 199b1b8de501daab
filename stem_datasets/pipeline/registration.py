"""How the dataset builders reach TFDS without ``import stem_datasets`` importing TensorFlow.

``import stem_datasets`` calls :func:`install`: the physics modules stay free of TensorFlow,
and the builders (``stem_datasets.builders``) register with TFDS as soon as both packages
are imported, in either order. If ``tensorflow_datasets`` is imported already they register
at once; otherwise a finder on ``sys.meta_path`` wraps its loader and registers them right
after ``tensorflow_datasets`` finishes importing. The same finder maps
``stem_datasets.builders`` to the ``builders/`` folder of a source checkout (installed, it
is a real subpackage).

Example:
    >>> import sys
    >>> install()  # idempotent; ``import stem_datasets`` already did it
    >>> sum(isinstance(f, _Finder) for f in sys.meta_path)
    1
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # stem_datasets/
TFDS = "tensorflow_datasets"
BUILDERS = "stem_datasets.builders"


def builders_dir() -> Path:
    """The folder of the packaged builders: ``stem_datasets/builders`` installed, ``builders/`` in a checkout."""
    installed = _PACKAGE / "builders"
    return installed if installed.is_dir() else _PACKAGE.parent / "builders"


_deferred = False  # TFDS finished importing while stem_datasets.pipeline.offline, which the builders need, was half-imported


def register() -> None:
    """Import every builder (registers it with TFDS); a failing one warns instead of breaking TFDS's import.

    When TFDS is first imported by ``stem_datasets.pipeline.offline`` itself (``import stem_datasets.pipeline.offline`` before
    anything else), the builders cannot import that half-initialized module yet: registration waits for
    :func:`register_deferred`, which ``offline`` calls as its last line.
    """
    global _deferred
    offline = sys.modules.get("stem_datasets.pipeline.offline")
    if not _deferred and offline is not None and getattr(offline.__spec__, "_initializing", False):
        _deferred = True
        return
    _deferred = False
    try:
        importlib.import_module(BUILDERS).register_all()
    except Exception as error:  # noqa: BLE001  (reported, and raised again by `stem_datasets.builders.register_all()`)
        warnings.warn(f"stem_datasets: the dataset builders did not register with TFDS: {error!r}", stacklevel=2)


def register_deferred() -> None:
    """Register now if :func:`register` had to wait for ``stem_datasets.pipeline.offline`` (whose names all exist by then)."""
    if _deferred:
        register()


class _RegisteringLoader(importlib.abc.Loader):
    """Runs the real loader of ``tensorflow_datasets``, then :func:`register`."""

    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__loader__ = module.__spec__.loader = self.loader  # the real loader from here on
        self.loader.exec_module(module)
        register()


class _Finder(importlib.abc.MetaPathFinder):
    """Finds ``stem_datasets.builders`` in a source checkout and hooks the import of ``tensorflow_datasets``."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == BUILDERS and not (_PACKAGE / "builders").is_dir():
            folder = builders_dir()
            return importlib.util.spec_from_file_location(
                fullname, folder / "__init__.py", submodule_search_locations=[str(folder)])
        if fullname != TFDS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _RegisteringLoader(spec.loader)
                return spec
        return None


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once); register now if TFDS is imported already."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    if TFDS in sys.modules:
        register()  # idempotent: each builder module is imported once
