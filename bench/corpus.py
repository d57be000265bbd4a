"""Large realistic corpora for the benchmarks, written as a stream so memory stays small.

    python -m bench.corpus chatgpt --era A --conversations 3000 --media-mb 2200 OUT.zip
    python -m bench.corpus chatgpt --era A --conversations 3000 --media-mb 2200 \\
        --grow 0.0526 OUT-newer.zip             # the same export plus 5 % more media
    python -m bench.corpus chatgpt --era A --conversations 50000 OUT.zip \\
        --privacy-touch 10 --privacy-out PRIVACY.zip
    python -m bench.corpus chatgpt --era A --conversations 20000 --json-mb 1000 OUT.zip
    python -m bench.corpus chatgpt --era A --conversations 3000 --media-mb 50 \\
        --assistant-kb 50 --newest-first OUT.zip   # text-heavy, ordered as ChatGPT does
    python -m bench.corpus next-month OUT.zip NEXT.zip   # +5 % new, 3 % continued
    python -m bench.corpus traces --users 2000 OUTDIR     # image dump + Langfuse traces

Conversations come from the test corpus builder (tests/support/chatgpt_gen: uploads, PDFs,
DALL·E, GPT-4o images, code interpreter, voice, edited branches, mentions, absent files),
one conversation at a time: its JSON goes to a spool file, its media straight into the
zip, and the media bytes are dropped as soon as they are written. So a 2 GB export or a
1 GB conversations.json never sits in memory.

Sizes: `--conversations` is exact. `--media-mb` scales every file size the builder draws
(so pointers' `size_bytes` still agree with the files) until the export's media total
about that much; `--media-count` caps the files written (references beyond it stay
unresolved, as in an export that lost files); `--json-mb` pads message text until
conversations.json is about that large (windows of one small string of 28 words: fine
for parsers, wrong for compression or chunking studies); `--assistant-kb` instead gives
the assistant replies fresh prose (bench/prose.py) averaging that much per conversation.
These targets come from a calibration run of a few hundred conversations on another
seed. The same seed and sizes give the same bytes, so `--grow F` writes the same export
followed by conversations holding F times as many media files again: a newer export that
shares 1/(1+F) of its media with the first.
`--newest-first` orders conversations.json (and chat.html) by update time, newest first,
as ChatGPT writes it. Beside each export `<zip>.gen.json` keeps what `next-month`
(bench/monthly.py) needs to derive the following month's export from it.
Eras: A (conversations.json + chat.html), B (conversations-NNN.json shards + manifest), C
(`<id>.dat` files, the name map, library and manifest). `--privacy-touch K` also writes
the privacy-request archive holding the privacy-placed files of K conversations spread
over the export (`all`: every conversation's; only for small corpora, it is built in
memory).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.prose import Prose  # noqa: E402
from tests.support.chatgpt_gen.build import CorpusBuilder  # noqa: E402
from tests.support.chatgpt_gen.conversation import ConversationBuilder  # noqa: E402
from tests.support.chatgpt_gen.model import Asset, Conversation  # noqa: E402
from tests.support.chatgpt_gen.privacy import write_privacy  # noqa: E402
from tests.support.chatgpt_gen.sink import Sink  # noqa: E402
from tests.support.chatgpt_gen.writers import (  # noqa: E402
    ERA_C_ONLY,
    STAMPS,
    classic_place,
    dat_name_map,
)

CALIBRATION = 300
SIZE_TRIES = 20
SHARD = 100


@dataclass
class ChatGPTSpec:
    era: str = "A"
    conversations: int = 1000
    media_bytes: int | None = None
    media_count: int | None = None
    json_bytes: int | None = None
    grow: float = 0.0
    seed: int = 11
    chat_html: bool = True
    zipped: bool = True
    privacy_touch: int | None = 0  # None: every conversation's privacy files
    # Every conversation with both `id` and `conversation_id` (some tools need the latter).
    both_ids: bool = False
    # Fresh prose in assistant replies, this many bytes per conversation on average.
    assistant_bytes: int | None = None
    # conversations.json ordered by update time, newest first (as ChatGPT writes it).
    newest_first: bool = False


@dataclass
class Calibration:
    json_per_conv: float
    pad_slope: float  # extra JSON bytes per conversation per padding character
    media_per_conv: float
    files_per_conv: float
    replies_per_conv: float  # assistant replies that take padding or prose


def _in_export(asset: Asset, era: str) -> bool:
    if asset.export is None:
        return False
    if era == "C":
        return bool(asset.file_id)
    return asset.role not in ERA_C_ONLY


def _sample(seed: int, pad: int, era: str) -> tuple[float, float, float, float]:
    builder = CorpusBuilder(seed, pad_chars=pad)
    replies = [0]
    padding = builder.padding

    def counted() -> str:
        replies[0] += 1
        return padding()

    builder.padding = counted  # type: ignore[method-assign]
    json_bytes = 0
    for _ in range(CALIBRATION):
        conv = ConversationBuilder(builder).build()
        json_bytes += len(json.dumps(conv.for_era(era).to_json(era), ensure_ascii=False).encode())
    media = [a for a in builder.assets if _in_export(a, era)]
    n = CALIBRATION
    return json_bytes / n, sum(a.size for a in media) / n, len(media) / n, replies[0] / n


def calibrate(spec: ChatGPTSpec) -> Calibration:
    """Per-conversation JSON and media of the builder, measured on another seed."""
    plain, media, files, replies = _sample(spec.seed + 1_000_003, 0, spec.era)
    slope = 0.0
    if spec.json_bytes:
        padded, _, _, _ = _sample(spec.seed + 1_000_003, 2000, spec.era)
        slope = (padded - plain) / 2000
    return Calibration(plain, slope, media, files, replies)


@dataclass
class Generation:
    """How an export's conversations were made, so a later month's can be made alike
    (kept beside the export as `<zip>.gen.json`)."""

    seed: int
    era: str
    pad: int
    scale: float
    mean_reply_chars: float | None
    both_ids: bool
    chat_html: bool
    month: int = 0
    clock_end: float = 0.0  # the latest update_time in the export


def generation_of(spec: ChatGPTSpec, cal: Calibration) -> Generation:
    pad = 0
    if spec.json_bytes and cal.pad_slope > 0:
        wanted = spec.json_bytes / spec.conversations
        pad = max(0, int((wanted - cal.json_per_conv) / cal.pad_slope))
    scale = 1.0
    if spec.media_bytes:
        scale = max(1.0, spec.media_bytes / max(1.0, spec.conversations * cal.media_per_conv))
    mean_reply = None
    if spec.assistant_bytes:
        mean_reply = spec.assistant_bytes / max(0.1, cal.replies_per_conv)
    return Generation(spec.seed, spec.era, pad, scale, mean_reply, spec.both_ids, spec.chat_html)


PROSE_SEED = 0x5EED


def make_builder(gen: Generation, seed: int) -> tuple[CorpusBuilder, Prose | None]:
    """The test builder with the generation's media scale and reply text."""
    builder = CorpusBuilder(seed, pad_chars=gen.pad)
    prose = None
    if gen.mean_reply_chars:
        prose = Prose(seed ^ PROSE_SEED, gen.mean_reply_chars)
        builder.padding = prose.reply  # type: ignore[method-assign]
    scale = gen.scale
    ids = builder.ids

    def size(lo: int, mean: int) -> int:
        """The builder's draw (a size no other file has), but after a few collisions a
        size is accepted anyway: with tens of thousands of small files the unique sizes
        run out and the builder's loop would spin (real files share sizes sometimes).
        Until then the draws, and so the corpus, are the test builder's own."""
        lo, mean = int(lo * scale), int(mean * scale)
        for _ in range(SIZE_TRIES):
            drawn = lo + int(ids.rng.expovariate(1 / mean))
            if drawn not in ids._sizes:
                break
        ids._sizes.add(drawn)
        return drawn

    ids.size = size  # type: ignore[method-assign]
    return builder, prose


