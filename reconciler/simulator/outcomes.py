"""Outcome rules: what a simulated run ends as, set by tests and demos before or after a trigger.

A rule selects runs by name (a glob, ``fnmatch`` syntax, case-sensitive: run names are) or by
test run id, and says any of: the ended status (Finished or Error), the failed and errored test
cases (a total for the run, shared out over its probe runs by ``share``, or a count per probe
id), after how many seconds the run ends (``finishAfter``, from its trigger), attacks of the
catalogue that must be among its FAILED test cases (``failAttacks``, see ``catalogue``), and
whether its status document leaves out the ``probeRunId`` of its probe runs
(``omitProbeRunId``, a fault for clients). Parts left out keep their default (name rules) or
the run's current plan (id rules).

Two spellings, one model: the admin JSON body (``POST /_simulator/outcomes``) and the
``--outcome`` option of ``reconciler simulator``. Both are parsed strictly: an unknown field or
a value of the wrong type is refused with a message naming it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.limits import INT32_MAX, INT32_MIN
from reconciler.simulator.catalogue import parse_attack_id

#: Statuses a run may be made to end as; Canceled comes from a cancel, not from a rule.
ENDED_STATUSES = ("Finished", "Error")

#: A count of test cases: one number for the whole run, or one per probe id.
CaseCount = int | Mapping[int, int]

#: The fields of an outcome rule as JSON (``POST /_simulator/outcomes``).
OUTCOME_FIELDS = (
    "name",
    "testRunId",
    "status",
    "failed",
    "errored",
    "finishAfter",
    "failAttacks",
    "omitProbeRunId",
)
_OPTION_KEYS = ("status", "failed", "errored", "finishAfter", "failAttack", "omitProbeRunId")


class OutcomeError(ValueError):
    """A rule that cannot be used; ``field`` is the JSON field or option part at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class OutcomeRule:
    """One rule; exactly one of ``name`` (a glob) and ``test_run_id`` is set."""

    name: str | None = None
    test_run_id: int | None = None
    status: str | None = None
    failed: CaseCount | None = None
    errored: CaseCount | None = None
    finish_after: float | None = None
    #: Attack ids (``CTLO-101-7``) that fail in every run the rule applies to.
    fail_attacks: tuple[str, ...] | None = None
    omit_probe_run_id: bool | None = None

    def __post_init__(self) -> None:
        if (self.name is None) == (self.test_run_id is None):
            raise OutcomeError("name", "give exactly one of name (a glob) and testRunId")
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise OutcomeError("name", "name must be a non-empty string (a glob such as Nightly*)")
        if self.test_run_id is not None:
            _check_int32("testRunId", self.test_run_id)
        if self.status is not None and self.status not in ENDED_STATUSES:
            raise OutcomeError("status", f"status must be Finished or Error, got {self.status!r}")
        for field, value in (("failed", self.failed), ("errored", self.errored)):
            if value is not None:
                object.__setattr__(self, field, _check_count(field, value))
        if self.finish_after is not None and (
            isinstance(self.finish_after, bool)
            or not isinstance(self.finish_after, int | float)
            or not math.isfinite(self.finish_after)
            or self.finish_after < 0
        ):
            raise OutcomeError(
                "finishAfter", f"finishAfter must be seconds >= 0, got {self.finish_after!r}"
            )
        if self.fail_attacks is not None:
            object.__setattr__(self, "fail_attacks", _check_attacks(self.fail_attacks))
        if self.omit_probe_run_id is not None and not isinstance(self.omit_probe_run_id, bool):
            raise OutcomeError(
                "omitProbeRunId",
                f"omitProbeRunId must be true or false, got {self.omit_probe_run_id!r}",
            )

    def forced_attacks(self) -> dict[int, list[int]]:
        """``fail_attacks`` as probe id to attack indexes (see ``catalogue.parse_attack_id``)."""
        forced: dict[int, list[int]] = {}
        for attack in self.fail_attacks or ():
            probe_id, index = parse_attack_id(attack)
            forced.setdefault(probe_id, []).append(index)
        return forced

    def matches(self, name: str) -> bool:
        """True when this is a name rule whose glob matches ``name``."""
        from fnmatch import fnmatchcase

        return self.name is not None and fnmatchcase(name, self.name)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = (
            {"name": self.name} if self.name is not None else {"testRunId": self.test_run_id}
        )
        for key, value in (
            ("status", self.status),
            ("failed", self.failed),
            ("errored", self.errored),
            ("finishAfter", self.finish_after),
            ("failAttacks", list(self.fail_attacks) if self.fail_attacks is not None else None),
            ("omitProbeRunId", self.omit_probe_run_id),
        ):
            if isinstance(value, Mapping):
                document[key] = {str(probe): count for probe, count in value.items()}
            elif value is not None:
                document[key] = value
        return document

    @classmethod
    def from_json(cls, document: Any) -> OutcomeRule:
        """The rule an admin body describes; ``OutcomeError`` for anything off-contract."""
        if not isinstance(document, dict):
            raise OutcomeError("$", "the body must be a JSON object")
        unknown = sorted(set(document) - set(OUTCOME_FIELDS))
        if unknown:
            raise OutcomeError(
                unknown[0],
                f"unknown field {unknown[0]!r}; the fields are {', '.join(OUTCOME_FIELDS)}",
            )
        counts: dict[str, CaseCount | None] = {}
        for field in ("failed", "errored"):
            value = document.get(field)
            if isinstance(value, dict):
                value = {_probe_key(field, key): count for key, count in value.items()}
            counts[field] = value
        return cls(
            name=document.get("name"),
            test_run_id=document.get("testRunId"),
            status=document.get("status"),
            failed=counts["failed"],
            errored=counts["errored"],
            finish_after=document.get("finishAfter"),
            fail_attacks=document.get("failAttacks"),
            omit_probe_run_id=document.get("omitProbeRunId"),
        )


