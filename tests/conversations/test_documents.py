"""Documents kept once (issue 18): each conversation an object of its own, compressed;
conversations.json and chat.html as recipes of them; message text out of the index.

Everything runs the real CLI in a child process on real zips and a real state dir.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mediasyncd.store.digest import digest_bytes
from tests.helpers import make_zip, run_in_state, run_mediasyncd

WORDS = (
    "the",
    "river",
    "light",
    "morning",
    "paper",
    "window",
    "garden",
    "letter",
    "silver",
    "quiet",
    "machine",
    "harbor",
    "winter",
    "orange",
    "music",
    "bridge",
    "forest",
    "table",
    "engine",
    "cloud",
    "number",
    "story",
    "summer",
    "voice",
)


def prose(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)) + "."


def conversation(i: int, turns: int, *, seed: int = 0) -> dict[str, Any]:
    """A text-heavy conversation: `turns` user/assistant pairs of fresh prose."""
    rng = random.Random(i * 1000 + seed)
    cid = f"c0ffee00-0000-4000-8000-{i:012d}"
    mapping: dict[str, Any] = {}
    parent = None
    for n in range(turns * 2):
        node = f"{cid}-n{n}"
        role = "user" if n % 2 == 0 else "assistant"
        mapping[node] = {
            "id": node,
            "parent": parent,
            "children": [],
            "message": {
                "id": node,
                "author": {"role": role},
                "create_time": 1_700_000_000.0 + i * 100 + n,
                "content": {"content_type": "text", "parts": [prose(rng, 60 if n % 2 else 12)]},
            },
        }
        if parent is not None:
            mapping[parent]["children"].append(node)
        parent = node
    return {
        "id": cid,
        "conversation_id": cid,
        "title": f"Conversation {i}",
        "create_time": 1_700_000_000.0 + i * 100,
        "update_time": 1_700_000_000.0 + i * 100 + turns * 2,
        "current_node": parent,
        "mapping": mapping,
    }


def continued(conv: dict[str, Any], text: str) -> dict[str, Any]:
    """The same conversation with one more assistant message at the end."""
    conv = json.loads(json.dumps(conv))
    last = conv["current_node"]
    node = f"{last}-more"
    conv["mapping"][last]["children"].append(node)
    conv["mapping"][node] = {
        "id": node,
        "parent": last,
        "children": [],
        "message": {
            "id": node,
            "author": {"role": "assistant"},
            "create_time": conv["update_time"] + 1,
            "content": {"content_type": "text", "parts": [text]},
        },
    }
    conv["current_node"] = node
    conv["update_time"] += 10
    return conv


def export(path: Path, conversations: list[dict[str, Any]]) -> tuple[Path, int]:
    """An export zip with conversations.json and chat.html embedding the same JSON;
    returns it and the size of conversations.json."""
    document = json.dumps(conversations).encode()
    html = (
        b"<!DOCTYPE html><html><body><script>\nvar jsonData = "
        + document
        + b';\nvar assetsJson = {"file-service://file-X": "file-X-a.png"};\n</script></body></html>'
    )
    make_zip(path, {"conversations.json": document, "chat.html": html})
    return path, len(document)


def objects_bytes(state: Path) -> int:
    return sum(p.stat().st_size for p in (state / "objects").rglob("*") if p.is_file())


def ingest(state: Path, drop: Path) -> dict[str, Any]:
    done = run_in_state(state, "ingest", "--json", drop)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture
def months(tmp_path: Path) -> list[tuple[Path, int]]:
    first = [conversation(i, 6) for i in range(40)]
    second = [*first[:39], continued(first[39], "A new answer about the harbor bridge.")]
    second += [conversation(100 + i, 6) for i in range(2)]
    return [export(tmp_path / "m0.zip", first), export(tmp_path / "m1.zip", second)]


def test_a_text_export_costs_less_than_one_copy_of_its_json(
    tmp_path: Path, months: list[tuple[Path, int]]
) -> None:
    """Before: conversations.json and chat.html were kept as they came, two full copies
    (and the text a third time in index.db). Now the store holds less than one."""
    state = tmp_path / "state"
    (drop, json_bytes) = months[0]
    ingest(state, drop)
    assert objects_bytes(state) < json_bytes


def test_next_month_adds_only_the_conversations_that_changed(
    tmp_path: Path, months: list[tuple[Path, int]]
) -> None:
    """Next month's export (39 same, 1 continued, 2 new): the store grows by the three
    conversations' objects and two recipes, not by another copy of the documents."""
    state = tmp_path / "state"
    ingest(state, months[0][0])
    before = objects_bytes(state)
    summary = ingest(state, months[1][0])
    assert summary["conversations_new"] == 2 and summary["conversations_changed"] == 1
    growth = objects_bytes(state) - before
    assert growth < 0.15 * months[1][1], (growth, months[1][1])
    # Exactly one compressed object per distinct conversation version.
    compressed = list((state / "objects").rglob("*.z"))
    assert len(compressed) == 40 + 3


