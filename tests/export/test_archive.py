"""`export_archive` on a real index built by ingesting a real export zip."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml

from mediasyncd.app import App
from mediasyncd.config import Config, parse_config
from mediasyncd.export import ExportError, ExportSummary, configured_dir, export_archive
from mediasyncd.export.state import LOCK_NAME, STATE_NAME, export_lock
from mediasyncd.ingest.pipeline import IngestSummary
from tests.helpers import make_zip, run_mediasyncd, tree_snapshot
from tests.support.export_builders import (
    CID_HOSTILE,
    CID_LONG,
    CID_PATH,
    CID_TRIP,
    HOSTILE_TITLE,
    MISSING_PROMPT,
    PROMPT,
    export_zip,
    hostile_conversation,
    png_bytes,
    simple,
    trip_conversation,
)

Export = Callable[..., ExportSummary]
Ingest = Callable[..., IngestSummary]


def state_of(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / STATE_NAME).read_text())
    return data


def folder(out: Path, cid: str) -> Path:
    return out / state_of(out)["conversations"][cid]["folder"]


def page(out: Path, cid: str, name: str = "conversation.html") -> str:
    return (folder(out, cid) / name).read_text(encoding="utf-8")


class Tags(HTMLParser):
    """Every start tag with its attributes, to check what a page can do."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Tags:
    parser = Tags()
    parser.feed(html)
    return parser


def test_export_layout_media_and_manifests(export: Export, sample: App, tmp_path: Path) -> None:
    """Folders per conversation with page, media (files of their own, never the store's
    objects) and manifest; media_index.json maps every digest to where it lies."""
    summary = export()
    out = tmp_path / "out"
    assert (summary.conversations, summary.written, summary.failures) == (7, 7, [])
    assert (out / "index.html").is_file() and (out / "media_index.json").is_file()
    trip = folder(out, CID_TRIP)
    assert trip.name == "2024-05-01_trip-planning-b-notes-b_6a1f2c3d"
    media = sorted(p.name for p in (trip / "media").iterdir())
    assert media == [
        "2f1c33a4-9f7e-4a51-b1a8-0d6fb0e2c111.png",
        "6d2d1f6c-0b7e-4d53-8f37-2a3f4b5c6d7e.wav",
        "beach photo.png",
    ]
    manifest = json.loads((trip / "media_manifest.json").read_text())
    for record in manifest["files"]:
        placed = trip / record["path"]
        stored = sample.store.path_of(record["digest"])
        # A file of its own (a reflink or a copy), never the store's object itself.
        assert placed.stat().st_ino != stored.stat().st_ino
        assert placed.read_bytes() == stored.read_bytes()
    links = {(r["name"], r["message"], r["strategy"], r["association"]) for r in manifest["files"]}
    assert ("beach photo.png", "u1", "asset_pointer", "attachment") in links
    generated = "2f1c33a4-9f7e-4a51-b1a8-0d6fb0e2c111.png"
    assert {(generated, m) for m in ("tool1", "a2")} <= {(n, m) for n, m, _s, _a in links}
    assert {r["key"] for r in manifest["unresolved"]} == {"file-Missing0001", "file-GoneDalle01"}
    index = json.loads((out / "media_index.json").read_text())
    assert len(index["digests"]) == 5
    for record in index["digests"].values():
        for place in record["conversations"]:
            assert (out / place["path"]).is_file()
    conversation_level = folder(out, CID_PATH) / "media" / "sketch.png"
    assert conversation_level.is_file()


def test_conversation_page_shows_thread_media_and_missing(export: Export, tmp_path: Path) -> None:
    """Images inline, audio with controls, the prompt on the generated image, the other
    branch folded, unresolved references named, conversation-level files in their part."""
    export()
    out = tmp_path / "out"
    html = page(out, CID_TRIP)
    tags = parse(html)
    imgs = [a["src"] for t, a in tags.tags if t == "img"]
    assert imgs == ["media/beach%20photo.png", "media/2f1c33a4-9f7e-4a51-b1a8-0d6fb0e2c111.png"]
    assert ("audio", {"controls": None, "preload": "metadata"}) in tags.tags
    sources = [a for t, a in tags.tags if t == "source"]
    assert sources == [
        {"src": "media/6d2d1f6c-0b7e-4d53-8f37-2a3f4b5c6d7e.wav", "type": "audio/wav"}
    ]
    text = " ".join(" ".join(tags.text).split())
    assert PROMPT in text and "Generated" in text
    assert "file-Missing0001" in text and "report_q3.pdf" in text
    assert MISSING_PROMPT in text
    assert "Other branch · 1 message" in text and "An older answer, regenerated." in text
    assert [a.get("class") for t, a in tags.tags if t == "details"] == ["branch"]
    roles = [a["class"] for t, a in tags.tags if t == "article"]
    assert roles[:3] == ["msg role-user", "msg role-assistant", "msg role-tool"]
    assert "Files of the whole conversation" in page(out, CID_PATH)
    index = parse((out / "index.html").read_text())
    rows = [a["href"] for t, a in index.tags if t == "a" and a["href"].endswith(".html")]
    assert len(rows) == 7


