"""Bytes <-> models for the state document and the journal, shared by every backend.

State files are committed to Git, so ``encode_state`` is deterministic: sorted keys, two-space
indentation, UTF-8, one trailing newline. ``decode_state`` is the only way in: it refuses what
it cannot trust (``StateCorruptError``, ``StateVersionError``) and upgrades older formats
through ``UPGRADES``, one version step at a time, in memory only; the upgraded shape reaches
disk on the next persist, with the original kept as a backup.

The journal is JSON Lines: a header naming the state it amends (lineage and serial), then one
compact ``JournalRecord`` per line. A torn last line is what a crash in the middle of a write
leaves behind, and is dropped; a broken line anywhere else means someone edited the file, and
is refused.
"""

# Not ``from __future__ import annotations``: pydantic would compile every annotation of
# these models back from its string (docs/ARCHITECTURE.md, "Start-up stays light").

from collections.abc import Callable
from typing import Any, Final, NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError

from reconciler.errors import StateCorruptError, StateVersionError
from reconciler.results.findings import AS_ROWS
from reconciler.state.model import STATE_VERSION, JournalRecord, State
from reconciler.validation import describe_validation_error

#: The journal format written by this version (the ``journal`` field of the header line).
#: Version 2 added ``result`` records, version 3 ``findings`` records; older journals read
#: unchanged.
JOURNAL_VERSION = 3

Document = dict[str, Any]

#: Findings as rows in the state file and the journal (``RecordedFindings``).
_AS_ROWS: Final = {AS_ROWS: True}

_UPGRADE_HINT = "upgrade reconciler to a version that knows this format"


# --- state -----------------------------------------------------------------------------------


def encode_state(state: State) -> bytes:
    """The state file's bytes: the same state always gives the same bytes."""
    # Imported here: a plan reads a state and never writes one.
    from reconciler.state.pretty import pretty

    return pretty(state.model_dump(mode="json", by_alias=True, context=_AS_ROWS))


def decode_state(data: bytes, location: str) -> State:
    """Parse, upgrade and validate a state file's bytes; ``location`` names it in errors."""
    # The usual case, a valid state of today's format, parsed and validated in one pass
    # (pydantic-core reads the JSON itself: about half the cost of json.loads + validation).
    # Anything else (an older format, a corrupt file) takes the careful path below, which
    # upgrades and says what is wrong.
    try:
        state = State.model_validate_json(data)
    except ValidationError:
        pass
    else:
        if state.version == STATE_VERSION and "version" in state.model_fields_set:
            return state
    document = _load_json(data, location)
    if not isinstance(document, dict):
        raise StateCorruptError(
            f"{location}: not a reconciler state (a JSON object was expected, "
            f"found {type(document).__name__}); restore a backup (see docs/STATE.md)"
        )
    version = _version_of(document, location)
    document = upgrade(document, version, location)
    try:
        return State.model_validate(document)
    except ValidationError as exc:
        raise StateCorruptError(
            f"{location}: the state does not validate, was it edited by hand? "
            f"{describe_validation_error(exc)}; fix it or restore a backup (see docs/STATE.md)"
        ) from None


def upgrade(document: Document, version: int, location: str) -> Document:
    """Bring a state document of an older ``version`` up to ``STATE_VERSION``."""
    while version < STATE_VERSION:
        step = UPGRADES.get(version)
        if step is None:
            raise StateVersionError(
                f"{location}: state format version {version} is too old for this reconciler "
                "and no upgrade exists; re-import the runs into a new state"
            )
        try:
            document = step(document)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateCorruptError(
                f"{location}: cannot upgrade state format version {version} to "
                f"{version + 1}: {type(exc).__name__}: {exc}; fix it or restore a backup "
                "(see docs/STATE.md)"
            ) from None
        version += 1
    return document


def _version_of(document: Document, location: str) -> int:
    version = document.get("version")
    if type(version) is not int or version < 0:
        raise StateCorruptError(
            f"{location}: the state has no valid format 'version' (found {version!r}); "
            "fix it or restore a backup (see docs/STATE.md)"
        )
    if version > STATE_VERSION:
        raise StateVersionError(
            f"{location}: state format version {version} was written by a newer reconciler "
            f"(this one reads up to version {STATE_VERSION}); {_UPGRADE_HINT}. "
            "The file was left untouched."
        )
    return version


def _upgrade_0_to_1(document: Document) -> Document:
    """Version 0 (pre-release builds): a flat list of runs, ``id`` and ``createdAt``.

    ``{"version": 0, "lineage": .., "serial": .., "testRuns": [{"key": .., "id": ..,
    "workspaceId": .., "targetId": .., "probeIds": [..], "name": .., "runAiAnalysis": ..,
    "notifyWhenFinished": .., "createdAt": ..}]}``. Pre-release builds had no unknown outcomes,
    so every entry becomes a triggered run.
    """
    runs: Document = {}
    for entry in document["testRuns"]:
        run = dict(entry)
        key = run.pop("key")
        if key in runs:
            raise ValueError(f"key {key!r} appears twice")
        run_id = run.pop("id")
        triggered_at = run.pop("createdAt")
        run["probeIds"] = sorted(set(run["probeIds"]))
        runs[key] = {
            "status": "triggered",
            "testRunId": run_id,
            "attributes": run,
            "triggeredAt": triggered_at,
        }
    return {
        "version": 1,
        "lineage": document["lineage"],
        "serial": document["serial"],
        "runs": runs,
    }


