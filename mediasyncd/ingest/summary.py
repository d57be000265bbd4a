"""What an ingest reports: `ingest --json` (IngestSummary) and each source's record."""

from __future__ import annotations

from copy import deepcopy
from dataclasses import asdict, dataclass, field
from typing import Any

from mediasyncd import kinds
from mediasyncd.ingest import outcome


@dataclass
class Failure:
    source: str
    member: str | None
    error: str


def _kind_counters() -> dict[str, int]:
    return dict.fromkeys(kinds.counter_names(), 0)


@dataclass
class IngestSummary:
    """The `ingest --json` contract (docs/architecture.md, "Contract"), plus per-source
    detail. The kinds' counters (`conversations_new`, `rematched_users`, ...) come from
    mediasyncd.kinds and read as attributes too."""

    blobs_new: int = 0
    bytes_new: int = 0
    blobs_deduplicated: int = 0
    counts: dict[str, int] = field(default_factory=_kind_counters)
    matches_added: int = 0
    matches_removed: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    sources: list[dict[str, Any]] = field(default_factory=list)

    def __getattr__(self, name: str) -> int:
        counts = self.__dict__.get("counts")
        if counts is not None and name in counts:
            return int(counts[name])
        raise AttributeError(name)

    @property
    def exit_code(self) -> int:
        """0 all ok, 3 some partial and none failed, 1 some failed (mediasyncd.ingest.outcome)."""
        return outcome.exit_code(s["state"] for s in self.sources)

    @property
    def changed(self) -> bool:
        """Whether interpreting changed some subject or a link came or went."""
        interpreted = {c for kind in kinds.all_kinds() for c in kind.counters}
        return bool(
            any(self.counts.get(c) for c in interpreted)
            or self.matches_added
            or self.matches_removed
        )

    def merge(self, other: IngestSummary) -> None:
        """Add another summary's counts, failures and sources to this one."""
        for name in ("blobs_new", "bytes_new", "blobs_deduplicated"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name, count in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + count
        self.matches_added += other.matches_added
        self.matches_removed += other.matches_removed
        self.failures.extend(other.failures)
        self.sources.extend(other.sources)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "blobs_new": self.blobs_new,
            "bytes_new": self.bytes_new,
            "blobs_deduplicated": self.blobs_deduplicated,
            **self.counts,
            "matches_added": self.matches_added,
            "matches_removed": self.matches_removed,
            "failures": [asdict(failure) for failure in self.failures],
            "seconds": round(self.seconds, 3),
            "sources": deepcopy(self.sources),
        }
        return data


def source_entry(
    path: str,
    kind: str | None,
    state: str,
    problems: list[outcome.Problem],
    notes: list[outcome.Problem] | None = None,
) -> dict[str, Any]:
    """One `sources[]` record of the `ingest --json` summary."""
    return {
        "path": path,
        "kind": kind,
        "state": state,
        "problems": outcome.as_json(problems),
        "notes": outcome.as_json(notes or []),
    }
