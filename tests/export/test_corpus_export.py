"""The export of a generated corpus (every era, the privacy archive): each link the index
holds is in a manifest and on disk with the right bytes, each unresolved reference is
shown, and each page's links resolve."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pytest

from mediasyncd.app import App
from mediasyncd.export import export_archive
from mediasyncd.index.reports import iter_unresolved
from mediasyncd.ingest.pipeline import IngestSummary
from mediasyncd.store.digest import digest_stream
from tests.export.test_archive import parse
from tests.support.chatgpt_corpus import (
    build_corpus,
    write_export,
    write_multipart,
    write_privacy_archive,
)


@pytest.mark.parametrize("era", ["A", "C", "multipart"])
def test_every_link_and_unresolved_reference_is_exported(
    era: str, app: App, ingest: Callable[..., IngestSummary], tmp_path: Path
) -> None:
    """Manifests equal the index's matches; files hold their digest's bytes; every href
    and src of every page points at a file in the export."""
    corpus = build_corpus(seed=7, n_conversations=25)
    drops = tmp_path / "drops"
    export = (
        write_multipart(corpus, drops)
        if era == "multipart"
        else write_export(corpus, drops, era, shard_size=10)
    )
    summary = ingest(export.path, write_privacy_archive(corpus, drops).path)
    assert not summary.failures, summary.failures
    out = tmp_path / "out"
    result = export_archive(app.index, app.store, app.config, out)
    assert result.failures == [] and result.written == 25

    state = json.loads((out / ".mediasyncd-export.json").read_text())
    exported: set[tuple[str, str | None, str, str]] = set()
    unresolved: set[tuple[str, str | None, str]] = set()
    for cid, entry in state["conversations"].items():
        folder = out / entry["folder"]
        manifest = json.loads((folder / "media_manifest.json").read_text())
        for record in manifest["files"]:
            with open(folder / record["path"], "rb") as handle:
                assert digest_stream(handle)[0] == record["digest"]
            exported.add((cid, record["message"], record["digest"], record["strategy"]))
        unresolved |= {(cid, r["message"], r["key"]) for r in manifest["unresolved"]}
        page = (folder / "conversation.html").read_text()
        for _tag, attrs in parse(page).tags:
            for name in ("href", "src"):
                if attrs.get(name):
                    assert (folder / unquote(str(attrs[name]))).exists(), attrs[name]
        for ref in manifest["unresolved"]:
            assert ref["key"] in page
    in_index = {
        (str(c), m, str(d), str(s))
        for c, m, d, s in app.index.execute(
            """SELECT m.conversation_id, m.message_id, m.digest, m.strategy FROM matches m
               JOIN conversations c ON c.id = m.conversation_id
               WHERE m.subject = 'conversation'"""
        )
    }
    assert exported == in_index
    known = set(state["conversations"])
    expected_unresolved = {
        (r["conversation_id"], r["message_id"], r["key"])
        for r in iter_unresolved(app.index, subject="conversation")
        # An ambiguous mention names a file the archive has (under other conversations'
        # names too): it is not a missing file, so pages do not list it.
        if r["conversation_id"] in known and r["kind"] != "ambiguous_mention"
    }
    assert unresolved == expected_unresolved
