"""The traces kind: Langfuse trace exports and image dumps, photos linked to traces per
user. Registered in mediasyncd.kinds; its parts are imported when first asked for (see
mediasyncd.conversations.kind)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mediasyncd.kinds import Kind

if TYPE_CHECKING:
    from mediasyncd.config import Config
    from mediasyncd.index import Index
    from mediasyncd.matching import SubjectMatcher
    from mediasyncd.sources.base import SourceHandler

SUBJECT = "trace"


def _handlers() -> list[SourceHandler]:
    from mediasyncd.traces.image_dump import ImageDumpHandler
    from mediasyncd.traces.langfuse import LangfuseHandler

    # An image dump that carries its traces scores above a trace export among photos.
    return [ImageDumpHandler(), LangfuseHandler()]


def _matcher(config: Config) -> SubjectMatcher:
    from mediasyncd.traces.matcher import TraceMatcher

    return TraceMatcher(config)


def _status(index: Index) -> dict[str, Any]:
    from mediasyncd.index import status
    from mediasyncd.traces.report import trace_pair_stats

    # Image dumps and traces (the meal-images case): photos, traces, pairs.
    return {"traces": status.trace_count(index), "trace_pairs": trace_pair_stats(index)}


TRACES = Kind(
    name="traces",
    subject=SUBJECT,
    handlers=_handlers,
    matcher=_matcher,
    rematched="rematched_users",
    status=_status,
)