def parse_outcome_option(text: str) -> OutcomeRule:
    """``GLOB=part,part`` as given to ``--outcome``; ``OutcomeError`` naming the bad part.

    Parts: ``status:Finished|Error``, ``failed:N``, ``errored:N``, ``finishAfter:SECONDS``,
    per probe ``failed@PROBE_ID:N`` / ``errored@PROBE_ID:N``, ``failAttack:ATTACK_ID``
    (repeatable) and ``omitProbeRunId:true|false``. The glob is everything before the last
    ``=``, so names containing ``=`` still work.
    """
    glob, sep, tail = text.rpartition("=")
    if not sep or not glob or not tail:
        raise OutcomeError(
            "--outcome", f"{text!r} is not GLOB=part,...; e.g. --outcome 'Nightly*=failed:4'"
        )
    fields: dict[str, Any] = {"name": glob}
    per_probe: dict[str, dict[int, int]] = {}
    for part in tail.split(","):
        key, colon, value = part.strip().partition(":")
        key, _, probe = key.partition("@")
        if not colon or key not in _OPTION_KEYS or (probe and key not in ("failed", "errored")):
            raise OutcomeError(
                "--outcome",
                f"{part!r} is not one of status:Finished|Error, failed:N, errored:N, "
                "failed@PROBE_ID:N, errored@PROBE_ID:N, finishAfter:SECONDS, "
                "failAttack:ATTACK_ID, omitProbeRunId:true|false",
            )
        if key == "status":
            fields["status"] = value
        elif key == "failAttack":
            fields["fail_attacks"] = (*fields.get("fail_attacks", ()), value.strip())
        elif key == "omitProbeRunId":
            if value not in ("true", "false"):
                raise OutcomeError("--outcome", f"{part!r}: omitProbeRunId is true or false")
            fields["omit_probe_run_id"] = value == "true"
        elif key == "finishAfter":
            fields["finish_after"] = _number(part, value)
        elif probe:
            per_probe.setdefault(key, {})[_probe_key(key, probe)] = _whole(part, value)
        else:
            fields[key] = _whole(part, value)
    for key, counts in per_probe.items():
        if key in fields:
            raise OutcomeError(
                "--outcome", f"{key} is given both for the run and per probe in {text!r}"
            )
        fields[key] = counts
    return OutcomeRule(**fields)


