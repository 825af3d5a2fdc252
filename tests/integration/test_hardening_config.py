"""Bad names, broken generated folders, alias bombs, secrets in error messages, loose types and hostile titles:
each is refused or contained with a message naming what is at fault, and nothing else breaks."""

import json
import shutil
import subprocess
import sys
import textwrap

import pytest
from pydantic import ValidationError

from lmms_safebench import cli
from lmms_safebench.benchmarks import registry
from lmms_safebench.benchmarks.safebench.family import tasks as safebench_tasks
from lmms_safebench.errors import ConfigError, DataError
from lmms_safebench.generate.core.config import load, parse
from lmms_safebench.generate.mmsafetybench.config import MMSBGenConfig
from lmms_safebench.generate.mmsafetybench.questions import plan, read_rows
from lmms_safebench.generate.output import TaxCategory, TaxScenario, write_manifest, write_tasks
from lmms_safebench.generate.safebench import taxonomy as T
from lmms_safebench.generate.safebench.config import SafeBenchConfig
from lmms_safebench.generate.vlsafety.config import TaxonomySpec, VLSafetyConfig
from lmms_safebench.harness import taskindex
from lmms_safebench.jury.config import build_juror, build_jury
from lmms_safebench.paths import data_dir

KEY = "sk-live-CANARY0a1b2c3d4e5f6g7h8i9"

TAXONOMY = [TaxCategory("finance", "FI", "Finance", "money matters", (TaxScenario("loan_fraud", "Loan Fraud"),))]


def bomb(levels: int) -> str:
    """A YAML alias bomb: `levels` lists of nine aliases of the list before (9**levels strings), < 1 KB."""
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for previous, name in zip("abcdefghijklmno"[:levels - 1], "bcdefghijklmnop"[:levels - 1], strict=True):
        text += f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]\n"
    return text


def taxonomy(*categories) -> dict:
    return {"categories": list(categories)}


# ------------------------------------------------------------------------------------------ names and slugs

def test_names_slugs_and_abbreviations_are_matched_whole(tmp_path, capsys):
    for bad in ("nl\n", "ok\n", "Upper", "1st", "a" * 49, "", None):
        with pytest.raises(DataError, match="benchmark name"):
            registry.check_name(bad)
    assert registry.check_name("fin_2") == "fin_2"
    # The command refuses such a name before anything is made.
    questions = tmp_path / "q.csv"
    questions.write_text('question,scenario\n"How do I forge a cheque?",Fraud\n')
    config = tmp_path / "gen.yaml"
    config.write_text('{"llm": {"model": "m", "base_url": "http://127.0.0.1:9/v1"}}')
    assert cli.main(["generate", "mmsafetybench", str(config), "--questions", str(questions), "--name", "nl\n"]) == 2
    assert "benchmark name 'nl\\n'" in capsys.readouterr().err
    assert not (data_dir() / "generated").exists() or not any((data_dir() / "generated").iterdir())
    # SafeBench-style taxonomy slugs and abbreviations, VLSafety slugs and abbreviations.
    for entry, field in (({"title": "Fin", "slug": "fin\n"}, "categories.0.slug"),
                         ({"title": "Fin", "abbr": "FI\n"}, "categories.0.abbr")):
        raw = taxonomy({**entry, "scenarios": [{"title": "Loan Fraud"}]})
        with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
            T.parse(raw, "tax.yaml")
    sub = {"slug": "ids", "title": "IDs", "description": "d", "clip_prompt": "a photo of an ID card"}
    for category in ({"slug": "privacy\n", "abbr": "PR"}, {"slug": "privacy", "abbr": "PR\n"},
                     {"slug": "privacy", "abbr": "pr"}):
        with pytest.raises(ValidationError):
            TaxonomySpec.model_validate({"categories": [{**category, "title": "Privacy", "subcategories": [sub]}]})