def test_hostile_titles_text_and_names_are_only_text(export: Export, tmp_path: Path) -> None:
    """No script, no event handler, no javascript: URL reaches a page; the title shows as
    written; every href/src is a relative path inside the export."""
    export()
    out = tmp_path / "out"
    for html_path in sorted(out.rglob("*.html")):
        html = html_path.read_text()
        tags = parse(html)
        scripts = [t for t, _a in tags.tags if t == "script"]
        assert len(scripts) == (1 if html_path.name == "index.html" else 0)
        for tag, attrs in tags.tags:
            assert not any(name.startswith("on") for name in attrs), (tag, attrs)
            for name in ("href", "src"):
                value = attrs.get(name)
                if value is not None:
                    assert ":" not in value.split("/")[0], value
                    assert (html_path.parent / unquote(value)).exists(), value
    hostile = page(out, CID_HOSTILE)
    assert "<script>window" not in hostile and "<img src=x" not in hostile
    texts = parse(hostile).text
    assert HOSTILE_TITLE in texts  # the <h1>, character for character
    assert f"{HOSTILE_TITLE} · mediasyncd" in texts  # the <title>
    names = os.listdir(folder(out, CID_HOSTILE) / "media")
    assert names == ["___img src=x onerror=alert(1)_.png"]


def test_nothing_is_written_outside_dir(export: Export, sample: App, tmp_path: Path) -> None:
    """Path-like titles and names stay inside DIR; no symlink is created."""
    out = tmp_path / "out"
    before = tree_snapshot(tmp_path, exclude=[out, sample.state_dir])
    export()
    assert tree_snapshot(tmp_path, exclude=[out, sample.state_dir]) == before
    for path in out.rglob("*"):
        assert not path.is_symlink()
        assert path.resolve().is_relative_to(out.resolve())


def test_unchanged_reexport_writes_nothing(export: Export, tmp_path: Path) -> None:
    """A second run with nothing changed touches no file at all."""
    export()
    out = tmp_path / "out"
    before = tree_snapshot(out)
    summary = export()
    assert (summary.written, summary.unchanged, summary.removed) == (0, 7, 0)
    assert tree_snapshot(out) == before


def test_only_the_changed_conversation_is_rewritten(
    export: Export, ingest: Ingest, tmp_path: Path
) -> None:
    """A newer copy of one conversation rewrites its folder only."""
    export()
    out = tmp_path / "out"
    before = tree_snapshot(out)
    newer = trip_conversation()
    newer["update_time"] += 1000
    newer["mapping"]["a4"]["message"]["content"]["parts"] = ["Done, with a new ending."]
    ingest(export_zip(tmp_path / "newer.zip", [newer], {}))
    summary = export()
    assert (summary.written, summary.unchanged) == (1, 6)
    after = tree_snapshot(out)
    changed = {path.split("/")[0] for path in after if after[path] != before.get(path)}
    assert changed == {folder(out, CID_TRIP).name, "index.html", "media_index.json", STATE_NAME}
    assert "Done, with a new ending." in page(out, CID_TRIP)


def test_a_new_file_resolves_a_missing_reference(
    export: Export, ingest: Ingest, tmp_path: Path
) -> None:
    """When the missing attachment arrives, its conversation is rewritten with the file."""
    export()
    out = tmp_path / "out"
    ingest(make_zip(tmp_path / "late.zip", {"file-Missing0001-report_q3.pdf": b"%PDF-1.7\n%x"}))
    summary = export()
    assert summary.written == 1
    trip = folder(out, CID_TRIP)
    assert (trip / "media" / "report_q3.pdf").is_file()
    tags = parse(page(out, CID_TRIP))
    assert {"class": "file-link", "href": "media/report_q3.pdf", "download": None} in [
        a for t, a in tags.tags if t == "a"
    ]
    assert "file-Missing0001" not in " ".join(tags.text)


