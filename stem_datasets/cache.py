"""On-disk cache of simulation results, keyed by a hash of everything that made them.

Entries are plain ``.npz`` archives (read with ``allow_pickle=False``) written to a
temporary name and renamed, so an interrupted run never leaves a half-written entry.
A SHA-256 of the archive is kept beside it and checked on every read; an entry that
fails the check is treated as missing and recomputed.

Example:
    >>> import tempfile, numpy as np
    >>> cache = SimulationCache(tempfile.mkdtemp())
    >>> key = cache_key({"what": "example"})
    >>> cache.put(key, {"x": np.arange(3)})
    >>> cache.get(key)["x"].tolist()
    [0, 1, 2]
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

ENV_VAR = "STEM_ZOO_CACHE"


def default_cache_dir() -> Path:
    """``$STEM_ZOO_CACHE`` or ``~/.cache/stem_zoo/multislice``."""
    return Path(os.environ.get(ENV_VAR) or Path.home() / ".cache" / "stem_zoo" / "multislice")


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
    """A folder of verified ``.npz`` entries; ``hits``/``misses`` count look-ups."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0

    def _paths(self, key: str) -> tuple[Path, Path]:
        sub = self.directory / key[:2]
        return sub / f"{key}.npz", sub / f"{key}.sha256"

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        """The stored arrays, or None when absent or failing its checksum."""
        data_path, sum_path = self._paths(key)
        try:
            expected = sum_path.read_text().strip()
            if sha256_file(data_path) != expected:
                raise ValueError("checksum mismatch")
            with np.load(data_path, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return arrays

    def put(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Store arrays atomically (temporary file, then rename)."""
        data_path, sum_path = self._paths(key)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=data_path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, **arrays)
            digest = sha256_file(Path(tmp))
            os.replace(tmp, data_path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        tmp_sum = sum_path.with_suffix(".sha256.tmp")
        tmp_sum.write_text(digest + "\n")
        os.replace(tmp_sum, sum_path)
