"""The registry: lazy "module:attr" maps for built-ins and generated kinds, benchmarks of other packages through the
entry-point group, and a regenerated manifest noticed without anybody telling the registry."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from lmms_safebench.benchmarks import registry
from lmms_safebench.data import store

TAXONOMY = {"categories": [{"slug": "money", "abbr": "MO", "title": "Money", "definition": "",
                            "scenarios": [{"slug": "scams", "title": "Scams", "definition": ""}]}]}


def test_looking_up_a_builtin_imports_no_family_and_nothing_imports_the_registry_to_register():
    code = textwrap.dedent("""
        import sys
        from lmms_safebench.benchmarks import registry
        assert registry.get("safebench").key == "safebench"
        loaded = [m for m in sys.modules if m.endswith(".family") and m.startswith("lmms_safebench")]
        assert loaded == [], loaded
        assert "lmms_safebench.benchmarks.mmsafetybench" not in sys.modules  # asked for one benchmark, got one
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
    assert not hasattr(registry, "register_family") and not hasattr(registry, "reset")
    for family in registry.FAMILIES.values():
        module, _, attr = family.partition(":")
        assert callable(registry.load(family)), family


def test_a_regenerated_manifest_is_noticed_even_within_one_clock_tick(monkeypatch, tmp_path):
    folder = registry.generated_dir("fin")
    folder.mkdir(parents=True)
    manifest = {"benchmark": "gen_fin", "family": "safebench", "name": "fin", "title": "Before", "taxonomy": TAXONOMY}
    store.write_manifest(folder, manifest)
    first = registry.get("gen_fin")
    assert first.title == "Before" and registry.get("gen_fin") is first  # kept while the file is unchanged
    before = (folder / "manifest.json").stat()
    store.write_manifest(folder, {**manifest, "title": "Second"})
    # A coarse file-system clock gives the rewrite the same modification time (and here the same size): still seen.
    os.utime(folder / "manifest.json", ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (folder / "manifest.json").stat().st_size == before.st_size
    assert registry.get("gen_fin").title == "Second"


def test_an_unknown_family_or_key_is_named(tmp_path):
    folder = registry.generated_dir("odd")
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"family": "nope", "name": "odd"}))
    with pytest.raises(KeyError, match="unknown benchmark family 'nope'"):
        registry.get("gen_odd")
    with pytest.raises(KeyError, match="unknown benchmark 'nothing'.*registered: .*'safebench'"):
        registry.get("nothing")


def fake_distribution(root, name: str, module: str, source: str, entry: str):
    """A package and its ``.dist-info`` with an ``entry_points.txt``, as pip would install them, under ``root``."""
    (root / module).mkdir(parents=True)
    (root / module / "__init__.py").write_text(textwrap.dedent(source))
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\n{entry}\n")


def test_another_package_adds_a_benchmark_through_the_entry_point_group(monkeypatch, tmp_path):
    fake_distribution(tmp_path / "site", "plugin-bench", "plugin_bench", """
        from lmms_safebench.benchmarks.base import Benchmark

        class PluginBench(Benchmark):
            key, title, task_prefix, default_protocol = "pluginbench", "Plugin bench", "safebench_plugin", "single"
    """, "pluginbench = plugin_bench:PluginBench")
    monkeypatch.setattr(registry, "_adapters", {})
    with pytest.raises(KeyError):
        registry.get("pluginbench")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    adapter = registry.get("pluginbench")
    assert type(adapter).__name__ == "PluginBench" and adapter.title == "Plugin bench"
    assert "pluginbench" in registry.registered() and registry.registered()["safebench"] == registry.BUILTINS["safebench"]
    assert [a.key for a in registry.builtins()] == [*sorted(registry.BUILTINS), "pluginbench"]  # built-ins first


def test_a_broken_benchmark_of_another_package_costs_its_own_tasks_only(monkeypatch, tmp_path):
    from loguru import logger

    from lmms_safebench.harness import discovery, taskindex

    site = tmp_path / "site"
    fake_distribution(site, "broken-bench", "broken_bench", "raise ImportError('a dependency is missing')",
                      "brokenbench = broken_bench:BrokenBench")
    fake_distribution(site, "odd-bench", "odd_bench", """
        from lmms_safebench.benchmarks.base import Benchmark

        class OddBench(Benchmark):
            key, title, task_prefix, default_protocol = "oddbench", "Odd bench", "safebench_odd", "single"

            def task_folders(self):
                return {"lmms-eval": "/nowhere"}  # not a harness name
    """, "oddbench = odd_bench:OddBench")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry, "_adapters", {})
    monkeypatch.setattr(discovery, "_warned", set())
    assert registry.plugins() == ["brokenbench", "oddbench"]
    warnings = []
    sink = logger.add(lambda message: warnings.append(message.record["message"]), level="WARNING")
    try:
        assert discovery.registered_tasks_dirs() == []
        tasks, _ = taskindex.index()
    finally:
        logger.remove(sink)
    assert "safebench_mmsb_tiny_typo_01_illegal_activity" in tasks  # every other task is there
    assert len(warnings) == 2, warnings  # one per benchmark, however often its folders are asked for
    broken, odd = sorted(warnings)
    assert "'brokenbench' (broken_bench:BrokenBench) are left out" in broken
    assert "cannot be loaded: ImportError: a dependency is missing" in broken
    assert "'oddbench'" in odd and "names the harness 'lmms-eval'; known: lmms_eval, lm_eval" in odd
