"""Cache of simulation results in a folder or at any fsspec URL, keyed by a hash of everything that made them.

The location is a plain path or an fsspec URL (``file://``, ``gs://``, ``s3://``, ``memory://``; remote
ones need their fsspec package, e.g. ``gcsfs`` or ``s3fs``), ``$STEM_ZOO_CACHE`` by default, else
``~/.cache/stem_zoo/multislice``: Apache Beam workers share one cache through its URL. Entries are
``.npz`` archives of plain arrays, written with ``allow_pickle=False`` and read with it, so nothing
is ever unpickled. An entry is its archive, named by key and content (``<key>.<sha256[:16]>.npz``),
and then its record ``<key>.sha256`` holding the archive's SHA-256, written last: the record names
a whole archive, whichever of two workers writing one key wrote it last, and every read checks the
checksum (an entry that fails it is treated as missing and recomputed; archives of the older
layout, ``<key>.npz``, are still read). Each file is written whole under a unique temporary name
and then moved into place (on object stores, whose uploads appear whole or not at all, straight
to its name), so an interrupted run never leaves a torn entry that a reader would accept.

Example:
    >>> import numpy as np
    >>> cache = SimulationCache("memory://stem-zoo-doc")
    >>> key = cache_key({"what": "example"})
    >>> cache.put(key, {"x": np.arange(3)})
    >>> cache.get(key)["x"].tolist(), cache.url
    ([0, 1, 2], 'memory://stem-zoo-doc')
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
import zipfile
from pathlib import Path

import numpy as np

ENV_VAR = "STEM_ZOO_CACHE"
# Object stores: an upload becomes visible whole or not at all, so entries are written straight to their name.
WHOLE_UPLOADS = frozenset({"gs", "gcs", "s3", "s3a", "az", "abfs", "memory"})


def default_cache_url() -> str:
    """``$STEM_ZOO_CACHE`` (a path or an fsspec URL) or ``~/.cache/stem_zoo/multislice``."""
    return os.environ.get(ENV_VAR) or str(Path.home() / ".cache" / "stem_zoo" / "multislice")


def cache_key(description: dict) -> str:
    """SHA-256 of a JSON description (sorted keys, floats as written by ``repr``)."""
    text = json.dumps(description, sort_keys=True, default=_jsonable)
    return hashlib.sha256(text.encode()).hexdigest()


def atoms_description(atoms) -> dict:
    """What identifies a structure in a cache key: species, positions and cell (rounded to 1e-6 A)."""
    return {
        "numbers": atoms.numbers,
        "positions": np.round(atoms.positions, 6),
        "cell": np.round(atoms.cell.diagonal(), 6),
    }


def unit_interval(*parts) -> float:
    """A number in [0, 1) fixed by ``parts`` (their str), for reproducible split and seed draws."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"cannot put {type(value).__name__} into a cache key")


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class SimulationCache:
    """Verified ``.npz`` entries under ``url``; ``hits``/``misses`` count look-ups. Pickles as its URL alone."""

    def __init__(self, url: str | os.PathLike | None = None):
        self.url = os.fspath(url) if url is not None else default_cache_url()
        self.hits = 0
        self.misses = 0
        self._fs = None

    def __reduce__(self):
        return SimulationCache, (self.url,)

    @property
    def fs(self):
        """The fsspec file system (opened on first use: ``import stem_datasets`` stays light)."""
        if self._fs is None:
            import fsspec

            self._fs, self._root = fsspec.core.url_to_fs(self.url)
        return self._fs

    @property
    def root(self) -> str:
        """The cache's folder as its file system names it."""
        self.fs  # noqa: B018  (opens it)
        return self._root

    @property
    def is_local(self) -> bool:
        """True for a folder on this machine (a plain path or ``file://``)."""
        return "file" in _protocols(self.fs)

    @property
    def directory(self) -> Path:
        """The local folder of the cache; a ValueError for a remote or in-memory one."""
        if not self.is_local:
            raise ValueError(f"the simulation cache {self.url} is not a local folder.")
        return Path(self.root)

    def _base(self, key: str) -> str:
        return f"{self.root.rstrip('/')}/{key[:2]}/{key}"

    def _archives(self, key: str, digest: str) -> tuple[str, str]:
        """Where the archive of a record may be: named by its content, or (older layout) by its key alone."""
        return f"{self._base(key)}.{digest[:16]}.npz", f"{self._base(key)}.npz"

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        """The stored arrays, or None when absent or failing its checksum."""
        try:
            expected = self.fs.cat_file(f"{self._base(key)}.sha256").decode().strip()
            for path in self._archives(key, expected):
                try:
                    data = self.fs.cat_file(path)
                except FileNotFoundError:
                    continue
                if hashlib.sha256(data).hexdigest() == expected:
                    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                        arrays = {name: archive[name] for name in archive.files}
                    self.hits += 1
                    return arrays
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
            pass
        self.misses += 1
        return None

    def put(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Store arrays (never pickled: an object array is a ValueError): the archive, then its record."""
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        data = buffer.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        self._write(self._archives(key, digest)[0], data)
        self._write(f"{self._base(key)}.sha256", (digest + "\n").encode())

    def get_json(self, key: str):
        """A JSON value stored by :meth:`put_json`, or None."""
        stored = self.get(key)
        return None if stored is None else json.loads(str(stored["json"]))

    def put_json(self, key: str, value) -> None:
        """Store a JSON-able value (as a text array: still no pickle)."""
        self.put(key, {"json": np.array(json.dumps(value, default=_jsonable))})

    def delete(self, key: str) -> None:
        """Remove an entry if present (its record first)."""
        record = f"{self._base(key)}.sha256"
        try:
            digest = self.fs.cat_file(record).decode().strip()
        except FileNotFoundError:
            return
        for path in (record, *self._archives(key, digest)):
            try:
                self.fs.rm_file(path)
            except FileNotFoundError:
                pass

    def _write(self, path: str, data: bytes) -> None:
        fs = self.fs
        if WHOLE_UPLOADS & set(_protocols(fs)):
            fs.pipe_file(path, data)
            return
        fs.makedirs(fs._parent(path), exist_ok=True)
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        try:
            fs.pipe_file(tmp, data)
            if self.is_local:
                os.replace(tmp, path)  # atomic, and replaces an entry another worker wrote meanwhile
            else:
                fs.mv(tmp, path)
        finally:
            if fs.exists(tmp):
                fs.rm_file(tmp)


def _protocols(fs) -> tuple[str, ...]:
    return (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