def test_title_change_renames_and_removal_deletes(
    export: Export, ingest: Ingest, sample: App, tmp_path: Path
) -> None:
    """A renamed conversation moves to its new folder; one the index lost is removed."""
    export()
    out = tmp_path / "out"
    old = folder(out, CID_HOSTILE)
    renamed = hostile_conversation()
    renamed["title"], renamed["update_time"] = "Now harmless", renamed["update_time"] + 5
    ingest(export_zip(tmp_path / "renamed.zip", [renamed], {}))
    long_folder = folder(out, CID_LONG)
    with sample.index.write():
        sample.index.execute("DELETE FROM conversations WHERE id = ?", (CID_LONG,))
    summary = export()
    assert (summary.written, summary.removed) == (1, 1)
    assert not old.exists() and not long_folder.exists()
    assert folder(out, CID_HOSTILE).name == "2024-05-02_now-harmless_6a1f2c3d"
    assert (folder(out, CID_HOSTILE) / "media" / "___img src=x onerror=alert(1)_.png").exists()
    index = (out / "index.html").read_text()
    assert "Now harmless" in index and "Very long title" not in index


def test_conversation_and_since_filters(export: Export, tmp_path: Path) -> None:
    """--conversation and --since limit what is written; a full run then adds the rest."""
    out = tmp_path / "out"
    summary = export(conversations=[CID_TRIP])
    assert summary.written == 1
    assert list(state_of(out)["conversations"]) == [CID_TRIP]
    # Created 2024-05-05 and later: three of the samples.
    summary = export(since=1_714_905_000.0)
    assert summary.written == 3
    summary = export()
    assert (summary.written, summary.unchanged) == (3, 4)


def test_format_switch_rewrites_everything(export: Export, tmp_path: Path) -> None:
    """html then markdown in the same DIR: every page is Markdown, no HTML page is left."""
    export(fmt="html")
    out = tmp_path / "out"
    summary = export(fmt="markdown")
    assert summary.written == 7
    assert not list(out.rglob("*.html"))
    assert (out / "index.md").is_file()
    text = page(out, CID_TRIP, "conversation.md")
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["conversation_id"] == CID_TRIP and front["media"] == 3
    for target in re.findall(r"\]\((media/[^)]+)\)", text):
        assert (folder(out, CID_TRIP) / unquote(target)).is_file(), target


def test_copy_mode_and_another_filesystem(export: Export, sample: App, tmp_path: Path) -> None:
    """Without links (or across filesystems) files are copies with the same bytes."""
    export(media="copy")
    trip = folder(tmp_path / "out", CID_TRIP)
    photo = trip / "media" / "beach photo.png"
    assert photo.stat().st_nlink == 1
    assert photo.read_bytes() == png_bytes(seed=1)
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second filesystem at /dev/shm")
    other = shm / f"mediasyncd-export-test-{os.getpid()}"
    try:
        summary = export(other, media="hardlink")
        assert summary.files_linked == 0 and summary.files_copied == 5
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_object_missing_from_store_is_shown_and_retried(
    export: Export, sample: App, tmp_path: Path
) -> None:
    """A gc'd or damaged object: the page says so, and the next run tries again."""
    photo = sample.store.path_of(_digest_of(sample, "beach"))
    saved = photo.read_bytes()
    photo.chmod(0o644)
    photo.unlink()
    summary = export()
    assert summary.files_missing == 1 and summary.failures == []
    out = tmp_path / "out"
    assert "not in store" in page(out, CID_TRIP)
    photo.write_bytes(saved)
    photo.chmod(0o444)
    summary = export()
    assert summary.written == 1
    assert (folder(out, CID_TRIP) / "media" / "beach photo.png").is_file()


def _digest_of(app: App, name_part: str) -> str:
    row = app.index.execute(
        "SELECT digest FROM occurrences WHERE member LIKE ?", (f"%{name_part}%",)
    ).fetchone()
    return str(row[0])


def test_refuses_foreign_folders_the_store_and_a_second_writer(
    export: Export, sample: App, tmp_path: Path
) -> None:
    """A non-empty folder that is no export, the state dir, and a locked DIR are refused."""
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.docx").write_text("precious")
    with pytest.raises(ExportError, match="not empty"):
        export(foreign)
    with pytest.raises(ExportError, match="state dir"):
        export(sample.state_dir)
    out = tmp_path / "out"
    with export_lock(out), pytest.raises(ExportError, match="another export"):
        export(out)
    assert (out / LOCK_NAME).exists()
    assert export(out).written == 7