def test_titles_without_latin_letters_need_a_slug_named_by_entry():
    chinese = taxonomy({"title": "金融", "scenarios": [{"title": "贷款欺诈", "slug": "loan_fraud"}]})
    with pytest.raises(ConfigError, match=r"categories\.0\.slug: the title '金融' has no Latin letter"):
        T.parse(chinese, "tax.yaml")
    cyrillic = taxonomy({"title": "Finance", "scenarios": [{"title": "Мошенничество"}, {"title": "Кредиты"}]})
    with pytest.raises(ConfigError, match=r"categories\.0\.scenarios\.0\.slug: the title 'Мошенничество'"):
        T.parse(cyrillic, "tax.yaml")
    given = T.parse(taxonomy({"title": "金融", "slug": "finance", "abbr": "FI",
                              "scenarios": [{"title": "贷款欺诈", "slug": "loan_fraud"}]}), "tax.yaml")
    assert (given[0].slug, given[0].abbr, given[0].title) == ("finance", "FI", "金融")
    accented = T.parse(taxonomy({"title": "Économie", "scenarios": [{"title": "Fraude à l'assurance"}]}), "t.yaml")
    assert (accented[0].slug, accented[0].abbr, accented[0].scenarios[0].slug) == ("economie", "EC", "fraude_a_l_assurance")
    # A panel's proposal cannot be asked: its entries get positional slugs, distinct, to rename on review.
    proposed = T.from_proposal([{"title": "金融", "scenarios": [{"title": "贷款"}, {"title": "保险"}]},
                                {"title": "健康", "scenarios": [{"title": "药品"}]}], "taxonomy.yaml")
    assert [(c.slug, c.abbr, [s.slug for s in c.scenarios]) for c in proposed] == [
        ("category_1", "C1", ["category_1_1", "category_1_2"]), ("category_2", "C2", ["category_2_1"])]


def test_control_and_bidi_characters_never_reach_titles(tmp_path):
    raw = taxonomy({"title": "Fin\x00an\u202ece", "definition": "line one\r\nline\u2066 two\x07",
                    "scenarios": [{"title": "Loan\tFraud\x1b[31m"}]})
    category = T.parse(raw, "tax.yaml")[0]
    assert (category.title, category.definition, category.scenarios[0].title) == (
        "Finance", "line one\nline two", "Loan Fraud[31m")
    with pytest.raises(ConfigError, match=r"categories\.0\.title"):  # nothing left of a title: it is missing
        T.parse(taxonomy({"title": "\u202e\x00", "scenarios": [{"title": "x"}]}), "tax.yaml")
    spec = {"model": "m"}
    assert SafeBenchConfig.model_validate({"llm": spec, "title": "My\u202e bench\x00"}).title == "My bench"
    assert VLSafetyConfig.model_validate({"llm": spec, "vlm": spec, "title": "\u2067Pool\u2069"}).title == "Pool"
    # A questions file's scenario label is a title too.
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(row) for row in (
        {"question": "How do I forge a cheque?", "scenario": "Bank\u202e Scams\x00"},
        {"question": "Where do I buy skimmers?", "scenario": "\x00\u202e"})) + "\n")
    rows, problems = read_rows(questions)
    assert [r.label for r in rows] == ["Bank Scams"]
    assert problems and "line 2" in problems[0].where and "control characters" in problems[0].what
    scenarios, _, _ = plan(rows, {}, str(questions))
    assert [(s.title, s.slug) for s in scenarios] == [("Bank Scams", "bank_scams")]


# ------------------------------------------------------------------------------------------ strict types

@pytest.mark.parametrize("raw,field", [
    ({"concurrency": True}, "concurrency"),
    ({"concurrency": "8"}, "concurrency"),
    ({"llm": {"model": "m", "temperature": "0.5"}}, r"llm\.temperature"),
    ({"llm": {"model": "m", "structured_output": "no"}}, r"llm\.structured_output"),
    ({"llm": {"model": "m", "max_tokens": 512.0}}, r"llm\.max_tokens"),
    ({"image": {"backend": "typography", "steps": True}}, r"image\.steps"),
])
def test_types_are_strict(raw, field):
    with pytest.raises(ConfigError, match=field):
        parse(raw, MMSBGenConfig)


def test_yaml_yes_is_not_a_number(tmp_path):
    path = tmp_path / "gen.yaml"
    path.write_text("llm: {model: m}\nconcurrency: yes\n")
    with pytest.raises(ConfigError, match=r"concurrency: Input should be a valid integer \(got True\)"):
        load(path, SafeBenchConfig)
    path.write_text("llm: {model: m, price: {prompt: 1, completion: 2.5}}\nconcurrency: 4\n")  # ints are numbers
    assert load(path, SafeBenchConfig).llm.price.prompt == 1.0