def _conversations(
    spec: ChatGPTSpec, builder: CorpusBuilder, prose: Prose | None, base_files: list[int]
) -> Iterator[tuple[int, Conversation, list[Asset]]]:
    """(index, conversation, its new assets): the first `conversations`, then, with --grow,
    more until the extra export files reach `grow` times the first part's."""
    n = 0
    extra_files = 0
    while True:
        if n >= spec.conversations and (not spec.grow or extra_files >= spec.grow * base_files[0]):
            return
        before = len(builder.assets)
        if prose is not None:
            prose.next_conversation()
        conv = ConversationBuilder(builder).build()
        new = builder.assets[before:]
        if n >= spec.conversations:
            extra_files += sum(1 for a in new if _in_export(a, spec.era))
        yield n, conv, new
        n += 1


def _member(asset: Asset, era: str, has_map: bool, rng: random.Random) -> tuple[str, str | None]:
    """(member path, conversation_asset_file_names.json value) of an export file."""
    if era == "C":
        return f"{asset.file_id}.dat", dat_name_map(asset, rng)
    member, _ids, _folder, _name = classic_place(asset, era, has_map)
    return member, None


@dataclass
class MediaWriter:
    """Writes a conversation's new media into the export and notes what maps need."""

    sink: Sink
    era: str
    has_map: bool
    map_rng: random.Random
    stats: dict[str, Any]
    truth: Any = None
    media_count: int | None = None
    assets_json: dict[str, str] = field(default_factory=dict)
    name_map: dict[str, str] = field(default_factory=dict)

    def write(self, new: list[Asset]) -> None:
        stats = self.stats
        for asset in new:
            capped = self.media_count is not None and stats["media_files"] >= self.media_count
            if not _in_export(asset, self.era) or capped:
                continue
            member, original = _member(asset, self.era, self.has_map, self.map_rng)
            self.sink.write(member, asset.data, compress=False)
            stats["media_files"] += 1
            stats["media_bytes"] += asset.size
            if original is not None:
                self.name_map[member] = original
            if self.truth is not None:
                row = {
                    "member": member,
                    "digest": asset.digest,
                    "conversation_id": asset.conversation_id,
                }
                self.truth.write(json.dumps(row) + "\n")
            if self.era == "A" and asset.pointer and asset.export in {"id_name", "map_only"}:
                self.assets_json[asset.pointer] = member


