"""Reading Langfuse trace exports into `TraceRecord`s, streaming, one record at a time.

Shapes (docs/formats.md, section 9), told apart by content, never by name:
- API pages `{"data": [...], "meta": {...}}` (several pages may be concatenated);
- UI batch exports: a JSON array, JSON lines, or CSV in which every cell is JSON-encoded
  and then quoted;
- single-trace downloads `{"trace": {...}, "observations": [...]}`.
`input`, `output` and `metadata` are often JSON strings that need a second parse. Model
and cost come from the trace when it has them, else from its generations. A record that
cannot be used (no id, no user id, a timestamp that does not parse, a CSV line with broken
quoting) is yielded as a `Problem` naming it; the records around it still come through.
Big files are never loaded whole: JSON goes through ijson, CSV line by line. Every JSON
text (the file, a line, a cell, a JSON string inside a field) is read with the nesting
limit of mediasyncd.jsonstream: a deeper document is a Problem, a deeper field stays text.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, BinaryIO, Final

import ijson

from mediasyncd import jsonstream
from mediasyncd.jsonvalues import as_float

MEDIA_REF: Final = re.compile(r"@@@langfuseMedia:type=([^|@]*)\|id=([^|@]+)\|source=([^|@]*)@@@")
# A CSV record may span lines only inside quotes; Langfuse writes one line per record, so
# a "record" this long is an unclosed quote, reported and skipped.
MAX_RECORD_LINES: Final = 10_000
MAX_RECORD_CHARS: Final = 64 * 1024 * 1024
HEAD_BYTES: Final = 8192

_TRACE_HINTS: Final = (b'"userId"', b'"sessionId"', b'"user_id"', b'"projectId"', b'"trace"')


@dataclass(frozen=True)
class MediaRef:
    media_id: str
    mime: str
    source: str
    field: str  # where it was found: input, output, metadata or observation.<field>


@dataclass
class TraceRecord:
    id: str
    timestamp: str  # ISO 8601, UTC, milliseconds
    ts: float
    user_id: str
    session_id: str | None = None
    name: str | None = None
    input: Any = None
    output: Any = None
    metadata: Any = None
    model: str | None = None
    cost: float | None = None
    tags: list[str] | None = None
    media: list[MediaRef] = field(default_factory=list)


@dataclass(frozen=True)
class Problem:
    """One record that could not be used: `where` locates it (line N, item N, trace id)."""

    where: str
    message: str


Opener = Callable[[], BinaryIO]


# -- recognising -------------------------------------------------------------------------


def looks_like_trace_export(head: bytes) -> bool:
    """Whether the first bytes of a file look like one of the trace export shapes."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"["):
        has_time = b'"timestamp"' in text or b'"startTime"' in text
        return has_time and any(hint in text for hint in _TRACE_HINTS)
    first_line = text.split(b"\n", 1)[0].decode("utf-8", "replace")
    try:
        header = next(csv.reader([first_line]))
    except (csv.Error, StopIteration):
        return False
    names = {_header_name(cell).lower() for cell in header}
    return {"id", "timestamp"} <= names and bool(
        names & {"userid", "user_id", "sessionid", "input"}
    )


def _header_name(cell: str) -> str:
    cell = cell.strip()
    if cell.startswith('"'):
        try:
            decoded = json.loads(cell)
        except ValueError:
            return cell
        return decoded if isinstance(decoded, str) else cell
    return cell


# -- reading -------------------------------------------------------------------------------


def read_traces(
    opener: Opener, *, max_depth: int = jsonstream.DEFAULT_MAX_DEPTH
) -> Iterator[TraceRecord | Problem]:
    """Every trace in one export file (`opener` gives a fresh binary stream each call)."""
    with opener() as stream:
        head = stream.read(HEAD_BYTES)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"["):
        yield from _read_json(opener, max_depth)
    else:
        yield from _read_csv(opener, max_depth)


def _first_events(opener: Opener) -> tuple[str | None, str | None]:
    """The first JSON event and, for an object, its first key. Read without prefixes:
    ijson's prefixed events of a 64 KB `[[[[…` took gigabytes."""
    with opener() as stream:
        events = jsonstream.first_events(_skip_bom(stream), 2, multiple_values=True)
    if not events:
        return None, None
    first = str(events[0][0])
    if first != "start_map" or len(events) < 2:
        return first, None
    second, value = events[1]
    return first, str(value) if second == "map_key" else None


