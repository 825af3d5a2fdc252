"""Packaging, checked from setup.cfg as setuptools reads it: every sub-package (and the task folders) is found without
a hand-kept list, and every third-party distribution that the shipped code imports is declared."""

import ast
import re
import shutil
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from helpers import REPO
from packaging.requirements import Requirement
from setuptools.dist import Distribution

SHIPPED = [REPO / "lmms_safebench", REPO / "tasks"]  # tasks/ ships as lmms_safebench/tasks
# Imported on purpose without a declaration, each for its reason.
UNDECLARED = {
    "parler_tts": "Parler-TTS pins transformers 4.46.1; generate/media/speech.py says how to run it beside this "
                  "project when it is missing",
}


def read_setup_cfg(root: Path) -> Distribution:
    """The distribution that setup.cfg under ``root`` describes, with its packages discovered as a build does."""
    dist = Distribution()
    dist.parse_config_files([str(root / "setup.cfg")])
    dist.set_defaults()  # setuptools' automatic package discovery
    return dist


@pytest.fixture
def dist(monkeypatch) -> Distribution:
    monkeypatch.chdir(REPO)  # setuptools resolves package_dir and discovery against the working folder
    return read_setup_cfg(REPO)


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imports(roots: list[Path]) -> dict[str, set[str]]:
    """``{top-level module: files importing it}`` over every import statement (function-local ones included) of
    the ``.py`` files under ``roots``, leaving out the standard library and this package."""
    found: dict[str, set[str]] = {}
    for root in roots:
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top != "lmms_safebench":
                        found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def test_every_sub_package_and_the_task_folders_are_found_without_a_list(dist, tmp_path, monkeypatch):
    source = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "lmms_safebench").rglob("__init__.py")}
    assert source <= set(dist.packages), source - set(dist.packages)
    assert "lmms_safebench.tasks" in dist.packages and dist.package_dir["lmms_safebench.tasks"] == "tasks"
    # A sub-package added later ships with no edit of setup.cfg.
    for name in ("setup.cfg", "README.md", "LICENSE"):
        shutil.copy(REPO / name, tmp_path / name)
    for name in ("lmms_safebench", "tasks"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "lmms_safebench" / "benchmarks" / "brand_new").mkdir()
    (tmp_path / "lmms_safebench" / "benchmarks" / "brand_new" / "__init__.py").write_text("")
    monkeypatch.chdir(tmp_path)
    assert "lmms_safebench.benchmarks.brand_new" in read_setup_cfg(tmp_path).packages


def test_every_imported_distribution_is_declared(dist):
    declared = {normalized(Requirement(line).name)
                for line in [*dist.install_requires, *(r for extra in dist.extras_require.values() for r in extra)]}
    providers = packages_distributions()
    found = imports(SHIPPED)
    undeclared = []
    for module, files in sorted(found.items()):
        if module in UNDECLARED:
            continue
        names = {normalized(d) for d in providers.get(module, [])}
        if not names & declared:
            undeclared.append(f"{module} (distribution {sorted(names) or 'not installed'}; imported by "
                              f"{', '.join(sorted(files)[:3])})")
    assert undeclared == [], "declare in setup.cfg: " + "; ".join(undeclared)
    # The exceptions stay true: still imported, still not declared.
    for module in UNDECLARED:
        assert module in found, f"{module} is no longer imported: drop it from UNDECLARED"
        assert not {normalized(d) for d in providers.get(module, [module])} & declared, module
