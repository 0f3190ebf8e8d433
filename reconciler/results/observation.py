"""What a refresh observed, as data: one ``Observation`` per tracked run and the ``Refresh``
that holds them. Reading them (``reconciler.reading.refresh``) sits above the API client;
these sit with the results' model, below it, so every view can take them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from reconciler.records import RunAttributes
from reconciler.results.model import RunResult


class Tracked(Protocol):
    """What an observation needs of a tracked run (``reconciler.state.model.TrackedRun``),
    named here so that the results' data need not import the state's."""

    @property
    def test_run_id(self) -> int | None: ...

    @property
    def attributes(self) -> RunAttributes: ...

    @property
    def history(self) -> tuple[RunResult, ...]: ...


@dataclass(frozen=True)
class Observation:
    """What is known about one tracked run after a refresh.

    ``source`` says where ``result`` came from: ``state`` (a recorded final result, not read
    again), ``api`` (read now), or ``none`` (nothing known: gone, unreadable, or not read).
    """

    key: str
    run: Tracked
    result: RunResult | None
    source: Literal["state", "api", "none"]
    #: The API answered 404: the run no longer exists on the platform.
    gone: bool = False
    #: Why the run could not be read (an ``ApiError`` message), when it could not.
    error: str | None = None

    @property
    def test_run_id(self) -> int:
        assert self.run.test_run_id is not None  # only triggered runs are observed
        return self.run.test_run_id

    @property
    def ended(self) -> bool:
        return self.result is not None and self.result.ended

    @property
    def newly_ended(self) -> bool:
        """Read now and found ended: a result to record."""
        return self.source == "api" and self.ended


@dataclass
class Refresh:
    """The outcome of reading the selected runs: one observation per key, in key order."""

    observations: dict[str, Observation] = field(default_factory=dict)
    #: Status requests sent (ended runs in state cost none).
    requests: int = 0

    @property
    def unreadable(self) -> list[Observation]:
        return [o for o in self.observations.values() if o.error is not None]

    @property
    def gone(self) -> list[Observation]:
        return [o for o in self.observations.values() if o.gone]