def test_documents_are_recipes_that_read_back_exactly(
    tmp_path: Path, months: list[tuple[Path, int]]
) -> None:
    """conversations.json and chat.html have no plain copy, yet their objects read back
    to the exact bytes of the drop under their own digest (cat-object via verify)."""
    state = tmp_path / "state"
    drop = months[0][0]
    ingest(state, drop)
    import zipfile

    with zipfile.ZipFile(drop) as archive:
        members = {name: archive.read(name) for name in ("conversations.json", "chat.html")}
    for data in members.values():
        digest = digest_bytes(data)
        shard = state / "objects" / digest[:2]
        assert not (shard / digest[2:]).exists()
        assert (shard / (digest[2:] + ".r")).is_file()
    done = run_in_state(state, "verify", "--json")
    assert done.returncode == 0, done.stdout
    report = json.loads(done.stdout)
    assert report["ok"] and report["bytes_checked"] >= sum(map(len, members.values()))


def test_message_text_is_not_in_the_index_and_the_export_still_shows_it(
    tmp_path: Path, months: list[tuple[Path, int]]
) -> None:
    state = tmp_path / "state"
    for drop, _ in months:
        ingest(state, drop)
    with sqlite3.connect(state / "index.db") as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
        text_in_db = db.execute(
            "SELECT COUNT(*) FROM messages WHERE conversation_id LIKE 'c0ffee00%'"
        ).fetchone()[0]
    assert "text" not in columns and text_in_db > 0
    out = tmp_path / "out"
    done = run_in_state(state, "export", out)
    assert done.returncode == 0, done.stderr
    pages = "".join(p.read_text() for p in out.rglob("*.html"))
    assert "A new answer about the harbor bridge." in pages
    rng = random.Random(5 * 1000)
    assert prose(rng, 12) in pages


