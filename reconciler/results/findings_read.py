"""What reading a run's findings gave now: each finding with its content, in memory only.

``Finding`` is the record state keeps (``reconciler.results.findings.FindingRecord``) plus what
it never keeps: the probe's name, the result value as the API spelled it and the messages (the
attack prompt and the target's answer), shown only when a user asks with
``--include-content``. ``FindingsRead`` is what one run's read gave: these, the probe runs that
could not be read, and the ``RecordedFindings`` that go into state.

Apart from ``findings`` because every command that reads a state imports that (a plan too),
and none of them needs these.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.results.findings import FAILED, FindingRecord, RecordedFindings


@dataclass(frozen=True)
class Message:
    """One message of a test case: the attack sent (``user``) or the target's answer
    (``assistant``). Untrusted, sensitive text: kept in memory, shown only when asked for."""

    role: str
    content: str


@dataclass(frozen=True)
class Finding:
    """A finding as a read gave it now: its record, the probe's name, the result value as the
    API spelled it (kept verbatim when nobody knows it) and the messages (content)."""

    record: FindingRecord
    probe_name: str | None = None
    result: str = FAILED
    messages: tuple[Message, ...] = ()


@dataclass(frozen=True)
class FindingsRead:
    """What reading one run's findings gave now: every finding read (with content, in memory
    only), and why some probe runs could not be read. ``recorded`` is what goes into state, set
    only when every probe run with failures was read: a partial read is shown, never recorded,
    so the next command reads the run again."""

    test_run_id: int
    findings: tuple[Finding, ...] = ()
    #: One sentence per probe run that could not be read (names the run and what to do).
    errors: tuple[str, ...] = ()
    recorded: RecordedFindings | None = None
    #: Export requests sent.
    requests: int = 0
