"""What a generation run found wrong: one :class:`Problem` type for every generator, and typed failure codes.

A :class:`Problem` names something the written benchmark lacks (or a note about it): where (the stage, file or
folder), what, and as far as known the record id, the field and the scenario. Its ``kind`` decides the exit
status (:func:`~.run.exit_status`): ``left_out`` (a record, a field, a modality or a scenario is missing) and
``short`` (a scenario with fewer items than asked for) make it 1, a ``note`` does not.

An item's work (a function a stage runs on the workspace's thread pool) that cannot finish raises
:class:`ItemFailed` with a typed ``code``; the workspace records every exception as a problem of the stage
(``where`` the stage, ``id`` the item) carrying that code, or :data:`ERROR` for any other exception. Code that
counts or sorts failures reads the code, never the message text:

=============  ====================================================================================
code           meaning
=============  ====================================================================================
refused        the model refused in every phrasing it was asked in
unreadable     no usable reply, even after the repair request
unreachable    a call failed for transport reasons after its retries (not cached: a rerun tries again)
media_failed   the image or speech backend gave no usable picture or audio
error          any other exception (named by its type)
=============  ====================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

REFUSED, UNREADABLE, UNREACHABLE, MEDIA_FAILED, ERROR = "refused", "unreadable", "unreachable", "media_failed", "error"
LEFT_OUT, SHORT, NOTE = "left_out", "short", "note"
_LABELS = {LEFT_OUT: "LEFT OUT", SHORT: "SHORT", NOTE: "NOTE"}
KEYS = ("where", "what", "id", "field", "scenario", "kind")  # a problem in a manifest, in this order


class ItemFailed(Exception):
    """An item's work could not finish; ``code`` says why (the table in the module docstring).

    ``shown`` is the name put before the message in the problem's text (default: the class name). Generators pass
    the name their problems have always carried (``RuntimeError``, ``CallFailed``, ...), so that manifests and
    data cards read as they did before the failures were typed."""

    code = ERROR
    shown = ""

    def __init__(self, message: str, shown: str | None = None):
        super().__init__(message)
        if shown is not None:
            self.shown = shown

    @property
    def what(self) -> str:
        return f"{self.shown or type(self).__name__}: {self}"


class Refused(ItemFailed):
    code = REFUSED


class Unreadable(ItemFailed):
    code = UNREADABLE


class Unreachable(ItemFailed):
    code = UNREACHABLE
    shown = "RuntimeError"


class MediaFailed(ItemFailed):
    code = MEDIA_FAILED
    shown = "ValueError"


def failure_of(exc: BaseException) -> tuple[str, str]:
    """``(code, what)`` of an exception raised by an item's work."""
    if isinstance(exc, ItemFailed):
        return exc.code, exc.what
    return ERROR, f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class Problem:
    where: str  # the stage, file or folder at fault
    what: str
    id: str | None = None  # the record or work item, as the source or stage spells it
    field: str | None = None  # the field or modality left out
    scenario: str | None = None  # the scenario's slug
    kind: str = LEFT_OUT  # LEFT_OUT, SHORT or NOTE
    code: str | None = None  # for an item whose work failed: its failure code

    @property
    def left_out(self) -> bool:
        return self.kind == LEFT_OUT

    @property
    def blocking(self) -> bool:
        """Whether it makes the exit status 1 (something is missing), unlike a note."""
        return self.kind != NOTE

    def to_dict(self, keys: tuple[str, ...] = KEYS) -> dict:
        """The problem as a manifest lists it (``keys`` in order; the failure code stays out of manifests)."""
        return {key: getattr(self, key) for key in keys}

    @classmethod
    def from_dict(cls, data: dict) -> "Problem":
        return cls(data["where"], data["what"], data.get("id"), data.get("field"), data.get("scenario"),
                   data.get("kind", LEFT_OUT), data.get("code"))

    def __str__(self) -> str:
        """One line: what kind, where, the id and field, and the scenario when nothing narrower is named."""
        label = self.where + (f", id {self.id!r}" if self.id is not None else "") + \
            (f", field {self.field!r}" if self.field is not None else "") + \
            (f", scenario {self.scenario!r}" if self.scenario is not None and self.id is None and self.field is None
             else "")
        return f"{_LABELS[self.kind]} {label}: {self.what}"