def _skip_bom(stream: BinaryIO) -> BinaryIO:
    if stream.read(3) != b"\xef\xbb\xbf":
        stream.seek(0)
    return stream


Convert = Callable[[Any, str, int], Iterable[TraceRecord | Problem]]


def _read_json(opener: Opener, max_depth: int) -> Iterator[TraceRecord | Problem]:
    first, key = _first_events(opener)
    if first == "start_array":
        yield from _stream(opener, "item", _from_any, max_depth)
    elif key in ("data", "meta"):
        yield from _stream(opener, "data.item", _from_page_item, max_depth)
    elif key in ("trace", "observations"):
        yield from _read_downloads(opener, max_depth)
    else:
        yield from _read_json_lines(opener, max_depth)


def _stream(
    opener: Opener, prefix: str, convert: Convert, max_depth: int
) -> Iterator[TraceRecord | Problem]:
    count = 0
    with opener() as stream:
        items = jsonstream.items(
            _skip_bom(stream), prefix, max_depth=max_depth, multiple_values=True
        )
        try:
            for item in items:
                count += 1
                yield from convert(item, f"item {count}", max_depth)
        except jsonstream.JsonTooDeep as exc:
            yield Problem(f"after item {count}", f"{exc}; the rest of the file is not read")
        except ijson.JSONError as exc:
            yield Problem(f"after item {count}", f"the JSON breaks off here: {_short(exc)}")
        except UnicodeDecodeError as exc:
            yield Problem(f"after item {count}", f"text that is not UTF-8: {_short(exc)}")


def _from_page_item(value: Any, where: str, max_depth: int) -> Iterator[TraceRecord | Problem]:
    return _from_trace(value, where, max_depth=max_depth)


def _read_downloads(opener: Opener, max_depth: int) -> Iterator[TraceRecord | Problem]:
    """`{trace, observations}` downloads: observations first (model, cost, media refs)."""
    observations: dict[str, list[dict[str, Any]]] = {}
    with opener() as stream:
        items = jsonstream.items(
            _skip_bom(stream), "observations.item", max_depth=max_depth, multiple_values=True
        )
        try:
            for obs in items:
                if isinstance(obs, dict) and isinstance(obs.get("traceId"), str):
                    observations.setdefault(obs["traceId"], []).append(_slim(obs))
        except jsonstream.JsonTooDeep as exc:
            yield Problem("observations", str(exc))
        except ijson.JSONError as exc:
            yield Problem("observations", f"the JSON breaks off here: {_short(exc)}")
        except UnicodeDecodeError as exc:
            yield Problem("observations", f"text that is not UTF-8: {_short(exc)}")

    def convert(trace: Any, where: str, depth: int) -> Iterator[TraceRecord | Problem]:
        if isinstance(trace, dict) and isinstance(trace.get("id"), str):
            extra = observations.get(trace["id"], [])
            yield from _from_trace(trace, where, extra, max_depth=depth)
        else:
            yield Problem(where, "the 'trace' of a download is not an object with an id")

    yield from _stream(opener, "trace", convert, max_depth)


def _read_json_lines(opener: Opener, max_depth: int) -> Iterator[TraceRecord | Problem]:
    """JSON lines; a file whose first line is not a whole object is one or more documents."""
    with opener() as stream:
        first_line = _skip_bom(stream).readline()
    try:
        jsonstream.loads(first_line, max_depth)
    except ValueError:
        yield from _stream(opener, "", _from_any, max_depth)
        return
    with opener() as stream:
        for number, line in enumerate(_skip_bom(stream), start=1):
            if not line.strip():
                continue
            try:
                value = jsonstream.loads(line, max_depth)
            except jsonstream.JsonTooDeep as exc:
                yield Problem(f"line {number}", str(exc))
                continue
            except ValueError as exc:
                yield Problem(f"line {number}", f"not valid JSON: {_short(exc)}")
                continue
            yield from _from_any(value, f"line {number}", max_depth)


