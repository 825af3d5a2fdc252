"""Reading sample logs (harness/outputs.read_jsonl): what the fast parser refuses is still read or named by line."""

from lmms_safebench.harness import outputs


def test_nan_lines_are_read_and_bad_lines_are_named_one_by_one(tmp_path):
    path = tmp_path / "samples.jsonl"
    # lmms-eval writes with Python's json, which emits NaN for a float metric without a value
    path.write_bytes(b'{"doc_id": 0, "score": NaN}\n{"doc_id": 1}\n{"doc_id": 2\n\n[3]\n\xff{"doc_id": 4}\n')
    skipped = []
    records = outputs.read_jsonl(path, skipped=skipped)
    assert [r["doc_id"] for r in records] == [0, 1]
    assert records[0]["score"] != records[0]["score"]  # NaN
    assert [s.split(": not a JSON line")[0] for s in skipped] == [f"{path}:3", f"{path}:5", f"{path}:6"]
    assert "utf-8" in skipped[2]
