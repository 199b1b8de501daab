"""The source distribution carries what its own test run needs (MANIFEST.in): about 10 s, most of it gzip."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "runs", "report", "build", "dist", "__pycache__", "*.egg-info",
                                    ".pytest_cache")


@pytest.mark.skipif(not (ROOT / "setup.cfg").is_file(), reason="needs a source checkout")
def test_sdist_ships_tests_bench_cards_and_builders(tmp_path):
    import setuptools.build_meta as build_meta  # the PEP 517 backend of pyproject.toml: must run, never skip

    source = tmp_path / "source"  # a copy: building writes an egg-info folder into the tree
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE, symlinks=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(source)
        name = build_meta.build_sdist(str(tmp_path / "dist"))
    with tarfile.open(tmp_path / "dist" / name) as archive:
        members = {m.name.split("/", 1)[1]: m for m in archive.getmembers() if "/" in m.name}
        cards = {p.name: archive.extractfile(members[f"cards/{p.name}"]).read() for p in (ROOT / "cards").iterdir()}

    wanted = {"README.md", "LICENSE", "setup.cfg", "pyproject.toml", "conftest.py", "MANIFEST.in", ".ci/run"}
    for folder in ("tests", "bench", "builders", "stem_zoo/weights"):
        wanted |= {str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    assert wanted - set(members) == set()
    assert not [n for n in members if n.startswith(("runs/", "report/")) or "__pycache__" in n]
    for card, text in cards.items():  # the symlinks arrive as files holding their targets' text
        assert members[f"cards/{card}"].isfile() and text == (ROOT / "cards" / card).read_bytes(), card
