"""The one exception tree that reaches users.

Every error a user can meet is a ``ReconcilerError``; the CLI maps the tree to exit codes and
prints ``str(err)`` without a traceback. Each message is built inside the exception and says
what happened, to which file/key/run, and what to do next. Library errors (pydantic, yaml,
httpx, psycopg) are wrapped at the boundary where they occur and never escape raw.

    ReconcilerError
    ├── UsageError                 bad flags or combinations of flags
    ├── SpecError                  a spec file is invalid (file, line, field)
    │   └── SpecValidationError    every SpecError of one validation pass
    ├── StateError                 the state cannot be read or written
    │   ├── StateCorruptError      unparsable or hand-broken state/journal
    │   ├── StateVersionError      written by a newer reconciler
    │   ├── LineageError           state of another lineage
    │   └── LockError              someone else holds the state lock
    ├── PlanError                  a plan cannot be applied
    │   ├── StalePlanError         saved plan no longer matches state or specs
    │   └── UnsafePlanError        a safety rail refused the plan
    ├── ApiError                   the Probe API said no, or could not be reached
    │   ├── ApiConfigError         no key, bad URL: nothing was sent
    │   ├── AuthenticationError    401: stops the whole apply
    │   ├── PermissionDeniedError  403: stops the whole apply
    │   ├── RequestRejectedError   400 (with validationErrors) / 404
    │   ├── RateLimitedError       429 after retries ran out
    │   ├── ServerError            5xx after retries ran out
    │   ├── NotSentError           provably never reached the server
    │   └── OutcomeUnknownError    may have reached the server: never retried for triggers
    └── AbortedError               the user declined or interrupted
"""

from __future__ import annotations

from collections.abc import Sequence


class ReconcilerError(Exception):
    """Root of every error shown to users. ``str()`` is the full user-facing message."""

    exit_code: int = 1


class UsageError(ReconcilerError):
    """The command line asked for something inconsistent."""


class AbortedError(ReconcilerError):
    """The user declined the plan or interrupted the command."""


# --- specs -----------------------------------------------------------------------------------


class SpecError(ReconcilerError):
    """One problem in one spec file, located as precisely as we can."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        where = self.file or "<specs>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: "
        if self.field:
            text += f"{self.field}: "
        text += self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class SpecValidationError(SpecError):
    """All problems found in one pass, so users fix them in one round trip."""

    def __init__(self, errors: Sequence[SpecError]) -> None:
        self.errors = list(errors)
        ReconcilerError.__init__(self, self.render())

    def render(self) -> str:
        count = len(self.errors)
        head = f"{count} error{'s' if count != 1 else ''} in spec files; nothing was sent:"
        return "\n".join([head, *(e.render() for e in self.errors)])


# --- state -----------------------------------------------------------------------------------


class StateError(ReconcilerError):
    """The state could not be read, written or locked."""


class StateCorruptError(StateError):
    """The state or its journal does not parse; it is left untouched."""


class StateVersionError(StateError):
    """The state was written by a newer reconciler."""


class LineageError(StateError):
    """Two states that were never the same state."""


class LockError(StateError):
    """The state lock is held by someone else (or could not be taken)."""


# --- plans -----------------------------------------------------------------------------------


class PlanError(ReconcilerError):
    """A plan cannot be made or applied."""


class StalePlanError(PlanError):
    """A saved plan was made against a state or specs that have since moved."""


class UnsafePlanError(PlanError):
    """A safety rail refused the plan; the message names the flag that overrides it."""


# --- API -------------------------------------------------------------------------------------


class ApiError(ReconcilerError):
    """A call to the Probe API did not succeed."""

    #: True when the rest of an apply must stop at once (bad key, no permission).
    fatal: bool = False


class ApiConfigError(ApiError):
    """The client is not configured to send anything (no key, refused URL)."""

    fatal = True


class AuthenticationError(ApiError):
    """401: the key in SPLX_API_KEY was rejected."""

    fatal = True


class PermissionDeniedError(ApiError):
    """403: the key may not act on this workspace."""

    fatal = True


class RequestRejectedError(ApiError):
    """400 or 404: the server refused this request; it did nothing."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        validation_errors: dict[str, list[str]] | None = None,
    ) -> None:
        self.status = status
        self.validation_errors = validation_errors or {}
        super().__init__(message)


class RateLimitedError(ApiError):
    """429 and the retry budget ran out."""


class ServerError(ApiError):
    """5xx and the retry budget ran out."""


class NotSentError(ApiError):
    """The request provably never reached the server (connect refused, DNS, connect timeout)."""


class OutcomeUnknownError(ApiError):
    """The request may have reached the server; its result is unknown.

    ``cause`` is what happened, without the advice of the full message: it is what the state
    records, since the advice (which command, which --state) belongs to the moment it is shown.
    """

    def __init__(self, message: str, *, cause: str | None = None) -> None:
        super().__init__(message)
        self.cause = cause or message
