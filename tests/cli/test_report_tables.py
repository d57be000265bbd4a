"""The table views of `matches` and `unresolved`, as a person at a terminal reads them:
they fit the terminal, are grouped by conversation with its title, and show messages by
role and time and files by name; the full records stay in `--format jsonl|csv`."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from pathlib import Path

import pytest

from tests.helpers import make_zip, media_bytes, run_in_terminal, run_mediasyncd
from tests.support.chatgpt_corpus import build_corpus, write_export


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export with links and unresolved references, an image dump with one photo a
    trace takes and one no trace takes, and a trace no photo goes with."""
    root = tmp_path_factory.mktemp("tables")
    export = write_export(build_corpus(seed=11, n_conversations=20), root / "drops", "A").path
    dump = make_zip(
        root / "drops" / "meal-images.zip",
        {
            "alice/IMG_20250131_163000.jpg": media_bytes(4000, "a", "jpeg"),
            "alice/IMG_20250201_090000.jpg": media_bytes(4100, "b", "jpeg"),
        },
    )
    traces = root / "drops" / "traces.jsonl"
    traces.write_text(
        "\n".join(
            json.dumps(t)
            for t in (
                {"id": "tr-used", "timestamp": "2025-01-31T16:28:00Z", "userId": "alice"},
                {"id": "tr-lonely", "timestamp": "2025-03-01T10:00:00Z", "userId": "alice"},
            )
        )
        + "\n"
    )
    state_dir = root / "state"
    result = run_mediasyncd(
        ["--state-dir", str(state_dir), "ingest", str(export), str(dump), str(traces)]
    )
    assert result.returncode == 0, result.stderr
    return state_dir