def _probe_key(field: str, text: Any) -> int:
    try:
        probe = int(text)
    except (TypeError, ValueError):
        probe = None
    if probe is None or not INT32_MIN <= probe <= INT32_MAX or str(probe) != str(text).strip():
        raise OutcomeError(field, f"{field}: probe id {text!r} is not an int32")
    return probe


def _whole(part: str, value: str) -> int:
    if not value.isdigit():
        raise OutcomeError("--outcome", f"{part!r}: the count must be a whole number >= 0")
    return int(value)


def _number(part: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not math.isfinite(seconds) or seconds < 0:
        raise OutcomeError("--outcome", f"{part!r}: finishAfter must be seconds >= 0")
    return seconds


def _check_attacks(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise OutcomeError(
            "failAttacks", f"failAttacks must be a list of attack ids, got {value!r}"
        )
    for attack in value:
        try:
            parse_attack_id(attack)
        except ValueError as err:
            raise OutcomeError("failAttacks", f"failAttacks: {err}") from None
    return tuple(dict.fromkeys(value))


def _check_count(field: str, value: Any) -> CaseCount:
    if isinstance(value, Mapping):
        if not value:
            raise OutcomeError(field, f"{field}: give at least one probe id, or a number")
        return {_probe_key(field, probe): _whole_count(field, n) for probe, n in value.items()}
    return _whole_count(field, value)


def _whole_count(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT32_MAX:
        raise OutcomeError(
            field,
            f"{field} must be a whole number >= 0 or an object of probe id to number, "
            f"got {value!r}",
        )
    return value


def _check_int32(field: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not INT32_MIN <= value <= INT32_MAX:
        raise OutcomeError(field, f"{field} must be an int32, got {value!r}")


def spread(total: int, parts: int) -> list[int]:
    """``total`` spread over ``parts`` as evenly as whole numbers allow, the first ones larger."""
    if parts <= 0:
        return []
    base, extra = divmod(total, parts)
    return [base + (1 if index < extra else 0) for index in range(parts)]


def probe_weights(test_run_id: int, parts: int) -> list[int]:
    """How much of a run's failed and errored test cases each of its ``parts`` probe runs
    takes: uneven, as real probe runs fail (one probe finds most, others little or nothing),
    and drawn from ``random.Random(test_run_id)``, so a run always splits its counts the same
    way and two runs split them differently. Squares of 1..10: the weights differ up to 100x.
    """
    import random  # here, not at the top: this module is imported by `reconciler --help`

    draw = random.Random(test_run_id)
    return [draw.randint(1, 10) ** 2 for _ in range(parts)]


def share(total: int, weights: Sequence[int], room: Sequence[int]) -> list[int]:
    """``total`` over the parts in proportion to ``weights`` (positive), summing to ``total``.

    Largest remainders round the proportions to whole numbers (ties to the first part). A
    part takes no more than its ``room`` (the test cases it has left) while another part
    still has some: the excess goes to the others, in proportion again. Only a ``total``
    larger than all the room together fills every part and spreads the rest evenly, the
    heaviest parts first, as the probe runs then get more test cases than ``--test-cases``.
    """
    shares = [0] * len(weights)
    left = total
    open_parts = [index for index, space in enumerate(room) if space > 0]
    while left and open_parts:
        portions = _apportion(left, [weights[index] for index in open_parts])
        left = 0
        for index, portion in zip(open_parts, portions, strict=True):
            fits = min(portion, room[index] - shares[index])
            shares[index] += fits
            left += portion - fits
        # Each round places everything or fills at least one part: it ends.
        open_parts = [index for index in open_parts if shares[index] < room[index]]
    heaviest = sorted(range(len(weights)), key=lambda index: (-weights[index], index))
    for index, extra in zip(heaviest, spread(left, len(weights)), strict=True):
        shares[index] += extra
    return shares


def _apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Hamilton's method in whole numbers: exact, no float rounding to drift off ``total``."""
    whole = sum(weights)
    shares = [total * weight // whole for weight in weights]
    by_remainder = sorted(
        range(len(weights)), key=lambda index: (-(total * weights[index] % whole), index)
    )
    for index in by_remainder[: total - sum(shares)]:
        shares[index] += 1
    return shares
