"""The outcome contract: how a drop ended, what went wrong in it, and the exit code.

Every source ends in one of three states:
- `ok`: everything in it was read;
- `partial`: stored and indexed, but something in it could not be read (a damaged or
  unsafe member, a JSON document that breaks off or nests too deep, a record the reader
  had to skip) or its export manifest names files no drop has brought yet;
- `failed`: nothing of it could be stored (not a zip, truncated past reading, ...).
`pending` is the state while a source is read, and stays when a run was interrupted
(a shutdown, a full disk, a file that kept changing): it is read again later.

Problems are (member, error) pairs: the member failures recorded for the source plus
the files its manifest names that are still missing. Notes are recorded beside them
(what was read and stored but is worth saying) and leave the state alone.

`mediasyncd ingest` exits 0 when every drop is ok, 3 when some are partial and none
failed, 1 when one failed (or was left pending); 2 is kept for usage and configuration
errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from mediasyncd.index import Index, expected, sources
from mediasyncd.ingest import completeness

OK: Final = "ok"
PARTIAL: Final = "partial"
FAILED: Final = "failed"
PENDING: Final = "pending"

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_PARTIAL: Final = 3

Problem = tuple[str | None, str]


def decide(stored: int, problems: int) -> str:
    """A source's state from what landed: all read, some read, or nothing despite trying."""
    if problems == 0:
        return OK
    return PARTIAL if stored > 0 else FAILED


def describe(problems: Sequence[Problem], total: int | None = None) -> str | None:
    """The one-line summary a source row keeps (`status` shows it after the path)."""
    if not problems:
        return None
    count = total if total is not None else len(problems)
    member, error = problems[0]
    first = f"{member}: {error}" if member else error
    if count == 1:
        return first
    return f"{count} problems; first: {first}"


def exit_code(states: Iterable[str]) -> int:
    found = set(states)
    if found - {OK, PARTIAL}:
        return EXIT_FAILED
    return EXIT_PARTIAL if PARTIAL in found else EXIT_OK


def problems_of(index: Index, source_id: int) -> list[Problem]:
    """What makes a source partial: member problems, then missing export files."""
    found = sources.member_failures(index, source_id, sources.PROBLEM)
    return found + completeness.missing_problems(index, source_id)


def notes_of(index: Index, source_id: int) -> list[Problem]:
    """What was read and stored but is worth saying (the source stays ok)."""
    return sources.member_failures(index, source_id, sources.NOTE)


def problem_count(index: Index, source_id: int) -> int:
    failures = sources.problem_count(index, source_id)
    return failures + expected.missing_count(index, source_id)


def as_json(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    return [{"member": member, "error": error} for member, error in problems]


def reassess(index: Index, source_id: int) -> str | None:
    """Recompute the state of a source that landed (ok or partial), e.g. once files its
    manifest named arrived in another drop; returns the new state when it changed."""
    before = sources.state_of(index, source_id)
    if before not in (OK, PARTIAL):
        return None
    total = problem_count(index, source_id)
    state = PARTIAL if total else OK
    error = describe(problems_of(index, source_id)[:1], total) if total else None
    sources.set_state(index, source_id, state, error)
    return state if state != before else None
