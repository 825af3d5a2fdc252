"""The layering of the LLM transport (issue 14, phase 1): llm/ is the one transport, jury/ and generate/ sit on it.

The import graph is read from the source (every ``import`` statement, function-local ones included), so a cycle
hidden behind a local import counts too.
"""

import ast
import sys
from pathlib import Path

import lmms_safebench

ROOT = Path(lmms_safebench.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The lmms_safebench modules ``path`` imports, anywhere in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # `from . import prompts` is a module
    return {m for m in found if m.startswith("lmms_safebench")}


def graph(*packages: str) -> dict[str, set[str]]:
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    inside = {m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)}
    return {m: {i for i in imports_of(modules[m]) if i in inside and i != m} for m in inside}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10_000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_llm_and_jury_have_no_import_cycle():
    # Package __init__ files re-export their modules; a module importing its own package is not a cycle here.
    edges = {m: {i for i in deps if not m.startswith(i + ".")}
             for m, deps in graph("lmms_safebench.llm", "lmms_safebench.jury").items()}
    assert cycles(edges) == []


def test_the_transport_knows_nothing_of_jury_or_generators():
    for path in (ROOT / "llm").rglob("*.py"):
        for dep in imports_of(path):
            assert not dep.startswith(("lmms_safebench.jury", "lmms_safebench.generate")), (path.name, dep)


def test_generators_and_selection_take_their_transport_from_llm_not_from_the_jury():
    # Refusal patterns (jury.heuristic), the prompt fence (jury.prompts) and criteria (jury.case) are the jury's
    # own vocabulary, which the generators reuse; nothing of its transport or configuration.
    allowed = ("lmms_safebench.jury.heuristic", "lmms_safebench.jury.prompts", "lmms_safebench.jury.case")
    for folder in ("generate", "selection"):
        for path in (ROOT / folder).rglob("*.py"):
            for dep in imports_of(path):
                if dep.startswith("lmms_safebench.jury") and dep != "lmms_safebench.jury":
                    assert dep.startswith(allowed), (path.relative_to(ROOT), dep)


def test_one_call_cache_serves_jurors_and_generators(tmp_path):
    from lmms_safebench.jury.cache import JudgeCache, call_key
    from lmms_safebench.llm import cache

    judge = JudgeCache(tmp_path / "judge.sqlite")
    assert isinstance(judge, cache.CallCache)
    key = call_key({"name": "j"}, [{"role": "user", "content": "é"}])
    assert key == cache.call_key({"juror": {"name": "j"}, "messages": [{"role": "user", "content": "é"}]})
    judge.put(key, "j", "m", {"status": "ok", "verdict": {"unsafe": 1, "rating": 2, "rationale": "r"},
                              "reply": "x", "error": None})
    assert judge.get(key)["verdict"] == {"unsafe": 1, "rating": 2, "rationale": "r"}
    assert judge.get(key)["prompt_tokens"] == 0 and judge.count() == 1


def test_task_start_up_imports_no_heavy_transport_dependency():
    import subprocess

    code = ("import sys, lmms_safebench.harness.hooks; "
            "print(sorted(m for m in ('openai', 'torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_generators_have_no_import_cycle_and_their_commands_start_light():
    """generate/: core/ and media/ under three generator packages, no cycle among them (issue 14, phase 3); a
    generator package's __init__ (HELP, add_arguments, main) imports none of its pipeline until main runs."""
    edges = {m: {i for i in deps if not m.startswith(i + ".")}
             for m, deps in graph("lmms_safebench.generate").items()}
    assert cycles(edges) == []
    import subprocess

    packages = [f"lmms_safebench.generate.{name}" for name in ("safebench", "mmsafetybench", "vlsafety")]
    code = (f"import sys; import {', '.join(packages)}; "
            "print(sorted(m for m in sys.modules if m.startswith('lmms_safebench.generate.') or "
            "m in ('openai', 'torch', 'datasets', 'transformers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(sorted(packages)), out.stdout + out.stderr