# ------------------------------------------------------------------------------------------ secrets and size

def test_validation_errors_never_echo_a_key(tmp_path):
    cases = [{"llm": {"model": "m", "api_key_env": KEY}},  # a key where its variable's name belongs
             {"llm": {"model": "m", "api_key": KEY}},  # a field that does not exist
             {"llm": {"model": "m", "temperature": KEY}},  # any field
             {"llm": {"model": "m", "max_in_flight": [KEY, "x"]}},
             {"groups": {KEY: "criminal"}},  # a key of a mapping
             {"image": {"backend": "openai", "api_key_env": "hf_" + "Ab3" * 8}}]
    for raw in cases:
        with pytest.raises(ConfigError) as caught:
            parse(raw, MMSBGenConfig)
        message = str(caught.value)
        assert KEY not in message and "Ab3Ab3" not in message and "CANARY" not in message, message
    assert "api_key_env: Value error, this looks like the key itself" in str(
        pytest.raises(ConfigError, parse, cases[0], MMSBGenConfig).value)
    with pytest.raises(ConfigError, match="not an environment variable's name"):
        parse({"llm": {"model": "m", "api_key_env": "MY KEY"}}, MMSBGenConfig)
    # The jury's own validation: a key as api_key_env, in a wrong field, as an unknown option, as the protocol.
    jurors = [{"name": "j", "model": "m", "api_key_env": KEY}, {"name": "j", "model": ["x", KEY]},
              {"name": "j", "model": "m", "apikey": KEY}, {"name": "j", "model": "m", KEY: 1},
              {"name": "j", "model": "m", "timeout": KEY}]
    for juror in jurors:
        with pytest.raises(ConfigError) as caught:
            build_juror(juror, "jury.yaml: jurors[0]")
        assert KEY not in str(caught.value) and "CANARY" not in str(caught.value), str(caught.value)
    with pytest.raises(ConfigError) as caught:
        build_jury({"protocol": KEY, "jurors": [{"name": "j", "model": "m"}]}, "jury.yaml")
    assert KEY not in str(caught.value) and "protocol" in str(caught.value)
    with pytest.raises(ConfigError, match=r"jurors\[0\]\.api_key_env: this looks like the key itself"):
        build_juror({"name": "j", "model": "m", "api_key_env": KEY}, "jury.yaml: jurors[0]")


def test_echoed_input_is_capped():
    from lmms_safebench import yamlio

    raw = yamlio.load(bomb(5))  # 59,049 strings: within the budget, and every key is a wrong field
    with pytest.raises(ConfigError) as caught:
        parse(raw, MMSBGenConfig)
    message = str(caught.value)
    assert len(message) < 3000 and "a: Extra inputs are not permitted" in message and "characters in all" in message
    with pytest.raises(ConfigError) as caught:
        build_juror({"name": "j", "model": ["x" * 100] * 10_000}, "jury.yaml: jurors[0]")
    assert len(str(caught.value)) < 1000 and "jurors[0].model" in str(caught.value)
    many = {f"field_{i}": i for i in range(500)}  # one line per field, but not 500 lines
    with pytest.raises(ConfigError) as caught:
        parse(many, MMSBGenConfig)
    assert str(caught.value).count("\n") <= 22 and "and 480 more" in str(caught.value)