class Spool:
    """conversations.json's items as written, each with its update time, so the
    document can be ordered newest first at the end (ChatGPT's order) without holding
    it in memory."""

    def __init__(self, path: Path):
        self.path = path
        self.out = open(path, "wb")  # noqa: SIM115 - closed by finish()
        self.items: list[tuple[float, int, int, int]] = []  # (-update, n, offset, length)
        self.bytes = 0

    def add(self, blob: bytes, update_time: float | None) -> None:
        n = len(self.items)
        self.items.append((-(update_time or 0.0), n, self.bytes, len(blob)))
        self.out.write(blob)
        self.bytes += len(blob)

    def finish(self, newest_first: bool) -> tuple[Path, int]:
        """The document (`[a,\nb,…]`) in a file beside the spool; its size."""
        self.out.close()
        order = sorted(self.items) if newest_first else sorted(self.items, key=lambda i: i[1])
        document = self.path.with_suffix(".document")
        size = 0
        with open(self.path, "rb") as spool, open(document, "wb") as out:
            out.write(b"[")
            for position, (_, _, offset, length) in enumerate(order):
                spool.seek(offset)
                out.write((b",\n" if position else b"") + spool.read(length))
                size += length + (2 if position else 0)
            out.write(b"]")
        return document, size + 2


