import json

import pytest
from loopback import LoopbackServer, Reply

from lmms_safebench.errors import ConfigError
from lmms_safebench.jury.cache import JudgeCache
from lmms_safebench.jury.case import HARMFUL_CONTENT, Case, Criterion
from lmms_safebench.jury.config import build_jury, load_jury_file, resolve_jury_config
from lmms_safebench.jury.engine import Jury

PANEL_YAML = """
name: my-panel
protocol: jury
rounds: 1
vote: majority
tie: unsafe
quorum: 2
early_consensus: true
defaults:
  base_url: http://127.0.0.1:9/v1
  api_key_env: MY_JUDGE_KEY
jurors:
  - {name: elder, model: qwen, persona: elder}
  - {name: citizen, model: llama, persona: citizen}
  - {name: custom, model: glm, persona: "a retired judge", base_url: http://127.0.0.1:10/v1}
"""


def test_yaml_jury_loads_with_defaults(tmp_path):
    path = tmp_path / "jury.yaml"
    path.write_text(PANEL_YAML)
    jury = load_jury_file(path)
    assert jury.name == "my-panel" and jury.protocol == "jury" and jury.quorum == 2 and jury.mode == "fast"
    assert [j.api_key_env for j in jury.jurors] == ["MY_JUDGE_KEY"] * 3
    assert jury.jurors[2].base_url.endswith(":10/v1") and jury.jurors[0].base_url.endswith(":9/v1")


@pytest.mark.parametrize("patch, message", [
    ({"protocol": "vote"}, "'protocol' must be one of"),
    ({"vote": "plurality"}, "vote"),
    ({"tie": "coin"}, "tie"),
    ({"quorum": 5}, "quorum"),
    ({"jurors": []}, "non-empty list"),
    ({"jurors": [{"name": "a", "model": "m", "colour": "red"}]}, "unknown juror option"),
    ({"jurors": [{"name": "a", "model": "m", "api_key": "sk-123"}]}, "api_key_env"),
    ({"jurors": [{"name": "a"}]}, "needs a 'model'"),
    ({"jurors": [{"name": "a", "model": "m", "temperature": "hot"}]}, "temperature"),
    ({"jurors": [{"name": "a", "model": "m"}, {"name": "a", "model": "n"}]}, "unique"),
    ({"rounds": 2, "protocol": "single"}, "single"),
    ({"extra": 1}, "unknown option"),
])
def test_invalid_configurations_name_the_field(patch, message):
    raw = {"protocol": "jury", "quorum": 1, "jurors": [{"name": "a", "model": "m"}]}
    raw.update(patch)
    with pytest.raises(ConfigError, match=message):
        build_jury(raw, source="panel.yaml")


def test_identity_is_stable_and_tracks_what_decides_verdicts():
    base = {"protocol": "jury", "quorum": 1, "jurors": [{"name": "a", "model": "m", "base_url": "http://h/v1"}]}
    one, two = build_jury(base), build_jury(json.loads(json.dumps(base)))
    assert one.identity == two.identity and len(one.identity) == 16
    for change in ({"vote": "any"}, {"rounds": 1}, {"early_consensus": True}):
        assert build_jury({**base, **change}).identity != one.identity
    juror_changes = ({"model": "n"}, {"temperature": 0.7}, {"persona": "elder"}, {"base_url": "http://other/v1"})
    for change in juror_changes:
        changed = {**base, "jurors": [{**base["jurors"][0], **change}]}
        assert build_jury(changed).identity != one.identity
    # Keys, timeouts and limits do not change verdicts, so they do not change the identity.
    same = {**base, "jurors": [{**base["jurors"][0], "api_key_env": "K", "timeout": 5.0, "max_in_flight": 2}]}
    assert build_jury(same).identity == one.identity
    with_password = {**base, "jurors": [{**base["jurors"][0], "base_url": "http://user:secret@h/v1"}]}
    assert "secret" not in json.dumps(build_jury(with_password).identity_payload())


