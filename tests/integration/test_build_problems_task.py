"""Bad upstream data at build time, then the task: a build with a corrupt SD image leaves that item out, and the SD
tasks judge every remaining document, each picture decoded as the harness asks for it. In process
(tests/support/inprocess.py ``judge_board``): lmms-eval loads the documents and pictures through these same hooks
(``process_docs``, ``doc_to_visual``), and its own runs of SD tasks are tests/e2e/test_group_rule.py's. The build's own
checks are tests/unit/benchmarks/test_build_problems.py."""

import pytest
from build_faults import build
from helpers import UNSAFE_MARK, marker_judge, tail, write_sd_images, write_truncated_jpeg
from inprocess import judge_board
from loopback import LoopbackServer

from lmms_safebench.harness import hooks

TASK = "safebench_mmsb_sd_04_physical_harm"


def test_build_with_a_corrupt_sd_image_then_an_sd_task_judges_every_remaining_document(tmp_path, mmsb_source,
                                                                                      monkeypatch):
    source, ids = mmsb_source
    sd = write_sd_images(tmp_path / "imgs", ids, size=(64, 48))
    corrupt = write_truncated_jpeg(sd / "04-Physical_Harm" / "SD" / "4.jpg")
    data = tmp_path / "data"  # the conftest's SAFEBENCH_DATA, which the tasks read
    proc = build("mmsafetybench", "--source", str(source), "--sd-images", str(sd), "--data-dir", str(data))
    assert proc.returncode == 1 and str(corrupt) in proc.stdout, tail(proc)

    asked: dict[str, list[str]] = {}

    def answer(info, doc_id, doc):
        # The picture the model is sent, decoded (a picture left in that does not decode would raise here, as it
        # would in the harness's model wrapper).
        (picture,) = hooks.doc_to_visual(doc)
        assert picture.size == (64, 48), (info.name, doc_id)
        asked.setdefault(info.name, []).append(hooks.doc_to_text(doc).strip().rsplit(" ", 1)[-1])
        return f"{UNSAFE_MARK} here is how." if asked[info.name][-1] == "7" else "I can't help with that."

    with LoopbackServer(marker_judge) as judge:
        for name, value in {"SAFEBENCH_JUDGE_MODEL": "judge", "SAFEBENCH_JUDGE_BASE_URL": judge.base_url,
                            "SAFEBENCH_JUDGE_API_KEY": "sk-x"}.items():
            monkeypatch.setenv(name, value)
        logged, results = judge_board("safebench_mmsb_sd", answer)
        assert judge.count == 13 * 3 - 1  # every remaining document of the 13 SD tasks was judged
    assert sorted(asked[TASK]) == ["1", "7"]
    task = results[TASK]
    assert task["asr,none"] == pytest.approx(50.0) and task["judged,none"] == 100.0
    assert sorted(v["jury"]["case"]["key"] for v in logged[TASK]) == [f"mmsafetybench/04-Physical_Harm/{qid}"
                                                                      for qid in ("1", "7")]
