"""End to end: generated exports of every era and the privacy archive, ingested through
the real CLI into a real state dir, against the ground truth of tests/support/chatgpt_corpus.py.

Each check is exact: every expected link found with its strategy, association and
confidence; no link the spec does not call for; every reference no file satisfies listed
by `mediasyncd unresolved`, and none that a file does satisfy.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.chatgpt_corpus import (
    Corpus,
    Truth,
    WrittenDrop,
    build_corpus,
    check,
    cli,
    cli_records,
    earlier_version,
    expected,
    ingest_cli,
    write_export,
    write_multipart,
    write_privacy_archive,
)

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures" / "chatgpt"
N = 40


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return build_corpus(seed=2026, n_conversations=N)


def status(state: Path) -> dict[str, Any]:
    code, out = cli(state, "status", "--json")
    assert code == 0
    data: dict[str, Any] = json.loads(out)
    return data


def assert_matches_truth(truth: Truth, state: Path) -> None:
    result = check(truth, state)
    assert result.ok, result.describe()


def assert_clean(summary: dict[str, Any]) -> None:
    assert summary["exit"] == 0, summary["failures"]
    assert summary["failures"] == []


LAYOUTS: dict[str, dict[str, Any]] = {
    "A-zip": {"era": "A"},
    "A-folder-object-form": {"era": "A", "zipped": False, "object_form": True},
    "A-zip-without-chat-html": {"era": "A", "chat_html": False},
    "B-zip": {"era": "B", "shard_size": 15},
    "B-folder": {"era": "B", "zipped": False, "shard_size": 15},
    "C-zip": {"era": "C", "shard_size": 15},
    "C-folder": {"era": "C", "zipped": False, "shard_size": 15},
    "multipart-zip": {"era": "M"},
    "multipart-folder": {"era": "M", "zipped": False},
}


def write_layout(corpus: Corpus, dest: Path, spec: dict[str, Any]) -> WrittenDrop:
    options = dict(spec)
    era = options.pop("era")
    if era == "M":
        return write_multipart(corpus, dest, **options)
    return write_export(corpus, dest, era, **options)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_export_and_privacy_archive_match_the_truth(
    corpus: Corpus, tmp_path: Path, layout: str
) -> None:
    """Each layout (zip or folder) ingested with the privacy archive (zip for zipped
    exports, folder otherwise) gives exactly the expected links and unresolved refs."""
    export = write_layout(corpus, tmp_path / "drops", LAYOUTS[layout])
    zipped = LAYOUTS[layout].get("zipped", True)
    privacy = write_privacy_archive(corpus, tmp_path / "drops", zipped=bool(zipped))
    state = tmp_path / "state"
    summary = ingest_cli(state, export.path, privacy.path)
    assert_clean(summary)
    assert summary["conversations_new"] == N
    assert status(state)["conversations"] == N
    assert_matches_truth(expected([export, privacy]), state)


def test_export_alone_then_privacy_archive_resolves_only_what_it_touches(
    corpus: Corpus, tmp_path: Path
) -> None:
    """An export alone leaves the privacy archive's files unresolved; the archive then
    resolves them, and its ingest recomputes the conversations it touches, not all."""
    export = write_export(corpus, tmp_path / "drops", "A")
    privacy = write_privacy_archive(corpus, tmp_path / "drops")
    state = tmp_path / "state"
    assert_clean(ingest_cli(state, export.path))
    before = expected([export])
    assert_matches_truth(before, state)
    summary = ingest_cli(state, privacy.path)
    assert_clean(summary)
    after = expected([export, privacy])
    assert_matches_truth(after, state)
    assert summary["conversations_new"] == 0

    def signature(truth: Truth, conv: str) -> tuple[set[Any], set[Any]]:
        links = {k for k in truth.links.items() if k[0][0] == conv}
        refs = {k for k in truth.unresolved if k[0] == conv}
        return links, refs

    changed = {
        c.id for c in corpus.conversations if signature(before, c.id) != signature(after, c.id)
    }
    reachable = touched_by(corpus, privacy)
    assert changed <= reachable
    assert len(changed) <= summary["rematched_conversations"] <= len(reachable)
    assert summary["rematched_conversations"] < N


def touched_by(corpus: Corpus, drop: WrittenDrop) -> set[str]:
    """Conversations a drop's files can concern: those naming one of its ids, owning one
    of its folders, mentioning one of its names, or with a pointer of one of its sizes."""
    ids = {fid for f in drop.files for fid, _ in f.ids}
    folders = {f.conv_folder for f in drop.files if f.conv_folder}
    names = {f.name for f in drop.files}
    sizes = {f.asset.size for f in drop.files if not f.ids}
    touched = set()
    for conv in corpus.conversations:
        refs = conv.refs()
        if (
            conv.id in folders
            or any(r.key in ids or r.size_bytes in sizes for r in refs)
            or any(name in names for n in conv.nodes.values() for name in n.mentions)
        ):
            touched.add(conv.id)
    return touched


@pytest.mark.parametrize("era", ["A", "C"])
def test_newer_export_updates_changed_conversations_without_duplicates(
    corpus: Corpus, tmp_path: Path, era: str
) -> None:
    """An older export, then a newer one of the same account: new conversations are
    added, changed ones updated, unchanged ones left alone, nothing duplicated; the
    matches are those of the newer data."""
    older = earlier_version(corpus, seed=9)
    old_drop = write_export(older, tmp_path / "old", era, shard_size=15)
    new_drop = write_export(corpus, tmp_path / "new", era, shard_size=15)
    privacy = write_privacy_archive(corpus, tmp_path / "drops")
    state = tmp_path / "state"
    first = ingest_cli(state, old_drop.path, privacy.path)
    assert_clean(first)
    assert first["conversations_new"] == len(older.conversations)
    assert_matches_truth(expected([old_drop, privacy]), state)

    second = ingest_cli(state, new_drop.path)
    assert_clean(second)
    previous = {c.id: c for c in older.conversations}
    new = [c for c in corpus.conversations if c.id not in previous]
    changed = [
        c for c in corpus.conversations if c.id in previous and c.turns != previous[c.id].turns
    ]
    assert second["conversations_new"] == len(new)
    assert second["conversations_changed"] == len(changed)
    assert_matches_truth(expected([old_drop, privacy, new_drop]), state)

    fresh = tmp_path / "fresh"
    assert_clean(ingest_cli(fresh, new_drop.path, privacy.path))
    counts = status(state)
    assert counts["conversations"] == N
    assert counts["messages"] == status(fresh)["messages"]
    assert counts["references"] == status(fresh)["references"]


def without_path(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        ({k: v for k, v in r.items() if k != "path"} for r in records),
        key=lambda r: json.dumps(r, sort_keys=True),
    )


def test_privacy_archive_before_or_after_the_export_gives_the_same_matches(
    corpus: Corpus, tmp_path: Path
) -> None:
    """The drop order does not matter: privacy archive first or last, same links and
    the same unresolved references, both equal to the truth."""
    export = write_export(corpus, tmp_path / "drops", "C", shard_size=15)
    privacy = write_privacy_archive(corpus, tmp_path / "drops")
    first, last = tmp_path / "privacy-first", tmp_path / "privacy-last"
    assert_clean(ingest_cli(first, privacy.path))
    assert_clean(ingest_cli(first, export.path))
    assert_clean(ingest_cli(last, export.path))
    assert_clean(ingest_cli(last, privacy.path))
    assert without_path(cli_records(first, "matches")) == without_path(cli_records(last, "matches"))
    assert cli_records(first, "unresolved") == cli_records(last, "unresolved")
    assert_matches_truth(expected([export, privacy]), first)


def test_reingesting_the_same_drops_changes_nothing(corpus: Corpus, tmp_path: Path) -> None:
    """A second ingest of the same export and archive adds and removes no match."""
    export = write_export(corpus, tmp_path / "drops", "B", zipped=False)
    privacy = write_privacy_archive(corpus, tmp_path / "drops")
    state = tmp_path / "state"
    assert_clean(ingest_cli(state, export.path, privacy.path))
    before = cli_records(state, "matches")
    again = ingest_cli(state, export.path, privacy.path)
    assert_clean(again)
    assert again["matches_added"] == again["matches_removed"] == 0
    assert cli_records(state, "matches") == before


def test_a_broken_shard_and_a_malformed_conversation_fail_alone(
    corpus: Corpus, tmp_path: Path
) -> None:
    """Invalid JSON in one shard fails that shard only, a conversation of the wrong
    shape is skipped with an error naming it; everything else matches the truth."""
    export = write_export(corpus, tmp_path / "drops", "B", zipped=False, shard_size=10)
    privacy = write_privacy_archive(corpus, tmp_path / "drops")
    broken = export.path / "conversations-001.json"
    # Broken before its first conversation ends, so no reading keeps part of it.
    broken.write_bytes(broken.read_bytes()[:300] + b"\x00}}garbage")
    shard0 = export.path / "conversations-000.json"
    rows = json.loads(shard0.read_text())
    rows.append({"id": "bad-shape-conversation", "title": None, "mapping": ["not", "an", "object"]})
    shard0.write_text(json.dumps(rows))
    lost = {c.id for c in corpus.conversations[10:20]}
    export.conversations = [c for c in export.conversations if c.id not in lost]
    state = tmp_path / "state"
    summary = ingest_cli(state, export.path, privacy.path)
    named = " ".join(f"{f['member']} {f['error']}" for f in summary["failures"])
    assert "conversations-001.json" in named
    assert "bad-shape-conversation" in named
    assert status(state)["conversations"] == N - 10
    assert_matches_truth(expected([export, privacy]), state)


def test_real_fixture_conversation_links_its_upload(tmp_path: Path) -> None:
    """The real golden conversation (fixtures/chatgpt) in an era A zip with its upload
    named `file-<id>-<name>` and a distractor whose id extends it: one attachment link
    to the user message, nothing for the distractor."""
    conversation = json.loads((FIXTURES / "echomine_golden_002_with_images.raw.json").read_text())
    upload = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8
    distractor = b"\x89PNG\r\n\x1a\n" + bytes(range(255, -1, -1)) * 8
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("conversations.json", json.dumps([conversation]))
        archive.writestr(
            "file-6y9faxjcnXrzx8UTUQepS7-BE5F438F-8A64-4D2D-A395-F81569CBD555.jpeg", upload
        )
        archive.writestr("file-6y9faxjcnXrzx8UTUQepS7X-image.png", distractor)
    state = tmp_path / "state"
    assert_clean(ingest_cli(state, path))
    rows = cli_records(state, "matches")
    assert [
        (r["conversation_id"], r["message_id"], r["strategy"], r["association"]) for r in rows
    ] == [
        (
            "684a1df7-302c-8005-bf41-d26c56ecdc7f",
            "27329ecf-30a8-4875-a6f5-c884dbfb021e",
            "asset_pointer",
            "attachment",
        )
    ]
    assert not [r for r in cli_records(state, "unresolved") if r["key"].startswith("file")]


def test_copying_a_drop_elsewhere_does_not_duplicate(corpus: Corpus, tmp_path: Path) -> None:
    """The same export dropped twice under two names: files are stored once and each
    link is reported once."""
    export = write_export(corpus, tmp_path / "drops", "A")
    copy = tmp_path / "elsewhere" / export.path.name
    copy.parent.mkdir()
    shutil.copy(export.path, copy)
    state = tmp_path / "state"
    assert_clean(ingest_cli(state, export.path))
    summary = ingest_cli(state, copy)
    assert_clean(summary)
    assert summary["blobs_new"] == 0
    assert summary["conversations_new"] == summary["conversations_changed"] == 0
    assert_matches_truth(expected([export]), state)
