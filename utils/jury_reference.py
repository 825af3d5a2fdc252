"""Write the jury file reference in docs/jury.md from the pydantic models (a docs tool; it does not ship).

    python utils/jury_reference.py           # rewrite the section between the markers
    python utils/jury_reference.py --check   # exit 1 when the committed section is stale

The section between ``<!-- jury-reference:start -->`` and ``<!-- jury-reference:end -->`` holds two tables (the
jury's keys, a juror's fields), one row per field: its type, its default, the values it allows and its description.
Everything comes from the models (:class:`~lmms_safebench.jury.config.JuryConfig`,
:class:`~lmms_safebench.jury.config.JurorConfig` and the transport's
:class:`~lmms_safebench.llm.spec.ModelSpec` it extends): the annotation, the default, ``Literal`` choices, the
``Field`` constraints (``ge``, ``gt``, ``le``, ``lt``, ``min_length``, ``pattern``) and ``description``. A rule that
a validator enforces rather than a constraint is stated in the field's ``json_schema_extra``: ``allowed`` (words, or
a list of choices) and ``when_omitted`` (what a file gets when the key is left out, when that is not the default).
tests/integration/test_docs.py fails when the committed section differs from what this writes.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from lmms_safebench.jury.config import DEFAULTS_KEY, JURY_FILE_KEYS, JurorConfig, JuryConfig, juror_fields

DOC = Path(__file__).resolve().parents[1] / "docs" / "jury.md"
START, END = "<!-- jury-reference:start -->", "<!-- jury-reference:end -->"

_TYPES = {str: "text", int: "integer", float: "number", bool: "true/false"}
_BOUNDS = {"ge": "at least {:g}", "gt": "above {:g}", "le": "at most {:g}", "lt": "below {:g}"}


def _code(value) -> str:
    """A value as a YAML file spells it, in backticks."""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return '`""`' if value == "" else f"`{value}`"


def _choices(values) -> str:
    values = [_code(v) for v in values]
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def _inner(annotation):
    """``X`` of ``X | None``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def type_words(annotation) -> str:
    annotation = _inner(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return _TYPES[type(typing.get_args(annotation)[0])]
    if origin in (tuple, list):
        item = typing.get_args(annotation)[0]
        return "list of mappings" if isinstance(item, type) and issubclass(item, BaseModel) else \
            f"list of {type_words(item)}"
    return _TYPES[annotation]


def default_words(field) -> str:
    extra = field.json_schema_extra or {}
    if "when_omitted" in extra:
        return extra["when_omitted"]
    if field.default is PydanticUndefined:
        return "required"
    return "none" if field.default is None else _code(field.default)


def allowed_words(field) -> str:
    """The choices and bounds the model checks, in words: ``0 to 2``, ``at least 1``, `a`, `b` or `c`."""
    parts = []
    annotation = _inner(field.annotation)
    if typing.get_origin(annotation) is typing.Literal:
        parts.append(_choices(typing.get_args(annotation)))
    # pydantic keeps each constraint as an annotated_types object whose attribute is the constraint's name.
    bounds = {name: getattr(item, name) for item in field.metadata for name in _BOUNDS
              if getattr(item, name, None) is not None}
    if bounds.keys() == {"ge", "le"}:
        parts.append(f"{bounds['ge']:g} to {bounds['le']:g}")
    else:
        parts.extend(_BOUNDS[name].format(value) for name, value in bounds.items())
    for item in field.metadata:
        if getattr(item, "min_length", None) is not None:
            listed = typing.get_origin(annotation) in (tuple, list)
            parts.append(f"at least {item.min_length}" if listed or item.min_length > 1 else "not empty")
    pattern = next((item.pattern for item in field.metadata if getattr(item, "pattern", None)), None)
    extra = (field.json_schema_extra or {}).get("allowed")
    if isinstance(extra, list):
        parts.append(_choices(extra))
    elif extra:
        parts.append(extra)
    elif pattern:
        parts.append(f"matches `{pattern}`")
    return "; ".join(parts)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def table(rows) -> str:
    lines = ["| field | type | default | allowed | description |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join([f"`{name}`", *map(_cell, cells)]) + " |" for name, *cells in rows]
    return "\n".join(lines)


def rows(model: type[BaseModel], names) -> list[tuple[str, str, str, str, str]]:
    out = []
    for name in names:
        if name == "defaults" and model is JuryConfig:  # a file key that build_jury merges, not a field
            out.append((name, DEFAULTS_KEY[0], "none", "", DEFAULTS_KEY[1]))
            continue
        field = model.model_fields[name]
        out.append((name, type_words(field.annotation), default_words(field), allowed_words(field),
                    field.description or ""))
    return out


def render() -> str:
    """The generated section, markers included."""
    return "\n".join([
        START,
        "<!-- Generated by `python utils/jury_reference.py` from the pydantic models; edit the field descriptions "
        "in lmms_safebench/jury/config.py and lmms_safebench/llm/spec.py, not this table. -->",
        "",
        "**The jury** (the file's top level):",
        "",
        table(rows(JuryConfig, JURY_FILE_KEYS)),
        "",
        "**A juror** (an entry of `jurors`, or of `defaults`):",
        "",
        table(rows(JurorConfig, juror_fields())),
        END,
    ])


def updated(text: str) -> str:
    """``text`` (docs/jury.md) with its generated section replaced by :func:`render`'s."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise SystemExit(f"{DOC}: expected one {START} ... {END} section")
    head, rest = text.split(START, 1)
    return head + render() + rest.split(END, 1)[1]


def main(argv: list[str]) -> int:
    text = DOC.read_text(encoding="utf-8")
    new = updated(text)
    if "--check" in argv:
        if new != text:
            print(f"{DOC} is stale: run `python utils/jury_reference.py`", file=sys.stderr)
            return 1
        return 0
    if new != text:
        DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