def test_env_resolution_and_missing_configuration(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)  # with a GPU, nothing configured means local
    with pytest.raises(ConfigError, match="No jury is configured"):
        resolve_jury_config()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fallback")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("SAFEBENCH_JUDGE_MODEL", "judge-model")
    single = resolve_jury_config("single")
    assert single.protocol == "single" and single.jurors[0].api_key_env == "OPENAI_API_KEY"
    assert single.jurors[0].base_url == "http://127.0.0.1:1/v1"
    monkeypatch.setenv("SAFEBENCH_JUDGE_API_KEY", "sk-own")
    monkeypatch.setenv("SAFEBENCH_JUDGE_BASE_URL", "http://127.0.0.1:2/v1")
    panel = resolve_jury_config("jury")
    assert panel.protocol == "jury" and len(panel.jurors) == 5 and panel.rounds == 1 and panel.quorum == 3
    assert {j.api_key_env for j in panel.jurors} == {"SAFEBENCH_JUDGE_API_KEY"}
    monkeypatch.setenv("SAFEBENCH_JURY", "heuristic")
    assert resolve_jury_config().is_heuristic
    monkeypatch.setenv("SAFEBENCH_JURY", "/nonexistent/jury.yaml")
    with pytest.raises(ConfigError, match="cannot read"):
        resolve_jury_config()


def test_api_key_never_reaches_identity_cache_or_verdicts(tmp_path, monkeypatch):
    secret = "sk-VERY-SECRET-123456"
    monkeypatch.setenv("MY_KEY", secret)
    seen = []

    def judge(body):
        seen.append(body)
        return Reply(status=401, raw_body=json.dumps({"error": {"message": f"bad key {secret}"}}))

    with LoopbackServer(judge) as server:
        config = build_jury({"protocol": "single", "jurors": [
            {"name": "j", "model": "m", "base_url": server.base_url, "api_key_env": "MY_KEY"}]})
        result = Jury(config, JudgeCache(tmp_path / "c.sqlite")).judge(
            Case("k", "q", "a", Criterion(HARMFUL_CONTENT, "c"))).to_dict()
    assert result["status"] == "unjudged"
    assert secret not in json.dumps(result) and secret not in json.dumps(config.describe())
    assert secret.encode() not in (tmp_path / "c.sqlite").read_bytes()
    assert "***" in result["rounds"][0][0]["error"]


def test_every_fault_of_a_juror_is_named_with_its_field():
    """pydantic validates the whole juror: each field at fault gets its own line, not only the first."""
    raw = {"protocol": "single", "jurors": [{"name": "a", "model": "m", "temperature": "hot", "max_tokens": 4,
                                             "device": "gpu", "dtype": "int8"}]}
    with pytest.raises(ConfigError) as caught:
        build_jury(raw, source="jury.yaml")
    lines = str(caught.value).splitlines()
    assert lines == ["jury.yaml: jurors[0].temperature: expected a number, got str 'hot'",
                     "jury.yaml: jurors[0].max_tokens: Input should be greater than or equal to 16 (got 4)",
                     "jury.yaml: jurors[0].device: 'gpu' is not auto, cpu, mps, cuda or cuda:N",
                     "jury.yaml: jurors[0].dtype: 'int8' is not one of ('auto', 'float32', 'float16', 'bfloat16')"]


def test_a_juror_is_the_transports_model_spec_and_its_schema_is_documented():
    from lmms_safebench.jury.config import JurorConfig
    from lmms_safebench.llm.spec import ModelSpec

    juror = build_jury({"protocol": "single", "jurors": [{"name": "a", "model": "m", "timeout": 5}]}).jurors[0]
    assert isinstance(juror, ModelSpec) and juror.timeout == 5.0 and isinstance(juror.timeout, float)
    schema = JurorConfig.model_json_schema()["properties"]
    assert schema["reply_format"]["enum"] == ["review", "guard"] and schema["device"]["pattern"]
