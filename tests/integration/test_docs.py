# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plugin and role documentation: `ansible-doc` renders every module, and `antsibull-docs lint-collection-docs
--plugin-docs` passes on the collection.

antsibull-docs copies the collection and its galaxy.yml dependencies into a temporary tree, choosing a git-aware
copy for anything inside a git work tree. The venv's amazon.aws / kubernetes.core live under .venv/ (git-ignored,
inside this repo), so they would be copied empty. The test therefore lints a real copy laid out as
ansible_collections/portkey_ai/gateway (tracked and untracked, non-ignored files) next to plain copies of the
dependencies, with only that tree on the collections path.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if not p.name.startswith("_"))
# not part of the collection's content (galaxy.yml build_ignore, the lab, the checkout's own collections link)
SKIP_PREFIXES = ("collections/", "lab/", ".ci/", "scripts/", "requirements/", "tests/output/", "awx/")


def _env(**extra):
    env = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}", ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CONFIG", None)
    env.update(extra)
    return env


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders_module(module):
    proc = subprocess.run([str(VENV_BIN / "ansible-doc"), "-t", "module", f"portkey_ai.gateway.{module}"],
                          cwd=ROOT, env=_env(ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections")),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and "[ERROR]" not in proc.stderr, proc.stderr
    assert f"portkey_ai.gateway.{module}" in proc.stdout
    for section in ("OPTIONS", "EXAMPLES", "RETURN VALUES"):
        assert section in proc.stdout, f"{module}: ansible-doc shows no {section}"


def test_modules_exist():
    assert MODULES, "no modules in plugins/modules"


def _collection_copy(dest_root: Path) -> Path:
    dest = dest_root / "ansible_collections" / "portkey_ai" / "gateway"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if rel.startswith(SKIP_PREFIXES) or not src.is_file() or src.is_symlink():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
    return dest


def _copy_dependencies(dest_root: Path):
    """Plain copies of galaxy.yml's dependencies (transitively), found where ansible finds them."""
    listing = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "list", "--format", "json"],
                             cwd=dest_root, env=_env(), capture_output=True, text=True, check=True).stdout
    found = {}
    for path, collections in json.loads(listing[listing.index("{"):]).items():
        for fqcn in collections:
            found.setdefault(fqcn, Path(path) / Path(*fqcn.split(".")))
    todo = list((yaml.safe_load((ROOT / "galaxy.yml").read_text()).get("dependencies") or {}))
    done = set()
    while todo:
        fqcn = todo.pop()
        if fqcn in done:
            continue
        done.add(fqcn)
        assert fqcn in found, f"dependency {fqcn} is not installed"
        target = dest_root / "ansible_collections" / Path(*fqcn.split("."))
        shutil.copytree(found[fqcn], target, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "tests", "docs"))
        manifest = target / "MANIFEST.json"
        if manifest.is_file():
            todo.extend(json.loads(manifest.read_text())["collection_info"].get("dependencies") or {})


def test_antsibull_docs_lint_collection_docs(tmp_path):
    collection = _collection_copy(tmp_path)
    _copy_dependencies(tmp_path)
    proc = subprocess.run([str(VENV_BIN / "antsibull-docs"), "lint-collection-docs", "--plugin-docs", "."],
                          cwd=collection, capture_output=True, text=True, timeout=600, check=False,
                          env=_env(ANSIBLE_COLLECTIONS_PATH=str(tmp_path), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_antsibull_changelog_lint():
    proc = subprocess.run([str(VENV_BIN / "antsibull-changelog"), "lint"], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_antsibull_changelog_release_in_a_copy(tmp_path):
    """`antsibull-changelog release --version <galaxy.yml version>` works (in a copy: the repo is not released)."""
    collection = _collection_copy(tmp_path)
    _copy_dependencies(tmp_path)
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    proc = subprocess.run([str(VENV_BIN / "antsibull-changelog"), "release", "--version", version], cwd=collection,
                          capture_output=True, text=True, timeout=600, check=False,
                          env=_env(ANSIBLE_COLLECTIONS_PATH=str(tmp_path), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    changelog = yaml.safe_load((collection / "changelogs" / "changelog.yaml").read_text())
    assert version in changelog["releases"]
    assert f"v{version}" in (collection / "CHANGELOG.rst").read_text()
