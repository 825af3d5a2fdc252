"""The lmms-safebench command line: build (local folder and the download path), jury check/show."""

import json
import subprocess

from helpers import BIN, verdict_json, write_mmsb_source
from loopback import LoopbackServer, Reply

CLI = str(BIN / "lmms-safebench")


def run(*args, env=None):
    import os

    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})


def test_build_from_a_local_folder(tmp_path):
    write_mmsb_source(tmp_path / "upstream", per_scenario=2)
    out = run("build", "mmsafetybench", "--source", str(tmp_path / "upstream" / "data" / "processed_questions"),
              "--tiny-list", str(tmp_path / "upstream" / "TinyVersion_ID_List.json"), "--data-dir", str(tmp_path / "d"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "questions: 26 (13 scenarios), tiny subset: 13" in out.stdout
    assert (tmp_path / "d" / "mmsafetybench" / "manifest.json").exists()


def test_notes_keep_status_zero_and_a_tiny_list_outside_source_is_not_read(tmp_path):
    """`--source` naming the question folder: the tiny list two levels up is outside it, so it is not read
    (a note says how to pass it); counts that differ from the published ones are notes too: exit 0."""
    write_mmsb_source(tmp_path / "upstream", per_scenario=1)
    out = run("build", "mmsafetybench", "--source", str(tmp_path / "upstream" / "data" / "processed_questions"),
              "--data-dir", str(tmp_path / "d"))
    assert out.returncode == 0, out.stderr[-2000:]
    tiny = tmp_path / "upstream" / "TinyVersion_ID_List.json"
    assert f"NOTE {tiny}: outside --source" in out.stdout and f"--tiny-list {tiny}" in out.stdout
    manifest = json.loads((tmp_path / "d" / "mmsafetybench" / "manifest.json").read_text())
    assert manifest["tiny_list"] is False and {p["kind"] for p in manifest["problems"]} == {"note"}


def test_github_source_downloads_through_the_same_code_path(tmp_path):
    """`--source github` fetches <raw>/<repo>/<commit>/...; a file:// mirror stands in for GitHub."""
    commit = "b80eedea3db312c09ded2082813390f68e750ef3"
    mirror = tmp_path / "raw"
    write_mmsb_source(mirror / "isXinLiu" / "MM-SafetyBench" / commit, per_scenario=2)
    env = {"SAFEBENCH_GITHUB_RAW": mirror.as_uri(), "SAFEBENCH_OFFLINE": "", "HF_HUB_OFFLINE": "",
           "HF_DATASETS_OFFLINE": ""}
    out = run("build", "mmsafetybench", env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "tiny subset: 13" in out.stdout
    manifest = json.loads((tmp_path / "data" / "mmsafetybench" / "manifest.json").read_text())
    assert manifest["source"] == {"type": "github", "repo": "isXinLiu/MM-SafetyBench", "commit": commit}
    downloads = tmp_path / "cache" / "downloads" / "mmsafetybench" / commit
    assert len(list((downloads / "data" / "processed_questions").glob("*.json"))) == 13
    offline = run("build", "mmsafetybench", "--source", "github@0123456", env={"SAFEBENCH_GITHUB_RAW": mirror.as_uri()})
    assert offline.returncode == 2 and "offline mode is on" in offline.stderr


def test_bad_options_are_clear_errors(tmp_path):
    out = run("build", "mmsafetybench", "--source", str(tmp_path / "missing"))
    assert out.returncode == 2 and "not an existing folder" in out.stderr
    out = run("build", "mmsafetybench", "--source", str(tmp_path), "--pairing", "typo=bogus")
    assert out.returncode == 2 and "--pairing" in out.stderr


def test_jury_check_makes_one_call_per_juror_and_reports_failures(tmp_path):
    with LoopbackServer(lambda body: Reply(verdict_json(0))) as good, LoopbackServer(lambda b: Reply(status=500)) as bad:
        jury = tmp_path / "jury.yaml"
        jury.write_text(f"""
protocol: jury
quorum: 1
jurors:
  - {{name: good, model: m, base_url: "{good.base_url}", api_key_env: GOOD_KEY}}
  - {{name: bad, model: m, base_url: "{bad.base_url}", max_attempts: 2, retry_base_delay: 0}}
""")
        out = run("jury", "check", "--jury", str(jury), env={"GOOD_KEY": "sk-check-secret"})
        assert out.returncode == 1
        assert "ok   good" in out.stdout and "FAIL bad" in out.stdout and "server error (500)" in out.stdout
        assert "key from $GOOD_KEY (set)" in out.stdout and "sk-check-secret" not in out.stdout + out.stderr
        assert good.count == 1 and bad.count == 2
        shown = run("jury", "show", "--jury", str(jury))
        assert shown.returncode == 0 and "identity:" in shown.stdout and "name: good" in shown.stdout
    missing = run("jury", "check")
    assert missing.returncode == 2 and "No jury is configured" in missing.stderr
    heuristic = run("jury", "check", "--jury", "heuristic")
    assert heuristic.returncode == 0 and "HEURISTIC" in heuristic.stdout


def test_jury_check_sends_vision_jurors_a_picture_and_names_an_endpoint_that_takes_none(tmp_path, capsys):
    import base64
    import io

    from loopback import media_parts
    from PIL import Image

    from lmms_safebench import cli

    def text_only(body):  # a text-only model's endpoint: refuses a request with an image in it
        return Reply(status=400) if media_parts(body) else Reply(verdict_json(0))

    with LoopbackServer(lambda body: Reply(verdict_json(0))) as seer, LoopbackServer(text_only) as blind, \
            LoopbackServer(text_only) as text:
        jury = tmp_path / "jury.yaml"
        jury.write_text(f"""
protocol: jury
quorum: 1
jurors:
  - {{name: seer, model: m, base_url: "{seer.base_url}", vision: true}}
  - {{name: blind, model: m, base_url: "{blind.base_url}", vision: true, max_attempts: 1}}
  - {{name: reader, model: m, base_url: "{text.base_url}"}}
""")
        assert cli.main(["jury", "check", "--jury", str(jury)]) == 1
        out = capsys.readouterr().out
        (picture,) = media_parts(seer.requests[0])
        data = base64.b64decode(picture["image_url"]["url"].split(",", 1)[1])
        assert Image.open(io.BytesIO(data)).size == (8, 8)
        assert "ok   seer: unsafe=0 rating=5 (sent with an 8x8 image)" in out
        assert "FAIL blind: PermanentError: bad request (400)" in out and blind.count == 1
        assert "blind is set `vision: true` and was sent an 8x8 image" in out
        # A text juror gets the text alone, as in a run.
        assert "ok   reader: unsafe=0 rating=5\n" in out and not media_parts(text.requests[0])
        assert "1 juror(s) failed the check" in out


def test_build_safebench_from_the_hub_and_from_a_local_release(tmp_path):
    """`build safebench` downloads part_a? and minibench.tar.gz with huggingface_hub (a loopback hub
    mirror stands in), concatenates, untars and builds; a local folder goes through the same builder."""
    from helpers import release_archives, write_safebench_release
    from hub import Upstream

    from lmms_safebench.benchmarks import safebench as sb

    release = tmp_path / "release"
    write_safebench_release(release, queries=1)
    write_safebench_release(release, queries=1, scenarios=sb.SCENARIOS[:10], mini=True)
    with Upstream(hub_repo=sb.HUB_REPO, hub_files=release_archives(release)) as hub:
        env = {"HF_ENDPOINT": hub.base, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "",
               "HF_DATASETS_OFFLINE": "", "TRANSFORMERS_OFFLINE": "", "SAFEBENCH_OFFLINE": "",
               "HF_HUB_DISABLE_XET": "1"}
        out = run("build", "safebench", "--data-dir", str(tmp_path / "d"), env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "SafeBench full set built" in out.stdout and "queries: 23 (expected 2300)" in out.stdout
    assert "SafeBench mini set built" in out.stdout and "queries: 10 (expected 500)" in out.stdout
    assert {f"GET /datasets/{sb.HUB_REPO}/resolve/main/{n}" for n in ("part_aa", "part_ab", "part_ac",
                                                                      "minibench.tar.gz")} <= set(hub.requests)
    manifest = json.loads((tmp_path / "d" / "safebench" / "manifest.json").read_text())
    assert manifest["source"] == {"type": "hub", "repo": sb.HUB_REPO}
    local = run("build", "safebench", "--set", "mini", "--source", str(release), "--data-dir", str(tmp_path / "e"))
    assert local.returncode == 0 and "SafeBench mini set built" in local.stdout and "full set" not in local.stdout
    offline = run("build", "safebench", "--data-dir", str(tmp_path / "f"))
    assert offline.returncode == 2 and "offline mode is on" in offline.stderr
    wrong = run("build", "safebench", "--source", str(release), "--sd-images", str(tmp_path))
    assert wrong.returncode == 2 and "--sd-images: only for `build mmsafetybench`" in wrong.stderr


def test_top_level_help_lists_every_command_in_plain_text():
    import argparse

    from lmms_safebench.cli import build_parser

    out = subprocess.run([str(BIN / "lmms-safebench"), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, sub in commands.items():
        nested = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
        names = [f"{name} {child}" for child in nested[0].choices] if nested else [name]
        for shown in names:
            assert f"\n  {shown}" in out.stdout, shown
