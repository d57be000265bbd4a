"""A realistic ChatGPT test corpus, built in code from a seed, with its ground truth.

    corpus = build_corpus(seed=7, n_conversations=40)
    export = write_export(corpus, tmp / "drops", "A")          # era A zip
    privacy = write_privacy_archive(corpus, tmp / "drops")     # "User Online Activity"
    truth = expected([export, privacy])                        # links + unresolved refs
    report = compare(truth, matches_records, unresolved_records)

The corpus mixes text-only conversations with user uploads (`file-service` and
`sediment` pointers with `metadata.attachments`), PDFs only in attachments, DALL·E tool
messages (`dalle.text2im`, `metadata.dalle`), GPT-4o images (`t2uay3k.sj1i4kz`,
`metadata.generation`), code interpreter `aggregate_result` images with `sandbox:` links,
voice mode (`real_time_user_audio_video_asset_pointer` with nested audio/video/frames),
edited and regenerated branches that still reference media, text mentions (and decoys
in other conversations), referenced files absent from the export, and distractor files
whose id extends a real id. Every file has distinct bytes and a distinct size.

Layouts (docs/formats.md, section 1): era A (`conversations.json` array or
`{"conversations": [...]}`, chat.html with `jsonData` and `assetsJson`), era B
(`conversations-NNN.json` shards, manifest, user_settings), era C (`<id>.dat`, the name
map, library_files.json, manifest), a multi-part era C export, and the privacy-request
archive; each as a zip or a folder.
The ground truth (tests/support/chatgpt_gen/truth.py) follows the linking rules
(docs/architecture.md, "Matching"), computed from the model, independently of
mediasyncd's own code.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mediasyncd.logconfig import reset_logging
from tests.support.chatgpt_gen.build import CorpusBuilder, build_corpus
from tests.support.chatgpt_gen.compare import Comparison, compare
from tests.support.chatgpt_gen.conversation import ConversationBuilder
from tests.support.chatgpt_gen.model import Asset, Conversation, Corpus, LibEntry
from tests.support.chatgpt_gen.privacy import write_privacy
from tests.support.chatgpt_gen.sink import PlacedFile, Sink, WrittenDrop
from tests.support.chatgpt_gen.truth import Ambiguous, Link, Truth, expected
from tests.support.chatgpt_gen.writers import classic_place, export_stem, write_classic, write_dat
from tests.support.chatgpt_gen.writers import write_multipart as _write_multipart

__all__ = [
    "Ambiguous",
    "Comparison",
    "Corpus",
    "DropSpec",
    "Link",
    "PlacedFile",
    "SplitPlan",
    "Truth",
    "WrittenDrop",
    "build_corpus",
    "cli",
    "compare",
    "earlier_version",
    "expected",
    "stream_big_export",
    "write_export",
    "write_multipart",
    "write_privacy_archive",
    "write_split",
]


def write_export(
    corpus: Corpus,
    dest_dir: Path,
    era: str,
    *,
    zipped: bool = True,
    object_form: bool = False,
    chat_html: bool = True,
    shard_size: int = 100,
    conversations: Sequence[Conversation] | None = None,
    assets: Sequence[Asset] | None = None,
    library: Sequence[LibEntry] | None = None,
    name: str | None = None,
) -> WrittenDrop:
    """An era "A", "B" or "C" export of the corpus (or of the given parts of it)."""
    convs = corpus.conversations if conversations is None else conversations
    files = corpus.assets if assets is None else assets
    rows = corpus.library if library is None else library
    stem = name or export_stem(corpus, era)
    dest = dest_dir / (stem + ".zip" if zipped else stem)
    if era == "C":
        return write_dat(
            dest, convs, files, rows, zipped=zipped, shard_size=shard_size, seed=corpus.seed
        )
    return write_classic(
        dest,
        era,
        convs,
        files,
        zipped=zipped,
        object_form=object_form,
        chat_html=chat_html,
        shard_size=shard_size,
    )


def write_multipart(
    corpus: Corpus, dest_dir: Path, *, zipped: bool = True, parts: int = 2, shard_size: int = 10
) -> WrittenDrop:
    """A multi-part era C export: outer zip (or folder) of Conversations__/Files__ parts."""
    stem = export_stem(corpus, "C", "-multipart")
    dest = dest_dir / (stem + ".zip" if zipped else stem)
    return _write_multipart(
        dest,
        corpus,
        corpus.conversations,
        corpus.assets,
        corpus.library,
        zipped=zipped,
        parts=parts,
        shard_size=shard_size,
        seed=corpus.seed,
    )


def write_privacy_archive(
    corpus: Corpus,
    dest_dir: Path,
    *,
    zipped: bool = True,
    assets: Sequence[Asset] | None = None,
    name: str = "privacy-request",
) -> WrittenDrop:
    """The privacy-request archive with every asset that has a privacy placement."""
    dest = dest_dir / (name + ".zip" if zipped else name)
    return write_privacy(
        dest, corpus.assets if assets is None else assets, corpus.user_id, zipped=zipped
    )


def earlier_version(corpus: Corpus, seed: int) -> Corpus:
    """An older export of the same account: some conversations not yet there, some one
    turn shorter, and only the files those versions reference."""
    rng = random.Random(seed)
    convs: list[Conversation] = []
    for conv in corpus.conversations:
        roll = rng.random()
        if roll < 0.2:
            continue
        convs.append(conv.truncated(1) if roll < 0.5 and conv.turns > 1 else conv)
    kept = {c.id: c for c in convs}
    all_ids = {c.id for c in corpus.conversations}

    def keep(asset: Asset) -> bool:
        if asset.conversation_id not in all_ids:
            return True
        conv = kept.get(asset.conversation_id or "")
        return conv is not None and asset.turn <= conv.turns

    assets = [a for a in corpus.assets if keep(a)]
    uids = {a.uid for a in assets}
    library = [
        e
        for e in corpus.library
        if e.asset_uid in uids
        or (e.asset_uid is None and e.thread in kept and e.message in kept[e.thread or ""].nodes)
    ]
    return replace(corpus, conversations=convs, assets=assets, library=library)


# -- random splits across drops (the incremental property test) ---------------------------


@dataclass
class DropSpec:
    era: str  # "A", "B", "C" (an export) or "P" (a privacy archive)
    zipped: bool


@dataclass
class SplitPlan:
    """Which drop gets what: conversations (and optionally an older version of one),
    export-placed files, privacy-placed files. Drops are ingested in list order."""

    drops: list[DropSpec]
    conversation_drop: dict[str, int] = field(default_factory=dict)
    earlier_drop: dict[str, int] = field(default_factory=dict)
    asset_drop: dict[int, int] = field(default_factory=dict)
    privacy_drop: dict[int, int] = field(default_factory=dict)


def write_split(corpus: Corpus, dest_dir: Path, plan: SplitPlan) -> list[WrittenDrop]:
    written: list[WrittenDrop] = []
    for n, spec in enumerate(plan.drops):
        name = f"drop-{n:02d}-{spec.era}"
        if spec.era == "P":
            assets = [a for a in corpus.assets if plan.privacy_drop.get(a.uid) == n]
            written.append(
                write_privacy_archive(
                    corpus, dest_dir, zipped=spec.zipped, assets=assets, name=name
                )
            )
            continue
        convs = [c for c in corpus.conversations if plan.conversation_drop.get(c.id) == n]
        convs += [c.truncated(1) for c in corpus.conversations if plan.earlier_drop.get(c.id) == n]
        assets = [a for a in corpus.assets if plan.asset_drop.get(a.uid) == n]
        written.append(
            write_export(
                corpus,
                dest_dir,
                spec.era,
                zipped=spec.zipped,
                conversations=convs,
                assets=assets,
                name=name,
                shard_size=3,
            )
        )
    return written


# -- a big export, streamed -------------------------------------------------------------------


def stream_big_export(
    dest: Path, *, target_json_bytes: int, pad_chars: int, seed: int, zipped: bool = True
) -> dict[str, int]:
    """An era A export whose conversations.json reaches `target_json_bytes`, written one
    conversation at a time: neither the JSON nor the media are ever held in memory whole
    (media bytes go to a spool file beside `dest` until the JSON member is closed)."""
    builder = CorpusBuilder(seed, pad_chars=pad_chars)
    count = media = 0
    members: list[tuple[str, int]] = []
    spool_path = dest.with_name(dest.name + ".media-spool")
    with Sink(dest, zipped) as sink, open(spool_path, "w+b") as spool:
        with sink.open("conversations.json") as out:
            out.write(b"[")
            written = 1
            while written < target_json_bytes:
                conv = ConversationBuilder(builder).build()
                blob = json.dumps(conv.to_json("A"), ensure_ascii=False).encode("utf-8")
                if count:
                    out.write(b",\n")
                    written += 2
                out.write(blob)
                written += len(blob)
                count += 1
                for asset in builder.assets:
                    if asset.export is not None and asset.role != "library_only":
                        member, _ids, _folder, _name = classic_place(asset, "A", False)
                        spool.write(asset.data)
                        members.append((member, asset.size))
                builder.assets.clear()
            out.write(b"]")
            written += 1
        spool.seek(0)
        for member, size in members:
            sink.write(member, spool.read(size), compress=False)
            media += 1
    spool_path.unlink()
    return {"conversations": count, "json_bytes": written, "media_files": media}


# -- running mediasyncd's CLI in this process ------------------------------------------------


def cli(state_dir: Path, *args: str) -> tuple[int, str]:
    """`mediasyncd --state-dir STATE ARGS…` in this process: (exit code, stdout)."""
    from mediasyncd.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--state-dir", str(state_dir), *args])
    reset_logging()
    assert "Traceback" not in err.getvalue(), err.getvalue()
    return code, out.getvalue()


def cli_records(state_dir: Path, command: str) -> list[dict[str, Any]]:
    """`matches` or `unresolved` as jsonl records."""
    code, out = cli(state_dir, command, "--format", "jsonl")
    assert code == 0, out
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def ingest_cli(state_dir: Path, *paths: Path) -> dict[str, Any]:
    """`mediasyncd ingest --json PATH…`: the summary object (exit code under "exit")."""
    code, out = cli(state_dir, "ingest", "--json", *map(str, paths))
    summary: dict[str, Any] = json.loads(out)
    summary["exit"] = code
    return summary


def check(truth: Truth, state_dir: Path) -> Comparison:
    """Compare the state dir's `matches` and `unresolved` with the truth."""
    return compare(truth, cli_records(state_dir, "matches"), cli_records(state_dir, "unresolved"))


__all__ += ["check", "cli_records", "ingest_cli"]
_ = (build_corpus, PlacedFile)
