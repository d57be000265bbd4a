"""A byte-identical copy of an ingested drop at another path (issue 14) is recorded as an
alias of it: no member read, no occurrence, key or link of its own, and every part of
mediasyncd (status, gc, verify, reindex, export, the manifests) treats it as holding what
the first holds. When the first is read again with other bytes, the copy first takes a
copy of what the first held: it never loses its content. Every command runs in a child
process."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from mediasyncd.app import App
from tests.daemon.support import query
from tests.helpers import index_state, ingest_json, run_in_state
from tests.reliability.fullcorpus import links_snapshot
from tests.support.chatgpt_corpus import build_corpus, write_export


def _export(tmp_path: Path, seed: int, folder: str) -> Path:
    corpus = build_corpus(seed=seed, n_conversations=10)
    return write_export(corpus, tmp_path / folder, "A", name="export").path


def _snapshot(state: Path) -> dict[str, Any]:
    app = App.load(state_dir=str(state))
    try:
        return {"index": index_state(app.index, app.store), "links": links_snapshot(app.index)}
    finally:
        app.close()


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _occurrences(state: Path, path: Path) -> int:
    rows = query(
        state / "index.db",
        """SELECT COUNT(*) FROM occurrences o JOIN sources s ON s.id = o.source_id
           WHERE s.path = ? AND o.member != '.mediasyncd/manifest.json'""",
        (str(path),),
    )
    return int(rows[0][0])


def test_a_copy_is_an_alias_that_holds_what_the_first_holds(tmp_path: Path) -> None:
    first = _export(tmp_path, 5, "downloads")
    copy = tmp_path / "elsewhere" / "export-copy.zip"
    copy.parent.mkdir()
    shutil.copyfile(first, copy)
    state = tmp_path / "state"
    assert ingest_json(state, first)[0] == 0
    before = _snapshot(state)
    assert run_in_state(state, "export", tmp_path / "out-before").returncode == 0

    code, summary = ingest_json(state, copy)
    assert code == 0
    (entry,) = summary["sources"]
    assert entry["same_as"] == str(first) and entry["state"] == "ok"
    assert summary["blobs_new"] == 0 and summary["rematched_conversations"] == 0
    assert _occurrences(state, copy) == 0
    after = _snapshot(state)
    assert after["links"] == before["links"]

    status = json.loads(run_in_state(state, "status", "--json").stdout)
    assert status["sources"]["ok"] == 2
    assert run_in_state(state, "export", tmp_path / "out-after").returncode == 0
    assert _tree(tmp_path / "out-after") == _tree(tmp_path / "out-before")
    # gc removes nothing the copy's manifest or the first's occurrences name.
    assert run_in_state(state, "gc", "--grace", "0").returncode == 0
    assert run_in_state(state, "verify").returncode == 0
    assert _snapshot(state) == after

    # Rebuilt from the store alone, the copy is an alias again.
    assert run_in_state(state, "reindex", "--yes").returncode == 0
    rows = query(state / "index.db", "SELECT path, same_as IS NOT NULL FROM sources ORDER BY id")
    assert [(str(p), bool(a)) for p, a in rows] == [(str(first), False), (str(copy), True)]
    assert _snapshot(state)["links"] == before["links"]


def test_the_first_read_again_with_other_bytes_leaves_the_copy_its_content(
    tmp_path: Path,
) -> None:
    """The first path then holds another export: the copy keeps the old one's files,
    keys and links, exactly as if it had been ingested on its own."""
    first = _export(tmp_path, 5, "downloads")
    saved = tmp_path / "saved.zip"
    shutil.copyfile(first, saved)
    copy = tmp_path / "elsewhere" / "export-copy.zip"
    copy.parent.mkdir()
    shutil.copyfile(first, copy)
    state = tmp_path / "state"
    assert ingest_json(state, first)[0] == 0
    assert ingest_json(state, copy)[1]["sources"][0]["same_as"] == str(first)

    other = _export(tmp_path, 6, "other")
    shutil.copyfile(other, first)
    assert ingest_json(state, first)[0] == 0
    assert _occurrences(state, copy) > 0
    assert query(state / "index.db", "SELECT COUNT(*) FROM sources WHERE same_as IS NOT NULL") == [
        (0,)
    ]

    # The same drops ingested one by one with no copy among them.
    clean = tmp_path / "clean"
    shutil.copyfile(saved, copy)
    assert ingest_json(clean, copy)[0] == 0
    assert ingest_json(clean, first)[0] == 0
    assert _snapshot(state) == _snapshot(clean)


def test_a_copy_that_changes_is_read_as_itself(tmp_path: Path) -> None:
    first = _export(tmp_path, 5, "downloads")
    copy = tmp_path / "elsewhere" / "export-copy.zip"
    copy.parent.mkdir()
    shutil.copyfile(first, copy)
    state = tmp_path / "state"
    assert ingest_json(state, first)[0] == 0
    assert ingest_json(state, copy)[0] == 0
    shutil.copyfile(_export(tmp_path, 7, "third"), copy)
    code, summary = ingest_json(state, copy)
    assert code == 0 and "same_as" not in summary["sources"][0]
    assert _occurrences(state, copy) > 0
    assert _occurrences(state, first) > 0