def test_a_symlinked_folder_is_replaced_not_followed(
    export: Export, ingest: Ingest, tmp_path: Path
) -> None:
    """A conversation folder swapped for a symlink to elsewhere: nothing is written there."""
    export()
    out = tmp_path / "out"
    trip = folder(out, CID_TRIP)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    shutil.rmtree(trip)
    trip.symlink_to(elsewhere, target_is_directory=True)
    newer = trip_conversation()
    newer["update_time"] += 1000
    ingest(export_zip(tmp_path / "newer.zip", [newer], {}))
    export()
    assert os.listdir(elsewhere) == ["keep.txt"]
    assert trip.is_dir() and not trip.is_symlink()
    assert (trip / "conversation.html").is_file()


def test_unreadable_state_means_rewrite_without_deleting(export: Export, tmp_path: Path) -> None:
    """A damaged state file: every folder is written again, none is deleted."""
    export()
    out = tmp_path / "out"
    (out / STATE_NAME).write_text("{not json")
    summary = export()
    assert (summary.written, summary.removed) == (7, 0)
    assert len([p for p in out.iterdir() if p.is_dir()]) == 7


def test_same_names_get_distinct_stable_folders(app: App, ingest: Ingest, tmp_path: Path) -> None:
    """Same day, same title, ids sharing 8 characters: distinct folders, and the first one
    keeps its name when the second arrives."""
    out = tmp_path / "out"
    first = simple("abcdef12-0000-4000-8000-000000000002", "Same", "one", create_time=0.0)
    ingest(export_zip(tmp_path / "a.zip", [first], {}))
    export_archive(app.index, app.store, app.config, out)
    name = folder(out, first["id"]).name
    second = simple("abcdef12-0000-4000-8000-000000000001", "same", "two", create_time=0.0)
    ingest(export_zip(tmp_path / "b.zip", [second], {}))
    export_archive(app.index, app.store, app.config, out)
    assert folder(out, first["id"]).name == name == "1970-01-01_same_abcdef12"
    assert folder(out, second["id"]).name.startswith("1970-01-01_same_abcdef12-")


def test_trace_pairs_get_a_page_per_user(app: App, ingest: Ingest, tmp_path: Path) -> None:
    """Traces with their paired photo (rows as the trace reader writes them): one page per
    user, the photo inline, photos without a trace listed, the user on the index."""
    photos = {
        "meal-images/u1/lunch.png": png_bytes(seed=5),
        "meal-images/u1/snack.png": png_bytes(seed=6),
    }
    ingest(make_zip(tmp_path / "dump.zip", photos))
    ingest(export_zip(tmp_path / "c.zip", [trip_conversation()], {}))
    rows = app.index.execute(
        "SELECT o.id, o.digest, o.name FROM occurrences o WHERE o.member LIKE 'meal-images/%'"
    ).fetchall()
    by_name = {str(name): (int(oid), str(digest)) for oid, digest, name in rows}
    with app.index.write():
        for name, (oid, _digest) in by_name.items():
            app.index.execute(
                "INSERT OR REPLACE INTO dump_images (occurrence_id, user_id, taken, ts, "
                "time_source) VALUES (?, 'u1', NULL, ?, 'listing')",
                (oid, 1_714_600_000.0 if name == "lunch.png" else 1_714_700_000.0),
            )
        app.index.execute(
            "INSERT INTO traces (id, timestamp, ts, user_id, name, input, output, content_hash) "
            "VALUES ('tr-1', '2024-05-01T21:46:00Z', 1714599960.0, 'u1', 'meal-log', ?, ?, 'h1')",
            (json.dumps("<b>what did I eat?</b>"), json.dumps({"kcal": 640})),
        )
        app.index.execute(
            "INSERT INTO matches (subject, user_id, trace_id, digest, strategy, association, "
            "confidence) VALUES ('trace', 'u1', 'tr-1', ?, 'time', 'attachment', 0.8)",
            (by_name["lunch.png"][1],),
        )
    out = tmp_path / "out"
    summary = export_archive(app.index, app.store, app.config, out)
    assert summary.users_written == 1
    user_dirs = list((out / "users").iterdir())
    assert len(user_dirs) == 1 and user_dirs[0].name.startswith("u1_")
    html = (user_dirs[0] / "traces.html").read_text()
    tags = parse(html)
    assert [a["src"] for t, a in tags.tags if t == "img"] == [
        "media/lunch.png",
        "media/snack.png",
    ]
    assert "<b>what did I eat?</b>" in " ".join(tags.text) and "<b>what" not in html
    assert "Photos without a trace" in html
    assert "users/" in (out / "index.html").read_text()
    media_index = json.loads((out / "media_index.json").read_text())
    assert any(r["users"] for r in media_index["digests"].values())
    assert export_archive(app.index, app.store, app.config, out).users_written == 0


