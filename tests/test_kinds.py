"""The registry of kinds: every handler, matcher, counter and status count comes from it."""

from __future__ import annotations

from mediasyncd import kinds
from mediasyncd.config import Config
from mediasyncd.ingest.pipeline import IngestSummary
from mediasyncd.sources.plain import PlainMediaHandler
from tests.helpers import INGEST_JSON_KEYS


def test_plain_handler_is_the_last_fallback() -> None:
    """Every kind's handlers are instantiated, each kind once; the plain handler comes
    last, with the loose-file keys of the kinds that have them."""
    handlers = kinds.all_handlers()
    assert isinstance(handlers[-1], PlainMediaHandler)
    assert len(handlers[-1].loose_keys) == sum(1 for k in kinds.all_kinds() if k.loose_keys)
    assert len({h.kind for h in handlers}) == len(handlers)


def test_each_kind_has_one_matcher_for_its_own_subject() -> None:
    """A matcher per kind, each owning the subject its kind registers."""
    matchers = kinds.all_matchers(Config())
    assert [m.subject for m in matchers] == [k.subject for k in kinds.all_kinds()]
    assert len({k.subject for k in kinds.all_kinds()}) == len(matchers) == 2


def test_the_counters_are_the_ingest_contract() -> None:
    """The kinds' counters, in registry order, are exactly the ones `ingest --json`
    promises between the blob counts and the match counts."""
    names = kinds.counter_names()
    assert names == [k for k in INGEST_JSON_KEYS if k in names]
    assert list(IngestSummary().to_json())[3 : 3 + len(names)] == names


def test_a_summary_reads_its_counters_as_attributes() -> None:
    """`summary.conversations_new` reads the kind's counter; an unknown name is an
    AttributeError, not a zero."""
    summary = IngestSummary()
    summary.counts["conversations_new"] = 2
    assert summary.conversations_new == 2
    try:
        _ = summary.no_such_counter
    except AttributeError:
        pass
    else:  # pragma: no cover - the assertion below explains
        raise AssertionError("an unknown counter must not read as 0")


def test_the_registry_constants_are_the_handlers_own() -> None:
    """The kinds name their subject and counters without importing their readers (a
    cold `status` does not pay for them); the values are the handlers' own."""
    from mediasyncd.conversations import handler, kind
    from mediasyncd.traces import kind as traces_kind
    from mediasyncd.traces import langfuse

    assert kind.SUBJECT == handler.SUBJECT and kind.COUNTERS == handler.COUNTERS
    assert traces_kind.SUBJECT == langfuse.SUBJECT
