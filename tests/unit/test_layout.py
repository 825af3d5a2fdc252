"""Where a test goes (docs/contributing.md): every test module is in tests/unit/, tests/integration/ or tests/e2e/;
unit/ mirrors the package's folders; only tests/e2e/ starts a harness or pip process (the folder sets the `e2e`
marker); no test module imports another (shared code is in tests/support/)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import lmms_safebench

TESTS = Path(__file__).resolve().parents[1]
KINDS = ("unit", "integration", "e2e")
PACKAGE = Path(lmms_safebench.__file__).parent
# How a test starts lmms-eval, lm-eval or pip: the `lmms_eval` helper, a console script, or `python -m`.
HARNESS_PROCESS = re.compile(r'\blmms_eval\(|BIN / "(lmms-eval|lm_eval|lm-eval)"|"-m", "(pip|lmms_eval|lm_eval)"')


def python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_test_module_is_in_one_of_the_three_kinds_and_support_holds_none():
    misplaced = [str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py")
                 if p.relative_to(TESTS).parts[0] not in KINDS]
    assert not misplaced, f"move these under tests/unit/, tests/integration/ or tests/e2e/: {misplaced}"


def test_unit_folders_mirror_the_package():
    packages = {p.relative_to(PACKAGE) for p in PACKAGE.rglob("__init__.py")}
    packages = {p.parent for p in packages}
    unit = TESTS / "unit"
    strays = [str(d.relative_to(unit)) for d in unit.rglob("*") if d.is_dir() and d.name != "__pycache__"
              and d.relative_to(unit) not in packages]
    assert not strays, f"tests/unit/<folder> must be a folder of lmms_safebench/: {strays}"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def test_no_test_module_imports_another():
    test_modules = {p.stem for p in TESTS.rglob("test_*.py")}
    offending = []
    for path in python_files():
        for line, module in imported_modules(path):
            first = module.lstrip(".").split(".")[0]
            if module.startswith(".") or first == "tests" or first in test_modules or first.startswith("test_"):
                offending.append(f"{path.relative_to(TESTS)}:{line} imports {module}")
    assert not offending, f"move what is shared into tests/support/: {offending}"


def test_only_e2e_tests_start_a_harness_or_pip_process():
    outside = [f"{path.relative_to(TESTS)}:{n}" for path in TESTS.rglob("test_*.py")
               if path.relative_to(TESTS).parts[0] != "e2e" and path.name != "test_layout.py"
               for n, line in enumerate(path.read_text().splitlines(), 1) if HARNESS_PROCESS.search(line)]
    assert not outside, f"a test that starts lmms-eval, lm-eval or pip belongs in tests/e2e/: {outside}"


def test_the_e2e_marker_comes_from_the_folder_only():
    marked = [str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py") if "mark.e2e" in p.read_text()
              and p.name != "test_layout.py"]
    assert not marked, f"tests/conftest.py marks everything under tests/e2e/; drop these per-test marks: {marked}"


def test_every_e2e_module_says_in_the_contributing_guide_what_only_the_harness_shows():
    """Harness processes are the suite's cost: a new one is justified in docs/contributing.md's table, one row a
    module (and a row whose module is gone is stale)."""
    guide = (TESTS.parent / "docs" / "contributing.md").read_text()
    table = guide.split("## The harness processes tests/e2e starts", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(test_\w+\.py)` \|", table, re.M))
    present = {p.name for p in (TESTS / "e2e").glob("test_*.py")}
    assert not present - listed, f"add these to docs/contributing.md's table of harness processes: {sorted(present - listed)}"
    assert not listed - present, f"docs/contributing.md lists e2e modules that are gone: {sorted(listed - present)}"