@pytest.mark.parametrize("suffix", [".z", ".r"])
def test_verify_catches_a_flipped_bit_in_a_compressed_object_or_recipe(
    tmp_path: Path, months: list[tuple[Path, int]], suffix: str
) -> None:
    state = tmp_path / "state"
    ingest(state, months[0][0])
    victim = sorted((state / "objects").rglob(f"*{suffix}"))[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x10
    victim.chmod(0o644)
    victim.write_bytes(bytes(data))
    done = run_mediasyncd(["--state-dir", str(state), "verify", "--json"])
    assert done.returncode == 1, done.stdout
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    named = victim.parent.name + victim.stem
    (problem,) = [p for p in report["problems"] if p["digest"] == named]
    assert problem["kind"] == "damaged" and problem["quarantined_to"], report
    assert not victim.exists()


def test_reindex_rebuilds_from_recipes_and_compressed_objects(
    tmp_path: Path, months: list[tuple[Path, int]]
) -> None:
    """The index rebuilt from the store alone has the same conversations, messages and
    documents, and the export reads the same text from it."""
    state = tmp_path / "state"
    for drop, _ in months:
        ingest(state, drop)

    def snapshot() -> tuple[list[Any], list[Any]]:
        with sqlite3.connect(state / "index.db") as db:
            conversations = db.execute(
                "SELECT id, content_hash, document, message_count FROM conversations ORDER BY id"
            ).fetchall()
            messages = db.execute(
                "SELECT conversation_id, id, parent_id, role, position FROM messages "
                "ORDER BY conversation_id, id"
            ).fetchall()
        return conversations, messages

    before = snapshot()
    done = run_in_state(state, "reindex", "--yes")
    assert done.returncode == 0, done.stderr
    assert snapshot() == before
    assert len(before[0]) == 42
    out = tmp_path / "out"
    assert run_in_state(state, "export", out).returncode == 0
    assert "A new answer about the harbor bridge." in "".join(
        p.read_text() for p in out.rglob("*.html")
    )


def test_a_conversation_over_the_byte_cap_is_read_by_the_streaming_parser(
    tmp_path: Path,
) -> None:
    """limits.max_conversation_bytes: a larger conversation sends the document to the
    capped streaming parser; it is still read in full and its text exported."""
    big = conversation(7, 900)
    drop, _ = export(tmp_path / "big.zip", [conversation(1, 2), big])
    assert len(json.dumps(big)) > 1 << 20
    conf = tmp_path / "mediasyncd.toml"
    conf.write_text("[limits]\nmax_conversation_bytes = 1048576\n")
    state = tmp_path / "state"
    done = run_mediasyncd(
        ["--config", str(conf), "--state-dir", str(state), "ingest", "--json", str(drop)]
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["conversations_new"] == 2 and summary["failures"] == []
    with sqlite3.connect(state / "index.db") as db:
        documents = [r[0] for r in db.execute("SELECT document FROM conversations")]
    assert all(documents)


def test_unchanged_conversations_are_not_parsed_again(
    tmp_path: Path, months: list[tuple[Path, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Next month's export: only the continued and the two new conversations are parsed
    and extracted; the 39 others are known by the digest of their raw bytes."""
    from mediasyncd.app import App
    from mediasyncd.conversations import item
    from mediasyncd.ingest.pipeline import Ingester

    app = App.load(state_dir=str(tmp_path / "state"))
    try:
        ingester = Ingester(app.index, app.store, app.config, app.state_dir)
        assert ingester.ingest_paths([months[0][0]]).failures == []
        parsed: list[bytes] = []
        real = item.parse_conversation

        def counting(raw: bytes, max_depth: int, max_nodes: int) -> Any:
            parsed.append(raw)
            return real(raw, max_depth, max_nodes)

        monkeypatch.setattr(item, "parse_conversation", counting)
        assert ingester.ingest_paths([months[1][0]]).failures == []
        assert len(parsed) == 3
    finally:
        app.close()


CRASH_POINTS = [
    ("store.form_after_write", 2),
    ("store.form_after_link", 3),
    ("store.form_after_link", 4),
    ("documents.before_drop_plain", 1),
    ("documents.before_drop_plain", 2),
]


@pytest.mark.parametrize(
    ("point", "count"), CRASH_POINTS, ids=[f"{p}:{n}" for p, n in CRASH_POINTS]
)
def test_killed_while_keeping_documents_then_rerun_loses_nothing(
    tmp_path: Path, months: list[tuple[Path, int]], point: str, count: int
) -> None:
    """SIGKILL at each step of keeping next month's documents (a conversation's object,
    a recipe, the plain copy's removal): right after, the store verifies clean and last
    month's conversations read back; a re-run ends as an uninterrupted run does."""
    import signal

    state = tmp_path / "state"
    ingest(state, months[0][0])
    args = ["--state-dir", str(state), "ingest", "--json", str(months[1][0])]
    crashed = run_mediasyncd(args, env={"MEDIASYNCD_FAULT": f"{point}:{count}"})
    assert crashed.returncode == -signal.SIGKILL, (crashed.returncode, crashed.stderr)
    check = run_mediasyncd(["--state-dir", str(state), "verify", "--json"])
    assert check.returncode == 0, check.stdout
    assert run_mediasyncd(args).returncode == 0

    clean = tmp_path / "clean"
    for drop, _ in months:
        ingest(clean, drop)

    def snapshot(where: Path) -> tuple[list[Any], set[str]]:
        with sqlite3.connect(where / "index.db") as db:
            rows = db.execute(
                "SELECT id, content_hash, document FROM conversations ORDER BY id"
            ).fetchall()
        names = {p.name for p in (where / "objects").rglob("*") if p.is_file()}
        return rows, {n for n in names if not n.startswith("tmp-")}

    crashed_rows, crashed_files = snapshot(state)
    clean_rows, clean_files = snapshot(clean)
    assert crashed_rows == clean_rows
    # The same objects, in the same forms (manifests differ: they name times and runs).
    assert {n for n in crashed_files if "." in n} == {n for n in clean_files if "." in n}
    out = tmp_path / "out"
    assert run_mediasyncd(["--state-dir", str(state), "export", str(out)]).returncode == 0
    assert "A new answer about the harbor bridge." in "".join(
        p.read_text() for p in out.rglob("*.html")
    )


def test_text_an_older_index_held_is_exported_until_the_conversation_is_read_again(
    tmp_path: Path, months: list[tuple[Path, int]]
) -> None:
    """After migration 0009 a conversation recorded by an older version has no document:
    its text (moved to message_text_legacy) is what the export shows; the next ingest of
    an export holding it gives it a document and the kept text goes."""
    state = tmp_path / "state"
    ingest(state, months[0][0])
    cid = conversation(3, 6)["id"]
    with sqlite3.connect(state / "index.db") as db:
        db.execute(
            "UPDATE conversations SET document = NULL, content_hash = 'old' WHERE id = ?", (cid,)
        )
        ids = [
            r[0] for r in db.execute("SELECT id FROM messages WHERE conversation_id = ?", (cid,))
        ]
        db.executemany(
            "INSERT INTO message_text_legacy (conversation_id, id, text) VALUES (?, ?, ?)",
            [(cid, m, f"legacy text {n}") for n, m in enumerate(ids)],
        )
    out = tmp_path / "out"
    assert run_in_state(state, "export", out).returncode == 0
    assert "legacy text 1" in "".join(p.read_text() for p in out.rglob("*.html"))
    ingest(state, months[1][0])
    with sqlite3.connect(state / "index.db") as db:
        assert db.execute("SELECT document FROM conversations WHERE id = ?", (cid,)).fetchone()[0]
        assert db.execute("SELECT COUNT(*) FROM message_text_legacy").fetchone()[0] == 0


@pytest.mark.parametrize(("extra", "refused"), [(0, False), (1, True)])
def test_the_nesting_limit_holds_at_its_edge_for_a_conversation_read_whole(
    extra: int, refused: bool
) -> None:
    """A conversation sits at depth 2 (inside the document's array); lists nested in it
    reach `limit + extra`: at the limit it is read, one deeper it is refused."""
    from mediasyncd.conversations.item import ConversationShapeError, parse_conversation

    limit = 128
    chain = limit - 2 + extra
    raw = ('{"id": "c", "mapping": {}, "deep": ' + "[" * chain + "]" * chain + "}").encode()
    if refused:
        with pytest.raises(ConversationShapeError, match="max_json_depth"):
            parse_conversation(raw, limit, 50_000)
    else:
        assert parse_conversation(raw, limit, 50_000)["id"] == "c"