def test_an_empty_index_gives_an_empty_export_that_can_run_again(app: App, tmp_path: Path) -> None:
    """Nothing to export: an index page saying so, and the DIR is known as an export."""
    out = tmp_path / "out"
    assert export_archive(app.index, app.store, app.config, out).written == 0
    assert "0 conversations" in (out / "index.html").read_text()
    assert (out / STATE_NAME).is_file()
    assert export_archive(app.index, app.store, app.config, out).written == 0


def test_a_killed_export_leaves_whole_pages_and_the_next_run_completes(
    sample: App, tmp_path: Path
) -> None:
    """SIGKILL after the third conversation: every page on disk is complete, and a re-run
    writes the rest and leaves no temp file."""
    out = tmp_path / "out"
    args = ["--state-dir", str(sample.state_dir), "export", str(out)]
    killed = run_mediasyncd(args, env={"MEDIASYNCD_FAULT": "export.after_conversation:3"})
    assert killed.returncode == -9, killed.stderr
    pages = list(out.rglob("conversation.html"))
    assert len(pages) == 3
    for written in pages:
        assert written.read_text().endswith("</html>\n")
    done = run_mediasyncd([*args, "--json"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["written"] >= 4
    assert len(list(out.rglob("conversation.html"))) == 7
    assert not [p for p in out.rglob("*") if p.name.endswith(".mediasyncd-tmp")]


def test_unknown_conversation_ids_are_an_error(export: Export, tmp_path: Path) -> None:
    """A mistyped --conversation is named instead of silently exporting nothing."""
    with pytest.raises(ExportError, match="no conversation with id nope"):
        export(conversations=["nope"])


def test_configured_dir_is_relative_to_the_config_file(tmp_path: Path) -> None:
    """export.dir unset: no export; relative: next to the config file, like state_dir."""
    assert configured_dir(Config()) is None
    config = parse_config('[export]\ndir = "archive"\n', tmp_path / "conf" / "c.toml")
    assert configured_dir(config) == tmp_path / "conf" / "archive"


def test_images_browsers_cannot_show_become_links(app: App, ingest: Ingest, tmp_path: Path) -> None:
    """A HEIC upload is a download link, not a broken <img>."""
    heic = b"\x00\x00\x00\x18ftypheic" + b"\x00" * 200
    conv = simple(CID_TRIP, "heic", "photo", create_time=0.0)
    conv["mapping"]["u1"]["message"]["content"]["parts"].insert(
        0, {"content_type": "image_asset_pointer", "asset_pointer": "file-service://file-Heic01"}
    )
    ingest(export_zip(tmp_path / "h.zip", [conv], {"file-Heic01-IMG_1.HEIC": heic}))
    out = tmp_path / "out"
    export_archive(app.index, app.store, app.config, out)
    tags = parse(page(out, CID_TRIP))
    assert not [a for t, a in tags.tags if t == "img"]
    assert {"class": "file-link", "href": "media/IMG_1.HEIC", "download": None} in [
        a for t, a in tags.tags if t == "a"
    ]


def test_swapped_titles_never_share_a_folder(app: App, ingest: Ingest, tmp_path: Path) -> None:
    """A takes the title B had while B moves on (same day, same short id): no folder is
    written by two conversations, and a filtered run leaves B's folder whole."""
    out = tmp_path / "out"
    a_id, b_id = "abcdef12-0000-4000-8000-00000000000a", "abcdef12-0000-4000-8000-00000000000b"
    a, b = simple(a_id, "Alpha", "a", create_time=0.0), simple(b_id, "Beta", "b", create_time=0.0)
    ingest(export_zip(tmp_path / "1.zip", [a, b], {}))
    export_archive(app.index, app.store, app.config, out)
    b_folder = folder(out, b_id)
    a["title"], a["update_time"] = "Beta", 5000.0
    ingest(export_zip(tmp_path / "2.zip", [a], {}))
    export_archive(app.index, app.store, app.config, out, conversations=[a_id])
    assert folder(out, a_id) != b_folder
    assert json.loads((b_folder / "media_manifest.json").read_text())["conversation_id"] == b_id
    b["title"], b["update_time"] = "Gamma", 5000.0
    ingest(export_zip(tmp_path / "3.zip", [b], {}))
    export_archive(app.index, app.store, app.config, out)
    folders = {cid: folder(out, cid) for cid in (a_id, b_id)}
    assert len(set(folders.values())) == 2
    for cid, path in folders.items():
        assert json.loads((path / "media_manifest.json").read_text())["conversation_id"] == cid
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(
        p.name for p in folders.values()
    )
