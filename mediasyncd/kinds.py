"""The registry of kinds: what each kind of content (ChatGPT conversations, traces and
their photos) brings to the generic machinery, in one place.

A kind registers its source handlers (readers that detect and interpret drops), its
matcher (one subject: 'conversation' or 'trace'), the keys a loose file's path gives it
(so a plain folder of files copied out of an export still matches), the counters its
ingest reports and its counts for `status`. The pipeline, `status`, `rematch` and
`reindex` go through this registry and never name a kind or a subject.

To add a kind: write its package (handlers, matcher, a `kind.py` defining a `Kind`) and
add it to `all_kinds()`. docs/architecture.md, "Kinds", says more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mediasyncd.config import Config
    from mediasyncd.index import Index
    from mediasyncd.matching import SubjectMatcher
    from mediasyncd.sources.base import SourceHandler
    from mediasyncd.sources.plain import LooseKeys


@dataclass(frozen=True)
class Kind:
    name: str
    # The matcher's subject: the `subject` of its links and references.
    subject: str
    # Fresh handler instances, most specific first (the order breaks detect-score ties).
    handlers: Callable[[], list[SourceHandler]]
    matcher: Callable[[Config], SubjectMatcher]
    # The `ingest --json` counter of the subjects this kind's matcher recomputed.
    rematched: str
    # `ingest --json` counters its handlers raise while interpreting (changed subjects).
    counters: tuple[str, ...] = ()
    loose_keys: LooseKeys | None = None
    # Its part of `status --json`, in order.
    status: Callable[[Index], dict[str, Any]] | None = None


def all_kinds() -> tuple[Kind, ...]:
    """Every kind, in the order their counters and counts are reported."""
    from mediasyncd.conversations.kind import CHATGPT
    from mediasyncd.traces.kind import TRACES

    return (CHATGPT, TRACES)


def all_handlers() -> list[SourceHandler]:
    """A fresh instance of every kind's handlers, the plain media fallback last."""
    from mediasyncd.sources.plain import PlainMediaHandler

    kinds = all_kinds()
    handlers = [handler for kind in kinds for handler in kind.handlers()]
    loose = [kind.loose_keys for kind in kinds if kind.loose_keys is not None]
    handlers.append(PlainMediaHandler(loose))
    return handlers


def choose_handler(source: Path, config: Config | None = None) -> SourceHandler:
    """The handler that recognises this drop best (mediasyncd.sources.detect)."""
    from mediasyncd.sources.detect import best_handler

    return best_handler(source, all_handlers(), config)


def handler_of_kind(source_kind: str, config: Config | None) -> SourceHandler:
    """The handler that reads drops of this `kind` (a source row's), else the plain one."""
    handlers = all_handlers()
    chosen = next((h for h in handlers if h.kind == source_kind), handlers[-1])
    chosen.config = config
    return chosen


def all_matchers(config: Config) -> list[SubjectMatcher]:
    """A fresh instance of every kind's matcher."""
    return [kind.matcher(config) for kind in all_kinds()]


def counter_names() -> list[str]:
    """The kinds' `ingest --json` counters, in the contract's order: what interpreting
    changed, then what each matcher recomputed."""
    kinds = all_kinds()
    return [c for kind in kinds for c in kind.counters] + [kind.rematched for kind in kinds]


def status_counts(index: Index) -> dict[str, Any]:
    """Every kind's part of `status --json`, in order."""
    counts: dict[str, Any] = {}
    for kind in all_kinds():
        if kind.status is not None:
            counts.update(kind.status(index))
    return counts
