"""The traces kind: Langfuse trace exports and image dumps, photos linked to traces per
user. Registered in mediasyncd.kinds."""

from __future__ import annotations

from typing import Any

from mediasyncd.config import Config
from mediasyncd.index import Index, status
from mediasyncd.kinds import Kind
from mediasyncd.matching import SubjectMatcher
from mediasyncd.sources.base import SourceHandler
from mediasyncd.traces.image_dump import ImageDumpHandler
from mediasyncd.traces.langfuse import SUBJECT, LangfuseHandler
from mediasyncd.traces.matcher import TraceMatcher
from mediasyncd.traces.report import trace_pair_stats


def _handlers() -> list[SourceHandler]:
    # An image dump that carries its traces scores above a trace export among photos.
    return [ImageDumpHandler(), LangfuseHandler()]


def _matcher(config: Config) -> SubjectMatcher:
    return TraceMatcher(config)


def _status(index: Index) -> dict[str, Any]:
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