def test_alias_bombs_are_refused_quickly_by_every_reader(tmp_path):
    """A 9-level bomb (under 1 KB) as a generation config, a `select --config`, a taxonomy and a jury file: each
    refused in well under a second. Run in a child process with a time and memory limit, so that a regression
    fails instead of taking the machine down."""
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb(9))
    assert len(bomb(9)) < 1024
    script = textwrap.dedent(f"""
        import json, resource, time
        resource.setrlimit(resource.RLIMIT_AS, (3 * 1024 ** 3, 3 * 1024 ** 3))
        from lmms_safebench.errors import ConfigError
        from lmms_safebench.generate.core.config import load
        from lmms_safebench.generate.safebench.config import SafeBenchConfig
        from lmms_safebench.generate.safebench.taxonomy import load_file
        from lmms_safebench.jury.config import load_jury_file
        from lmms_safebench.selection.command import SelectionConfig
        out = {{}}
        for name, read in (("config", lambda p: load(p, SafeBenchConfig)), ("select", lambda p: load(p, SelectionConfig)),
                           ("taxonomy", load_file), ("jury", load_jury_file)):
            start = time.perf_counter()
            try:
                read({str(path)!r})
                out[name] = ["accepted", 0]
            except ConfigError as exc:
                out[name] = [str(exc), time.perf_counter() - start]
        print(json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout)
    for name, (message, seconds) in results.items():
        assert message.startswith(str(path)) and "alias" in message and len(message) < 1000, (name, message)
        assert seconds < 1.0, (name, seconds)


# ------------------------------------------------------------------------------------------ discovery

def _generated(name: str, folder_name: str | None = None):
    folder = data_dir() / "generated" / (folder_name or name)
    folder.mkdir(parents=True)
    write_manifest(folder, {"benchmark": f"gen_{name}", "family": "safebench", "name": name, "title": name})
    write_tasks(folder, safebench_tasks(name, f"Bench {name}", TAXONOMY, ["text"]))
    return folder


def test_a_broken_generated_folder_is_left_out_and_everything_else_loads():
    from lmms_eval.tasks import TaskManager
    from loguru import logger

    _generated("good")
    broken = {"nl\n": _generated("nl\n")}  # what `--name $'nl\n'` used to write: malformed YAMLs
    broken["bad_yaml"] = _generated("bad_yaml")
    (broken["bad_yaml"] / "tasks/lmms_eval/text/safebench_gen_bad_yaml_text_loan_fraud.yaml").write_text(
        "task: [unclosed\n")
    broken["bad_manifest"] = _generated("bad_manifest")
    (broken["bad_manifest"] / "manifest.json").write_text("{not json")
    broken["bomb"] = _generated("bomb")
    (broken["bomb"] / "tasks/lmms_eval/text/safebench_gen_bomb_text_loan_fraud.yaml").write_text(bomb(9))
    broken["lost_include"] = _generated("lost_include")
    (broken["lost_include"] / "tasks/lmms_eval/_default_template_yaml").unlink()
    broken["bad_include"] = _generated("bad_include")
    (broken["bad_include"] / "tasks/lmms_eval/text/safebench_gen_bad_include_text_loan_fraud.yaml").write_text(
        "include: 5\ntask: safebench_gen_bad_include_text_loan_fraud\n")
    broken["not_a_mapping"] = _generated("not_a_mapping")
    (broken["not_a_mapping"] / "tasks/lm_eval/_safebench_gen_not_a_mapping_text.yaml").write_text("- a list\n")
    broken["edited"] = _generated("edited")  # readable YAML that lmms-eval's own indexing trips over
    (broken["edited"] / "tasks/lmms_eval/text/safebench_gen_edited_text_loan_fraud.yaml").write_text(
        "task: safebench_gen_edited_text_loan_fraud\ntag: 5\n")
    assert set(path.name for path in (data_dir() / "generated").iterdir()) == {"good", *broken}

    warnings = []
    sink = logger.add(lambda message: warnings.append(str(message)), level="WARNING")
    try:
        manager = TaskManager("ERROR", include_defaults=False)
        index, _ = taskindex.index()
        TaskManager("ERROR", include_defaults=False)  # a second manager: no second warning
    finally:
        logger.remove(sink)
    tasks = set(manager.all_tasks)
    assert {"safebench_mmsb_tiny_typo", "safebench_image", "safebench_mini_text"} <= tasks  # the package's own
    assert {"safebench_gen_good_text", "safebench_gen_good_text_loan_fraud"} <= tasks and \
        "safebench_gen_good_text_loan_fraud" in index
    for name in broken:
        key = name.strip()
        assert not any(task.startswith(f"safebench_gen_{key}") for task in tasks), name
        # The package's own index leaves out every folder that is not readable (lmms-eval's indexing decides
        # about the readable but malformed one).
        assert name == "edited" or not any(task.startswith(f"safebench_gen_{key}") for task in index), name
        about = [w for w in warnings if repr(str(data_dir() / "generated" / name)) in w]
        assert len(about) == 1, (name, warnings)
        assert "is left out" in about[0]
    assert len(warnings) == len(broken)
    # Repaired (here: deleted and generated again), a folder is used again.
    shutil.rmtree(broken["bad_yaml"])
    _generated("bad_yaml")
    assert "safebench_gen_bad_yaml_text" in TaskManager("ERROR", include_defaults=False).all_tasks