def _upgrade_1_to_2(document: Document) -> Document:
    """Version 2 added ``result`` and ``history`` to runs; a version 1 run has neither."""
    return {**document, "version": 2}


def _upgrade_2_to_3(document: Document) -> Document:
    """Version 3 added ``findings`` to results; a version 2 result has none (not read yet)."""
    return {**document, "version": 3}


#: ``UPGRADES[n]`` turns a version-``n`` document into a version ``n + 1`` one. Each step is a
#: pure function of plain JSON data, so it never depends on today's models.
UPGRADES: dict[int, Callable[[Document], Document]] = {
    0: _upgrade_0_to_1,
    1: _upgrade_1_to_2,
    2: _upgrade_2_to_3,
}


# --- journal ---------------------------------------------------------------------------------


class JournalHeader(BaseModel):
    """The first line of a journal: which state (lineage, serial) its records amend."""

    # Built when first used: a plan reads no journal and takes no lock (startup time).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    journal: int = JOURNAL_VERSION
    #: When no state was persisted yet, the lineage the new state was given in memory; a
    #: recovery then adopts it, so the state keeps it once written.
    lineage: str
    serial: int


# A NamedTuple: immutable, and cheaper to define than a frozen dataclass (docs/ARCHITECTURE.md).
class Journal(NamedTuple):
    """A decoded journal: its header, its records, and what was dropped on the way."""

    header: JournalHeader
    records: list[JournalRecord]
    #: Set when a torn last line (a crash in the middle of a write) was ignored.
    torn_note: str = ""


def encode_header(lineage: str, serial: int) -> bytes:
    """The journal's first line."""
    return _line(JournalHeader(lineage=lineage, serial=serial).model_dump(mode="json"))


def encode_record(record: JournalRecord) -> bytes:
    """One journal line: compact JSON, sorted keys, newline-terminated."""
    document = record.model_dump(mode="json", by_alias=True, exclude_none=True, context=_AS_ROWS)
    if record.attributes is not None and record.attributes.probe_ids is None:
        # ``probeIds: null`` is a value (the target's configured probes), not "unset": the line
        # keeps it although exclude_none dropped it with the record's unset fields.
        document["attributes"]["probeIds"] = None
    return _line(document)


def decode_journal(data: bytes, location: str) -> Journal | None:
    """Parse a journal; None when it is empty (a crash before its header was complete)."""
    lines = data.split(b"\n")
    # The last element is what follows the final newline: empty for a complete journal,
    # or a line whose write never finished.
    tail = lines.pop()
    torn_note = ""
    if tail.strip():
        torn_note = (
            f"{location}: ignored an incomplete last line ({len(tail)} bytes), "
            "left by a crash while it was being written"
        )
    if not lines:
        return None
    header_doc = _load_json(lines[0], f"{location}, line 1")
    if isinstance(header_doc, dict):
        journal_version = header_doc.get("journal")
        if type(journal_version) is int and journal_version > JOURNAL_VERSION:
            raise StateVersionError(
                f"{location}: journal format version {journal_version} was written by a "
                f"newer reconciler; {_UPGRADE_HINT}. The file was left untouched."
            )
    try:
        header = JournalHeader.model_validate(header_doc)
    except ValidationError as exc:
        raise StateCorruptError(
            f"{location}, line 1: not a journal header: "
            f"{describe_validation_error(exc)}{_JOURNAL_HINT}"
        ) from None
    records = [
        decode_record(raw, f"{location}, line {number}")
        for number, raw in enumerate(lines[1:], start=2)
    ]
    return Journal(header=header, records=records, torn_note=torn_note)


def decode_record(data: bytes, where: str, hint: str = "") -> JournalRecord:
    """One journal record (a line written by ``encode_record``); ``where`` names it in errors.

    Every backend reads its records through this, so they share the format and the wording of
    a refusal; ``hint`` replaces the default advice (which is about a journal file).
    """
    try:
        return JournalRecord.model_validate(_load_json(data, where))
    except ValidationError as exc:
        raise StateCorruptError(
            f"{where}: not a journal record: "
            f"{describe_validation_error(exc)}{hint or _JOURNAL_HINT}"
        ) from None


_JOURNAL_HINT = (
    "; the journal was edited or damaged in the middle, so it cannot be trusted: "
    "see 'Recovering a damaged journal' in docs/STATE.md"
)


# --- helpers ---------------------------------------------------------------------------------


def _line(document: Document) -> bytes:
    import json  # here: a plan reads a state and writes no journal

    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode() + b"\n"


def _load_json(data: bytes, location: str) -> Any:
    import json  # here: a state of today's format never takes this path

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StateCorruptError(
            f"{location}: not UTF-8 text (byte {exc.start}); restore a backup (see docs/STATE.md)"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateCorruptError(
            f"{location}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; "
            "fix it or restore a backup (see docs/STATE.md)"
        ) from None
