"""Secrets never reach process output, logs, result files or caches: the judge's key and the credentials in a
judge base URL, through an inline lmms-eval run, `judge`, `jury show` and `jury check`.

Why an lmms-eval process: what lmms-eval itself prints, logs and writes (its output, its results file with the run's
configuration, its sample logs) must hold no secret, and only the real harness produces those."""

import json
import subprocess

from helpers import fenced_answer, lmms_eval, tail, verdict_json, write_mmsb_source
from loopback import LoopbackServer, Reply

from lmms_safebench import cli
from lmms_safebench.benchmarks.mmsafetybench import data as build_mod

KEY = "sk-judge-SECRET-4f1c9a"
URL_PASSWORD = "url-SECRET-pw-77"


def judge(body):
    if "REFUSE-ME" in fenced_answer(body):  # an endpoint that echoes the key in its error body
        return Reply(status=401, raw_body=json.dumps({"error": {"message": f"invalid key {KEY}"}}))
    return Reply(verdict_json(0))


def target(body):
    return Reply("REFUSE-ME please" if "06-Fraud" in json.dumps(body) else "I cannot help with that.")


def everything_written(root) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file())


def in_process(capfd, argv: list[str]) -> subprocess.CompletedProcess:
    """``lmms-safebench <argv>`` run by its entry point in this process, with what it printed."""
    code = cli.main(argv)
    printed = capfd.readouterr()
    return subprocess.CompletedProcess(argv, code, printed.out, printed.err)


def test_judge_key_and_url_credentials_never_appear(tmp_path, monkeypatch, capfd, caplog):
    write_mmsb_source(tmp_path / "upstream", per_scenario=2)
    build_mod.build(source=str(tmp_path / "upstream"))
    with LoopbackServer(judge) as judge_server, LoopbackServer(target) as model:
        host = judge_server.base_url.removeprefix("http://")
        env = {"SAFEBENCH_JUDGE_MODEL": "j", "SAFEBENCH_JUDGE_BASE_URL": f"http://judge:{URL_PASSWORD}@{host}",
               "SAFEBENCH_JUDGE_API_KEY": KEY}
        args = ["--model", "openai", "--model_args", f"model=m,base_url={model.base_url},api_key=x",
                "--tasks", "safebench_mmsb_tiny_typo"]
        proc, results, samples = lmms_eval(args, env, tmp_path / "out")
        assert results is not None, tail(proc)
        assert judge_server.count >= 13  # the judge was really used, with those settings
        # The project's own commands run in this process (only the harness run needs a process of its own); the
        # same settings, and everything they print, file descriptors included, is captured per command.
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        capfd.readouterr()
        runs = [proc, *(in_process(capfd, argv) for argv in (
            ["judge", "--no-progress", str(tmp_path / "out"), "--output", str(tmp_path / "judged")],
            ["jury", "show"], ["jury", "check"]))]
    refused = [s["jury"] for task in samples.values() for s in task if s["jury"]["status"] == "unjudged"]
    assert refused and all(r["cause"] == "request_refused" for r in refused)  # the 401 happened
    assert "***" in refused[0]["rounds"][0][0]["error"]
    assert "judge:***" not in runs[2].stdout and f"{host}" in runs[2].stdout  # the URL shown, without credentials
    for run in runs:
        output = run.stdout + run.stderr
        assert KEY not in output and URL_PASSWORD not in output, tail(run)
    # In this process pytest, not the last-resort handler, takes what libraries log through `logging`.
    assert KEY not in caplog.text and URL_PASSWORD not in caplog.text
    for folder in (tmp_path / "out", tmp_path / "judged", tmp_path / "cache"):
        written = everything_written(folder)
        assert KEY not in written and URL_PASSWORD not in written, folder


def test_judge_masks_the_source_runs_keys_and_url_credentials():
    from lmms_safebench.redact import redact_config

    as_text = redact_config({"model_args": "model=m,base_url=http://u:pw@h:1/v1,api_key=x,hf_token=t,"
                                              "openai_api_key=k"})["model_args"]
    assert as_text == "model=m,base_url=http://h:1/v1,api_key=***,hf_token=***,openai_api_key=***"
    as_dict = redact_config({"model_args": {"hf_token": "t", "base_url": "https://u:pw@h/v1", "model": "m"}})
    assert as_dict["model_args"] == {"hf_token": "***", "base_url": "https://h/v1", "model": "m"}
