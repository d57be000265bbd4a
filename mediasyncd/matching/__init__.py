"""Matching: turning references and file occurrences into links, incrementally.

Every reference has a lookup key and every occurrence the keys it can satisfy
(docs/architecture.md, "Matching"). A `SubjectMatcher` owns one subject ("conversation"
or "trace"; each kind registers its matcher in mediasyncd.kinds):
given keys that changed it names the affected subjects, and it recomputes the matches of
just those in one transaction. The defining invariant: incremental results equal a full
`rematch`.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass

from mediasyncd.config import Config
from mediasyncd.index import Index


@dataclass
class MatchDelta:
    recomputed: int = 0
    added: int = 0
    removed: int = 0

    def __iadd__(self, other: MatchDelta) -> MatchDelta:
        self.recomputed += other.recomputed
        self.added += other.added
        self.removed += other.removed
        return self


class SubjectMatcher(abc.ABC):
    subject: str = "abstract"

    def __init__(self, config: Config):
        self.config = config

    @abc.abstractmethod
    def affected(self, index: Index, keys: Iterable[tuple[str, str]]) -> set[str]:
        """Ids of the subjects (conversations or users) whose references use these keys."""

    @abc.abstractmethod
    def rematch(self, index: Index, ids: set[str] | None) -> MatchDelta:
        """Recompute the matches of `ids` (None: all) and return what changed."""
