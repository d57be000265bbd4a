"""Re-hashing the store: find damaged, missing and misnamed objects, quarantine the damaged.

Classification (docs/reliability.md, scenario 9):
- damaged: the bytes under a digest's name hash to something else and are not a known
  object (a flipped bit, a truncation); moved to `quarantine/`.
- truncated: damaged and shorter than the size the index recorded.
- missing: the index names a digest whose object file is gone.
- incomplete: a recipe (mediasyncd.store.documents) naming an object that cannot be
  read; that object is reported itself, the recipe is kept.
- misnamed: a file whose bytes are a known object stored under the wrong name, or a file
  with a name that is no digest; a misnamed copy of an object that is missing is moved to
  its right name, anything else is quarantined.
For each problem the report names the sources that carried the object, so the user knows
what to re-drop.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from mediasyncd.errors import StoreError
from mediasyncd.index import Index, objects, sources
from mediasyncd.store import Store, StoredObject, documents
from mediasyncd.store.digest import digest_stream


@dataclass
class Problem:
    kind: str  # damaged | truncated | missing | misnamed | incomplete
    digest: str | None
    path: str
    detail: str
    quarantined_to: str | None = None
    redrop: list[str] = field(default_factory=list)


@dataclass
class VerifyReport:
    checked: int = 0
    bytes_checked: int = 0
    superseded: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, object]:
        return {
            "checked": self.checked,
            "bytes_checked": self.bytes_checked,
            "superseded": self.superseded,
            "ok": self.ok,
            "problems": [p.__dict__ for p in self.problems],
        }


def _sources_of(index: Index, digest: str) -> list[str]:
    return sources.sources_holding(index, digest)


def verify_store(
    index: Index,
    store: Store,
    *,
    sample: float = 1.0,
    digests: list[str] | None = None,
    quarantine: bool = True,
    rng: random.Random | None = None,
    on_object: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Re-hash all objects (or a random `sample` fraction, or just `digests`)."""
    report = VerifyReport()
    rng = rng or random.Random()  # noqa: S311 - sampling, not security
    known = objects.blob_sizes(index)
    present: set[str] = set()
    misplaced: list[tuple[str, str | None]] = []
    selected = set(digests) if digests is not None else None

    for entry in store.iterate():
        path, named = entry.location, entry.digest
        if named is None:
            misplaced.append((path, None))
            continue
        if entry.form == documents.TOMBSTONE:
            continue  # not an object: the record that gc dropped one on purpose
        present.add(named)
        if selected is not None and named not in selected:
            continue
        if selected is None and sample < 1.0 and rng.random() >= sample:
            continue
        _check_object(index, store, report, entry, named, known, present, misplaced, quarantine)
        if on_object is not None:
            on_object(report.checked)

    for path, _ in misplaced:
        _handle_misplaced(index, store, report, path, known, present, quarantine)

    candidates = selected if selected is not None else set(known)
    for digest in sorted(candidates - present):
        if digest not in known:
            continue
        if store.superseded(digest):
            # Dropped by gc under gc.keep_document_versions: newer documents hold it all.
            report.superseded += 1
            continue
        report.problems.append(
            Problem(
                "missing",
                digest,
                store.location(digest),
                "the index names this object but the store has no file for it",
                redrop=_sources_of(index, digest),
            )
        )
    _mark_for_reread(index, report)
    return report


def _mark_for_reread(index: Index, report: VerifyReport) -> None:
    """Make the next ingest of each named source read it again, even if it is unchanged
    on disk: otherwise the advice "re-drop to repair" would meet "unchanged, skipped".
    Only for objects now absent from the store (a damaged object left in place would be
    taken as a hit, not rewritten)."""
    paths = sorted(
        {
            source
            for problem in report.problems
            if problem.kind == "missing" or problem.quarantined_to is not None
            for source in problem.redrop
        }
    )
    if paths:
        with index.write():
            sources.forget_fingerprints(index, paths)


def _check_object(
    index: Index,
    store: Store,
    report: VerifyReport,
    entry: StoredObject,
    named: str,
    known: dict[str, int],
    present: set[str],
    misplaced: list[tuple[str, str | None]],
    quarantine: bool,
) -> None:
    path = entry.location
    try:
        # A compressed object or a recipe is decoded (a recipe reassembled from the
        # objects it names) and what that gives is hashed: its name is that digest.
        raw = store.open_location(path)
        with documents.open_encoded(raw, entry.form, store.open) as handle:
            actual, size = digest_stream(handle)
    except (documents.PartUnreadable, StoreError) as exc:
        # A recipe naming an object that cannot be read: that object is the problem
        # (reported on its own), not the recipe, which is kept.
        report.problems.append(
            Problem(
                "incomplete",
                named,
                path,
                f"cannot be reassembled: {exc}",
                redrop=_sources_of(index, named),
            )
        )
        return
    except documents.DamagedObject as exc:
        # A compressed frame or a recipe that does not decode: damaged like any object
        # whose bytes do not hash to its name.
        report.checked += 1
        _damaged(index, store, report, entry, named, f"does not decode: {exc}", quarantine)
        return
    except OSError as exc:
        report.problems.append(
            Problem("damaged", named, path, f"cannot read: {exc}", redrop=_sources_of(index, named))
        )
        return
    report.checked += 1
    report.bytes_checked += size
    if actual == named:
        return
    if actual in known:
        # Intact bytes of another object under the wrong name: the object this name
        # stands for is not here (it is reported missing unless a copy turns up).
        present.discard(named)
        misplaced.append((path, named))
        return
    expected = known.get(named)
    kind = "truncated" if expected is not None and size < expected else "damaged"
    detail = f"content hashes to {actual}, not to its name ({size} bytes"
    detail += f", {expected} expected)" if expected is not None else ")"
    problem = Problem(kind, named, path, detail, redrop=_sources_of(index, named))
    if quarantine:
        problem.quarantined_to = store.quarantine(path, f"{named}{entry.form}-{kind}")
    report.problems.append(problem)


def _damaged(
    index: Index,
    store: Store,
    report: VerifyReport,
    entry: StoredObject,
    named: str,
    detail: str,
    quarantine: bool,
) -> None:
    problem = Problem("damaged", named, entry.location, detail, redrop=_sources_of(index, named))
    if quarantine:
        problem.quarantined_to = store.quarantine(entry.location, f"{named}{entry.form}-damaged")
    report.problems.append(problem)


def _handle_misplaced(
    index: Index,
    store: Store,
    report: VerifyReport,
    path: str,
    known: dict[str, int],
    present: set[str],
    quarantine: bool,
) -> None:
    try:
        with store.open_location(path) as handle:
            actual, size = digest_stream(handle)
    except FileNotFoundError:
        return  # moved away already (quarantined as damaged)
    except OSError as exc:
        report.problems.append(Problem("misnamed", None, path, f"cannot read: {exc}"))
        return
    report.checked += 1
    report.bytes_checked += size
    problem = Problem("misnamed", actual, path, f"holds object {actual} under a wrong name")
    if actual in known and actual not in present and quarantine:
        # Stored again under its right name (whatever is there now is not the object:
        # it is checked, and set aside unless genuine), then gone from the wrong one.
        with store.open_location(path) as handle:
            store.put_stream(handle, known=lambda _digest: False)
        store.remove(path)
        present.add(actual)
        problem.detail += f"; moved to its right name {store.location(actual)}"
    elif quarantine:
        problem.quarantined_to = store.quarantine(path, f"misnamed-{actual}")
    report.problems.append(problem)