def _from_any(value: Any, where: str, max_depth: int) -> Iterator[TraceRecord | Problem]:
    """A value of any accepted shape: trace, page, download, or a list of those."""
    if isinstance(value, list):
        for position, item in enumerate(value, start=1):
            yield from _from_any(item, f"{where}, item {position}", max_depth)
    elif isinstance(value, dict) and isinstance(value.get("data"), list):
        yield from _from_any(value["data"], where, max_depth)
    elif isinstance(value, dict) and isinstance(value.get("trace"), dict):
        extra, problem = _observations_of(value)
        if problem is not None:
            yield Problem(where, problem)
        yield from _from_trace(
            value["trace"], where, [_slim(o) for o in extra], max_depth=max_depth
        )
    else:
        yield from _from_trace(value, where, max_depth=max_depth)


def _observations_of(value: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The observation objects of a trace or download, and a problem when the field is
    there but not a list (found by fuzzing: `"observations": true` was iterated)."""
    found = value.get("observations")
    if found is None:
        return [], None
    if not isinstance(found, list):
        return [], f"'observations' is {type(found).__name__}, not a list; ignored"
    return [o for o in found if isinstance(o, dict)], None


# -- CSV ---------------------------------------------------------------------------------


def _read_csv(opener: Opener, max_depth: int) -> Iterator[TraceRecord | Problem]:
    with opener() as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        records = _csv_records(text)
        header: list[str] | None = None
        for start, record in records:
            if isinstance(record, Problem):
                yield record
                continue
            try:
                rows = list(csv.reader(io.StringIO(record, newline=""), strict=True))
            except csv.Error as exc:
                yield Problem(f"line {start}", f"broken CSV quoting: {exc}")
                continue
            if not rows or not any(cell.strip() for cell in rows[0]):
                continue
            row = rows[0]
            if header is None:
                header = [_header_name(cell) for cell in row]
                continue
            if len(row) != len(header):
                yield Problem(
                    f"line {start}",
                    f"{len(row)} fields where the header has {len(header)} (broken quoting?)",
                )
                continue
            item = {
                name: _decode_cell(cell, max_depth) for name, cell in zip(header, row, strict=True)
            }
            yield from _from_trace(item, f"line {start}", max_depth=max_depth)


def _csv_records(text: IO[str]) -> Iterator[tuple[int, str | Problem]]:
    """Physical lines grouped into records by quote parity; an unclosed quote costs only
    its own line (the lines after it are read again as records of their own)."""
    pending: deque[tuple[int, str]] = deque()
    numbered = enumerate(text, start=1)

    def next_line() -> tuple[int, str] | None:
        if pending:
            return pending.popleft()
        return next(numbered, None)

    while (first := next_line()) is not None:
        start, line = first
        lines = [first]
        quotes = line.count('"')
        size = len(line)
        while quotes % 2 and len(lines) < MAX_RECORD_LINES and size < MAX_RECORD_CHARS:
            more = next_line()
            if more is None:
                break
            lines.append(more)
            quotes += more[1].count('"')
            size += len(more[1])
        if quotes % 2:
            yield start, Problem(f"line {start}", "broken CSV quoting: a quote is never closed")
            pending.extendleft(reversed(lines[1:]))
            continue
        yield start, "".join(chunk for _, chunk in lines)


def _decode_cell(cell: str, max_depth: int) -> Any:
    """Cells are JSON-encoded; a cell that is not JSON (or nests too deep) stays text."""
    if cell == "":
        return None
    try:
        return jsonstream.loads(cell, max_depth)
    except ValueError:
        return cell


# -- one trace -----------------------------------------------------------------------------


def _from_trace(
    raw: Any,
    where: str,
    observations: list[dict[str, Any]] | None = None,
    *,
    max_depth: int = jsonstream.DEFAULT_MAX_DEPTH,
) -> Iterator[TraceRecord | Problem]:
    if not isinstance(raw, dict):
        yield Problem(where, f"expected a trace object, found {type(raw).__name__}")
        return
    trace_id = raw.get("id")
    if not isinstance(trace_id, str) or not trace_id:
        yield Problem(where, "trace has no id")
        return
    where = f"{where} (trace {trace_id})"
    stamp = raw.get("timestamp", raw.get("createdAt"))
    parsed = parse_time(stamp)
    if parsed is None:
        yield Problem(where, f"unparseable timestamp {stamp!r}")
        return
    user = _text(raw.get("userId", raw.get("user_id")))
    if not user:
        yield Problem(where, "trace has no userId, so it cannot be paired with a user's images")
        return
    own, problem = _observations_of(raw)
    if problem is not None:
        yield Problem(where, problem)
    nested = [_slim(o) for o in own]
    seen = {o.get("id") for o in observations or []}
    obs = list(observations or []) + [o for o in nested if o.get("id") not in seen]
    record = TraceRecord(
        id=trace_id,
        timestamp=parsed.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        ts=parsed.timestamp(),
        user_id=user,
        session_id=_text(raw.get("sessionId", raw.get("session_id"))),
        name=_text(raw.get("name")),
        input=decode_json_text(raw.get("input"), max_depth),
        output=decode_json_text(raw.get("output"), max_depth),
        metadata=decode_json_text(raw.get("metadata"), max_depth),
        tags=_tags(raw.get("tags")),
    )
    record.model = _model(raw, record.metadata, obs)
    record.cost = _cost(raw, obs)
    record.media = _media(record, obs)
    yield record


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (naive means UTC, as Langfuse writes) or epoch seconds / milliseconds."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            seconds = value / 1000 if abs(value) > 1e11 else value
            return datetime.fromtimestamp(seconds, UTC)
        if isinstance(value, str) and value.strip():
            parsed = datetime.fromisoformat(value.strip())
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def decode_json_text(value: Any, max_depth: int = jsonstream.DEFAULT_MAX_DEPTH) -> Any:
    """Decode a JSON string (objects, arrays, quoted strings, null); other text, and JSON
    nested deeper than `max_depth`, stays as it is."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("{", "[", '"') or stripped == "null":
            try:
                return jsonstream.loads(stripped, max_depth)
            except ValueError:
                return value
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _tags(value: Any) -> list[str] | None:
    value = decode_json_text(value)
    if isinstance(value, list):
        return [str(tag) for tag in value]
    return None


def _slim(obs: dict[str, Any]) -> dict[str, Any]:
    """What a trace needs from an observation (the rest may be large)."""
    keep = ("id", "type", "model", "totalCost", "calculatedTotalCost", "costDetails", "startTime")
    slim = {k: obs.get(k) for k in keep}
    # Media references usually sit in a generation's input, not the trace's.
    for name in ("input", "output", "metadata"):
        value = obs.get(name)
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        found = [m.group(0) for m in MEDIA_REF.finditer(text)]
        if found:
            slim[f"refs_{name}"] = found
    return slim


def _model(raw: dict[str, Any], metadata: Any, obs: list[dict[str, Any]]) -> str | None:
    models: list[str] = []
    for o in sorted(obs, key=lambda o: str(o.get("startTime") or "")):
        model = o.get("model")
        if isinstance(model, str) and model and model not in models:
            models.append(model)
    if models:
        return ", ".join(models)
    direct = _text(raw.get("model"))
    if direct:
        return direct
    if isinstance(metadata, dict):
        for key in ("model", "model_name", "ls_model_name", "modelName"):
            found = _text(metadata.get(key))
            if found:
                return found
    return None


def _number(value: Any) -> float | None:
    return as_float(decode_json_text(value))


def _cost(raw: dict[str, Any], obs: list[dict[str, Any]]) -> float | None:
    for key in ("totalCost", "calculatedTotalCost", "cost", "total_cost"):
        found = _number(raw.get(key))
        if found is not None:
            return found
    total: float | None = None
    for o in obs:
        value = _number(o.get("totalCost"))
        if value is None:
            value = _number(o.get("calculatedTotalCost"))
        if value is None and isinstance(o.get("costDetails"), dict):
            value = _number(o["costDetails"].get("total"))
        if value is not None:
            total = (total or 0.0) + value
    return total


def _media(record: TraceRecord, obs: list[dict[str, Any]]) -> list[MediaRef]:
    found: dict[str, MediaRef] = {}
    sources: list[tuple[str, str]] = []
    for name in ("input", "output", "metadata"):
        value = getattr(record, name)
        if value is not None:
            sources.append((name, value if isinstance(value, str) else json.dumps(value)))
    for o in obs:
        for name in ("input", "output", "metadata"):
            for text in o.get(f"refs_{name}", ()):
                sources.append((f"observation.{name}", text))
    for where, text in sources:
        for match in MEDIA_REF.finditer(text):
            mime, media_id, source = match.groups()
            found.setdefault(media_id, MediaRef(media_id, mime, source, where))
    return list(found.values())


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]