def write_chatgpt(
    dest: Path,
    spec: ChatGPTSpec,
    privacy_dest: Path | None = None,
    truth_dest: Path | None = None,
) -> dict[str, Any]:
    """Write the export (and the privacy archive); returns what was written. With
    `truth_dest`, one JSON line per media file written: member, XXH3-128 digest and the
    conversation the generator made it for (null for files of no conversation)."""
    cal = calibrate(spec)
    gen = generation_of(spec, cal)
    builder, prose = make_builder(gen, spec.seed)
    era = spec.era
    has_map = era == "A" and spec.chat_html
    map_rng = random.Random(spec.seed)  # noqa: S311 - test data, not secrets
    stem = f"{builder.account}-{STAMPS[era]}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        if dest.is_dir():
            shutil.rmtree(dest)
        else:
            dest.unlink()
    spool_dir = Path(tempfile.mkdtemp(prefix="corpus-spool-", dir=dest.parent))
    truth = None
    stats: dict[str, Any] = {
        "path": str(dest),
        "era": era,
        "conversations": 0,
        "media_files": 0,
        "media_bytes": 0,
        "json_bytes": 0,
        "touched_conversations": [],
        "stem": stem,
    }
    base_files = [0]
    every = max(1, spec.conversations // max(1, spec.privacy_touch or 1))
    privacy_assets: list[Asset] = []
    kept: set[int] = set()
    shard: list[dict[str, Any]] = []
    shard_no = 0
    clock_end = 0.0
    try:
        truth = open(truth_dest, "w") if truth_dest else None  # noqa: SIM115 - closed below
        with _sink(dest, spec.zipped) as sink:
            spool = Spool(spool_dir / "conversations.json")
            media = MediaWriter(sink, era, has_map, map_rng, stats, truth, spec.media_count)
            for n, conv, new in _conversations(spec, builder, prose, base_files):
                if spec.both_ids:
                    conv.id_style = "both"
                doc = conv.for_era(era).to_json(era)
                clock_end = max(clock_end, conv.update_time)
                if era == "A":
                    spool.add(json.dumps(doc, ensure_ascii=False).encode("utf-8"), conv.update_time)
                else:
                    shard.append(doc)
                    if len(shard) == SHARD:
                        stats["json_bytes"] += _write_shard(sink, shard, shard_no)
                        shard, shard_no = [], shard_no + 1
                stats["conversations"] += 1
                media.write(new)
                mine = [a for a in new if a.privacy is not None and a.conversation_id == conv.id]
                if privacy_dest is not None and mine and _wanted(spec, n, every, stats):
                    privacy_assets.extend(mine)
                    kept.update(id(a) for a in mine)
                    stats["touched_conversations"].append(conv.id)
                for asset in new:
                    if id(asset) not in kept:
                        asset.data = b""  # written (or not wanted): free the bytes
                if n + 1 == spec.conversations:
                    base_files[0] = stats["media_files"]
            document, size = spool.finish(spec.newest_first)
            if era == "A":
                stats["json_bytes"] = size
            if shard:
                stats["json_bytes"] += _write_shard(sink, shard, shard_no)
            _finish(sink, era, document, has_map, media.assets_json, media.name_map)
    finally:
        shutil.rmtree(spool_dir, ignore_errors=True)
        if truth is not None:
            truth.close()
    stats["base_media_files"] = base_files[0]
    if prose is not None:
        stats["assistant_text_bytes"] = prose.produced
    if privacy_dest is not None:
        if privacy_dest.exists():
            privacy_dest.unlink()
        drop = write_privacy(privacy_dest, privacy_assets, builder.user_id, zipped=True)
        stats["privacy_path"] = str(privacy_dest)
        stats["privacy_files"] = len(drop.files)
    stats["size_bytes"] = _size(dest)
    gen.clock_end = clock_end
    save_generation(dest, gen)
    return stats


def generation_path(export: Path) -> Path:
    return export.with_name(export.name + ".gen.json")


def save_generation(export: Path, gen: Generation) -> None:
    generation_path(export).write_text(json.dumps(asdict(gen)))


def load_generation(export: Path) -> Generation:
    return Generation(**json.loads(generation_path(export).read_text()))


def _wanted(spec: ChatGPTSpec, n: int, every: int, stats: dict[str, Any]) -> bool:
    """Whether conversation `n` goes into the privacy archive: all of them, or K spread
    evenly over the export (the first with privacy files at or after each step)."""
    if spec.privacy_touch is None:
        return True
    taken = len(stats["touched_conversations"])
    return taken < spec.privacy_touch and n >= every * taken


def _sink(path: Path, zipped: bool) -> Sink:
    """The test writers' sink, with ZIP64 allowed: a benchmark export passes 2 GiB and
    65,535 members."""
    sink = Sink(path, zipped)
    if sink._zip is not None:
        sink._zip.close()
        sink._zip = zipfile.ZipFile(path, "w", allowZip64=True)
    return sink


def _write_shard(sink: Sink, shard: list[dict[str, Any]], number: int) -> int:
    blob = json.dumps(shard, ensure_ascii=False).encode("utf-8")
    sink.write(f"conversations-{number:03d}.json", blob)
    return len(blob)


def _copy(src: Path, out: Any) -> None:
    with open(src, "rb") as handle:
        shutil.copyfileobj(handle, out, 1 << 20)


def _finish(
    sink: Sink,
    era: str,
    spool: Path,
    has_map: bool,
    assets_json: dict[str, str],
    name_map: dict[str, str],
) -> None:
    """The era's documents after the media: conversations.json and chat.html copied from
    the spool for era A, the manifest (and name map) for B and C."""
    user = json.dumps({"id": "user-x", "email": "someone@example.com"}).encode()
    sink.write("user.json", user)
    if era == "A":
        with sink.open("conversations.json") as out:
            _copy(spool, out)
        sink.write("message_feedback.json", b"[]")
        sink.write("shared_conversations.json", b"[]")
        if has_map:
            with sink.open("chat.html") as out:
                out.write(
                    b"<!DOCTYPE html><html><head><meta charset='UTF-8'><title>ChatGPT Data "
                    b"Export</title></head><body><div id='root'></div><script>\nvar jsonData = "
                )
                _copy(spool, out)
                out.write(b";\nvar assetsJson = " + json.dumps(assets_json).encode())
                out.write(b";\n</script></body></html>")
        return
    if era == "C":
        sink.write("conversation_asset_file_names.json", json.dumps(name_map).encode())
        sink.write("library_files.json", b"[]")
    else:
        sink.write("user_settings.json", b'{"theme": "system", "language": "en"}')
    listing = [{"path": n, "size_bytes": s} for n, s in sink.names]
    sink.write("export_manifest.json", json.dumps({"version": 1, "export_files": listing}).encode())


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def write_traces(dest: Path, users: int, seed: int, *, shape: str = "jsonl") -> dict[str, Any]:
    """An S3-style image dump (`meal-images/<user>/…` + listing) and the Langfuse traces
    that go with it (tests/support/traces_gen.py), per user a few days of meals."""
    from tests.support.traces_gen import generate_users, write_dump
    from tests.support.traces_gen import write_traces as write_trace_file

    scenario = generate_users(seed, users)
    dump = write_dump(dest / "meal-images", scenario.photos, scenario.listing())
    traces = write_trace_file(dest / f"traces.{shape}", scenario.traces, shape)
    return {
        "dump": str(dump),
        "traces": str(traces),
        "photos": len(scenario.photos),
        "trace_count": len(scenario.traces),
        "pairs": len(scenario.truth),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    chat = sub.add_parser("chatgpt", help="A ChatGPT export (and privacy archive).")
    chat.add_argument("out", type=Path, help="The export zip (or folder with --folder).")
    chat.add_argument("--era", choices=["A", "B", "C"], default="A")
    chat.add_argument("--conversations", type=int, default=1000)
    chat.add_argument("--media-mb", type=float, default=None, help="Media total (MB).")
    chat.add_argument("--media-count", type=int, default=None, help="Most media files written.")
    chat.add_argument("--json-mb", type=float, default=None, help="Conversation JSON (MB).")
    chat.add_argument("--grow", type=float, default=0.0, help="Extra media share (newer).")
    chat.add_argument("--seed", type=int, default=11)
    chat.add_argument("--no-chat-html", action="store_true")
    chat.add_argument("--both-ids", action="store_true", help="id and conversation_id.")
    chat.add_argument("--folder", action="store_true", help="An unpacked folder, not a zip.")
    chat.add_argument("--privacy-touch", default="0", help="Conversations, or 'all'.")
    chat.add_argument("--privacy-out", type=Path, default=None)
    chat.add_argument("--truth-out", type=Path, default=None, help="Media -> conversation.")
    chat.add_argument(
        "--assistant-kb", type=float, default=None, help="Fresh prose per conversation (KB)."
    )
    chat.add_argument("--newest-first", action="store_true", help="Ordered by update time.")
    month = sub.add_parser("next-month", help="The next monthly export of an era A export.")
    month.add_argument("previous", type=Path, help="An export this command or `chatgpt` made.")
    month.add_argument("out", type=Path)
    month.add_argument("--new", type=float, default=0.05, help="New conversations (share).")
    month.add_argument(
        "--changed", type=float, default=0.03, help="Old conversations continued (share)."
    )
    traces = sub.add_parser("traces", help="An image dump and its Langfuse traces.")
    traces.add_argument("out", type=Path)
    traces.add_argument("--users", type=int, default=1000)
    traces.add_argument("--seed", type=int, default=5)
    traces.add_argument("--shape", choices=["page", "array", "jsonl", "csv"], default="jsonl")
    args = parser.parse_args(argv)
    if args.kind == "traces":
        print(json.dumps(write_traces(args.out, args.users, args.seed, shape=args.shape)))
        return 0
    if args.kind == "next-month":
        from bench.monthly import write_next_month

        stats = write_next_month(args.previous, args.out, new=args.new, changed=args.changed)
        print(json.dumps(stats))
        return 0
    spec = ChatGPTSpec(
        era=args.era,
        conversations=args.conversations,
        media_bytes=round(args.media_mb * 1e6) if args.media_mb else None,
        media_count=args.media_count,
        json_bytes=round(args.json_mb * 1e6) if args.json_mb else None,
        grow=args.grow,
        seed=args.seed,
        chat_html=not args.no_chat_html,
        zipped=not args.folder,
        both_ids=args.both_ids,
        privacy_touch=None if args.privacy_touch == "all" else int(args.privacy_touch),
        assistant_bytes=round(args.assistant_kb * 1000) if args.assistant_kb else None,
        newest_first=args.newest_first,
    )
    stats = write_chatgpt(args.out, spec, args.privacy_out, args.truth_out)
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