def width(line: str) -> int:
    """Terminal columns a line takes (East Asian wide characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)


def run(state: Path, *args: str, columns: int = 120) -> str:
    result = run_mediasyncd(["--state-dir", str(state), *args], env={"COLUMNS": str(columns)})
    assert result.returncode == 0, result.stderr
    return result.stdout


def records(state: Path, command: str, *args: str) -> list[dict[str, object]]:
    out = run(state, command, "--format", "jsonl", *args)
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("columns", [80, 120])
def test_matches_table_fits_the_terminal(state: Path, columns: int) -> None:
    """No line is wider than the terminal (it was about 230 columns on a 120-column
    screen, with empty trace_id/user_id columns for conversation rows)."""
    out = run(state, "matches", columns=columns)
    widest = max(width(line) for line in out.splitlines())
    assert widest <= columns, [line for line in out.splitlines() if width(line) > columns][:3]
    assert "trace_id" not in out and "user_id" not in out


def test_matches_table_fits_a_real_terminal(state: Path) -> None:
    """On a real (pseudo-)terminal of 90 columns, with no $COLUMNS to go by."""
    code, screen = run_in_terminal(["--state-dir", str(state), "matches"], columns=90)
    assert code == 0, screen
    lines = screen.replace("\r\n", "\n").splitlines()
    assert any("whole conversation" in line or " user " in line for line in lines)
    assert max(width(line) for line in lines) <= 90


def test_matches_table_is_grouped_by_conversation_with_titles(state: Path) -> None:
    """Each conversation with links is one group: a heading with its title, date and
    id, then one row per link with the message's role and time, the file's name, the
    association, the strategy and the confidence; a total at the end."""
    out = run(state, "matches", "--subject", "conversation")
    links = records(state, "matches", "--subject", "conversation")
    by_conversation: dict[str, list[dict[str, object]]] = {}
    for link in links:
        by_conversation.setdefault(str(link["conversation_id"]), []).append(link)
    blocks = out.strip().split("\n\n")
    assert blocks[-1] == (
        f"{len(links)} links to {len({link['digest'] for link in links})} files in "
        f"{len(by_conversation)} conversations"
    )
    headings = {}
    for block in blocks[:-1]:
        heading, header, *rows = block.splitlines()
        match = re.fullmatch(r"(.+) \((\d{4}-\d\d-\d\d), ([0-9a-f-]{36})\): (\d+) files?", heading)
        assert match, heading
        headings[match[3]] = match[1]
        assert header.split() == ["message", "file", "association", "strategy", "conf"]
        assert len(rows) == len(by_conversation[match[3]])
        for row in rows:
            assert re.match(
                r"  (whole conversation|(user|assistant|tool|system) \d{4}-\d\d-\d\d \d\d:\d\d) ",
                row,
            ), row
            assert re.search(r"  (generated|attachment|inline) +\S+ +[01]\.\d\d$", row), row
    assert set(headings) == set(by_conversation)
    titled = [title for title in headings.values() if title != "(untitled)"]
    assert titled, "no conversation title was shown"


def test_matches_table_names_files_not_paths(state: Path) -> None:
    """The file column holds a file name (an attachment's own name where there is one),
    never the source path."""
    out = run(state, "matches", "--subject", "conversation")
    assert "!/" not in out and ".zip" not in out
    names = [
        str(link["path"]).rsplit("/", 1)[-1]
        for link in records(state, "matches", "--subject", "conversation")
    ]
    assert any(name.split("-", 2)[-1] in out or name in out for name in names)


def test_matches_full_records_stay_in_jsonl_and_csv(state: Path) -> None:
    """jsonl and csv keep the contract's fields, one record per link, unchanged."""
    links = records(state, "matches")
    assert links and set(links[0]) == {
        "subject",
        "conversation_id",
        "message_id",
        "trace_id",
        "user_id",
        "digest",
        "strategy",
        "association",
        "confidence",
        "path",
    }
    rows = list(csv.DictReader(io.StringIO(run(state, "matches", "--format", "csv"))))
    assert len(rows) == len(links)


def test_matches_table_shows_trace_pairs_by_user(state: Path) -> None:
    """Photo-trace pairs are grouped by user in the table, fitted too."""
    out = run(state, "matches", "--subject", "trace", columns=100)
    assert out.startswith("user alice: 1 pair\n")
    assert "tr-used" in out and "IMG_20250131_163000.jpg" in out
    assert max(width(line) for line in out.splitlines()) <= 100
    assert out.rstrip().endswith("1 pair for 1 user")


def test_unresolved_shows_conversations_and_traces_with_totals(state: Path) -> None:
    """Without --subject, `unresolved` lists the conversations' unresolved references
    and the traces' leftovers (it used to list only the former), each part grouped and
    ending with its totals."""
    out = run(state, "unresolved")
    refs = records(state, "unresolved", "--subject", "conversation")
    leftovers = records(state, "unresolved", "--subject", "trace")
    conversations = {r["conversation_id"] for r in refs}
    assert refs and leftovers
    assert out.startswith("Conversations\n\n")
    totals = f"\n{len(refs)} unresolved references in {len(conversations)} conversations\n"
    assert totals + "\nTraces\n\n" in out
    assert out.endswith(
        "\n1 unused trace (no photo went with it), 1 unmatched photo (no trace took it), "
        "for 1 user\n"
    )
    assert "user alice: 1 unused trace\n" in out and "user alice: 1 unmatched photo\n" in out
    assert "tr-lonely" in out and "IMG_20250201_090000.jpg" in out
    for ref in refs:
        assert str(ref["key"]) in out
    assert max(width(line) for line in out.splitlines()) <= 120


def test_unresolved_jsonl_without_subject_has_both_kinds(state: Path) -> None:
    everything = records(state, "unresolved")
    kinds = {r["kind"] for r in everything}
    assert {"unused_trace", "unmatched_image"} <= kinds
    assert any(r["subject"] == "conversation" for r in everything)


def test_status_wraps_its_matches_line_to_the_terminal(state: Path) -> None:
    """`status`'s line of match counts by strategy is wrapped under its value, between
    items, instead of running past the terminal's edge."""
    out = run(state, "status", columns=60)
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("matches "))
    block = [lines[start]]
    block += [line for line in lines[start + 1 :] if line.startswith(" " * 15)][:10]
    assert len(block) > 1, out
    assert all(width(line) <= 60 for line in block), block
    joined = " ".join(line.strip() for line in block)
    total = int(re.search(r"^matches +(\d+) \(", joined)[1])  # type: ignore[index]
    counts = [int(n) for n in re.findall(r"[a-z_]+ (\d+)[,)]", joined)]
    assert sum(counts) == total
