"""ChatGPT export writers: era A (classic), B (split JSON), C (`.dat`), multi-part C.

Each writer takes conversations and assets (all of a corpus, or a subset for a split
drop), writes a zip or an unpacked folder laid out as docs/formats.md (section 1)
describes, and returns a `WrittenDrop` naming every media file with what its place tells
(ids and where they come from, conversation folder, original name).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.support.chatgpt_gen.model import Asset, Conversation, Corpus, LibEntry
from tests.support.chatgpt_gen.sink import PlacedFile, Sink, WrittenDrop, zip_bytes

STAMPS = {"A": "2026-01-15-10-20-30", "B": "2026-03-02-08-00-00", "C": "2026-06-20-18-45-12"}
# Roles that only an era C export carries (its library lists them).
ERA_C_ONLY = frozenset({"library_only"})


def export_stem(corpus: Corpus, era: str, suffix: str = "") -> str:
    stem = f"{corpus.account}-{STAMPS[era]}"
    if era != "A":
        stem += "-" + corpus.account[:32]
    return stem + suffix


def _dump(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


# -- where each asset goes ---------------------------------------------------------------


def classic_place(
    asset: Asset, era: str, has_map: bool
) -> tuple[str, list[tuple[str, str]], str | None, str]:
    """(member path, ids, conversation folder, original name) in an era A or B export."""
    fid = asset.file_id or ""
    mode = asset.export
    if mode == "map_only" and era != "A":
        mode = "id_name"  # era B has no chat.html: its DALL·E files carry their ids
    elif mode == "map_only" and not has_map:
        mode = "no_id"
    ids = [(fid, "name")]
    if asset.role == "dalle":
        if mode == "id_name":
            return (
                f"dalle-generations/{fid}-{asset.name_uuid}.{asset.kind}",
                ids,
                None,
                asset.orig_name,
            )
        ids = [(fid, "map")] if mode == "map_only" else []
        return f"dalle-generations/{asset.name_uuid}.{asset.kind}", ids, None, asset.orig_name
    if asset.role in {"gpt4o", "image2026"}:
        return f"{asset.folder}/{fid}-{asset.name_uuid}.png", ids, None, asset.orig_name
    if asset.role == "page":
        # July 2025: `file-<docid>_data/file-<own id>-<n>.jpg`, a page of a document.
        return f"{asset.pages_of}_data/{asset.export_name}", [], None, asset.export_name
    if asset.role == "root_file":
        # Older exports: a file at the root under its own name, with no id and no pointer.
        return asset.orig_name, [], None, asset.orig_name
    if asset.role in {"voice", "video", "orphan_voice"}:
        sub = "video" if asset.kind == "mp4" else "audio"
        member = f"{asset.conversation_id}/{sub}/{fid}-{asset.name_uuid}.{asset.kind}"
        return member, ids, asset.conversation_id, asset.orig_name
    name = asset.export_name or asset.orig_name
    return f"{fid}-{name}", ids, None, name


def dat_name_map(asset: Asset, rng: random.Random) -> str | None:
    """conversation_asset_file_names.json's value for this asset (None: not listed)."""
    if asset.role == "dalle":
        return f"dalle-generations/{asset.name_uuid}.webp"
    if asset.role in {"voice", "video", "orphan_voice"}:
        sub = "video" if asset.kind == "mp4" else "audio"
        return f"{asset.conversation_id}/{sub}/{asset.name_uuid}.{asset.kind}"
    if asset.role == "gpt4o":
        return f"{asset.name_uuid}.png"  # mid-2026: a bare `<uuid>.png`
    if asset.role == "image2026":
        return f"{asset.folder}/{asset.name_uuid}.png"  # late 2026: `user-<id>/<uuid>.png`
    roll = rng.random()
    if asset.role == "upload" and roll < 0.05:
        return None
    if asset.role == "upload" and roll < 0.12:
        # A real map names some files by a bare UUID (fixtures issue62).
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return asset.orig_name


def _folder_of(relative: str) -> str | None:
    first = relative.split("/", 1)[0]
    return first if len(first) == 36 and first.count("-") == 4 and "/" in relative else None


# -- writers -----------------------------------------------------------------------------


def write_classic(
    dest: Path,
    era: str,
    conversations: Sequence[Conversation],
    assets: Sequence[Asset],
    *,
    zipped: bool = True,
    object_form: bool = False,
    chat_html: bool = True,
    shard_size: int = 100,
) -> WrittenDrop:
    """An era A export (conversations.json, chat.html) or era B (conversations-NNN.json)."""
    assert era in {"A", "B"}
    written = [c.for_era(era) for c in conversations]
    drop = WrittenDrop(dest, "export", era, conversations=written)
    with Sink(dest, zipped) as sink:
        if era == "A":
            payload: Any = [c.to_json("A") for c in written]
            if object_form:
                payload = {"conversations": payload}
            sink.write("conversations.json", _dump(payload))
        else:
            for n, start in enumerate(range(0, max(len(written), 1), shard_size)):
                shard = [c.to_json("B") for c in written[start : start + shard_size]]
                sink.write(f"conversations-{n:03d}.json", _dump(shard))
        sink.write("user.json", _dump({"id": "user-x", "email": "someone@example.com"}))
        sink.write("message_feedback.json", b"[]")
        sink.write("shared_conversations.json", b"[]")
        assets_json: dict[str, str] = {}
        for asset in assets:
            if asset.export is None or asset.role in ERA_C_ONLY:
                continue
            member, ids, folder, name = classic_place(asset, era, era == "A" and chat_html)
            sink.write(member, asset.data, compress=False)
            pages_of = asset.pages_of or None
            drop.files.append(
                PlacedFile(asset, dest, member, tuple(ids), folder, name, pages_of=pages_of)
            )
            if asset.pointer and (asset.export == "id_name" or any(s == "map" for _, s in ids)):
                assets_json[asset.pointer] = member
        if era == "A" and chat_html:
            html = (
                "<!DOCTYPE html><html><head><meta charset='UTF-8'><title>ChatGPT Data Export"
                "</title></head><body><div id='root'></div><script>\nvar jsonData = "
                + json.dumps([c.to_json("A") for c in written], ensure_ascii=False)
                + ";\nvar assetsJson = "
                + json.dumps(assets_json)
                + ";\n</script></body></html>"
            )
            sink.write("chat.html", html.encode("utf-8"))
        if era == "B":
            sink.write("user_settings.json", _dump({"theme": "system", "language": "en"}))
            manifest = [{"path": n, "size_bytes": s} for n, s in sink.names]
            sink.write("export_manifest.json", _dump({"version": 1, "export_files": manifest}))
    return drop


def _era_c_members(
    conversations: Sequence[Conversation],
    assets: Sequence[Asset],
    library: Sequence[LibEntry],
    rng: random.Random,
    shard_size: int,
) -> tuple[
    list[tuple[str, bytes]], list[tuple[Asset, str, str | None]], list[Conversation], list[LibEntry]
]:
    """(document members, (asset, .dat name, map value) triples, conversations, library)."""
    written = [c.for_era("C") for c in conversations]
    docs: list[tuple[str, bytes]] = []
    for n, start in enumerate(range(0, max(len(written), 1), shard_size)):
        shard = [c.to_json("C") for c in written[start : start + shard_size]]
        docs.append((f"conversations-{n:03d}.json", _dump(shard)))
    dats: list[tuple[Asset, str, str | None]] = []
    name_map: dict[str, str] = {}
    for asset in assets:
        if asset.export is None or not asset.file_id:
            continue
        dat = f"{asset.file_id}.dat"
        original = dat_name_map(asset, rng)
        if original is not None:
            name_map[dat] = original
        dats.append((asset, dat, original))
    in_drop = {a.uid for a in assets if a.export is not None}
    conv_ids = {c.id for c in conversations}
    rows = [
        e
        for e in library
        if (e.asset_uid in in_drop) or (e.asset_uid is None and e.thread in conv_ids)
    ]
    docs.append(("conversation_asset_file_names.json", _dump(name_map)))
    docs.append(("library_files.json", _dump([e.to_json(i) for i, e in enumerate(rows)])))
    docs.append(("user.json", _dump({"id": "user-x", "email": "someone@example.com"})))
    return docs, dats, written, rows


def _dat_placed(asset: Asset, drop: Path, member: str, original: str | None) -> PlacedFile:
    fid = asset.file_id or ""
    name = original.rsplit("/", 1)[-1] if original else f"{fid}.dat"
    folder = _folder_of(original) if original else None
    return PlacedFile(asset, drop, member, ((fid, "name"),), folder, name)


def write_dat(
    dest: Path,
    conversations: Sequence[Conversation],
    assets: Sequence[Asset],
    library: Sequence[LibEntry],
    *,
    zipped: bool = True,
    shard_size: int = 100,
    seed: int = 0,
) -> WrittenDrop:
    """An era C export: every file `<id>.dat` at the root, the name map and the library."""
    rng = random.Random(seed)
    docs, dats, written, rows = _era_c_members(conversations, assets, library, rng, shard_size)
    drop = WrittenDrop(dest, "export", "C", conversations=written, library=rows)
    with Sink(dest, zipped) as sink:
        for name, data in docs:
            sink.write(name, data)
        for asset, dat, original in dats:
            sink.write(dat, asset.data, compress=False)
            drop.files.append(_dat_placed(asset, dest, dat, original))
        manifest = [{"path": n, "size_bytes": s} for n, s in sink.names]
        sink.write("export_manifest.json", _dump({"version": 1, "export_files": manifest}))
    return drop


def write_multipart(
    dest: Path,
    corpus: Corpus,
    conversations: Sequence[Conversation],
    assets: Sequence[Asset],
    library: Sequence[LibEntry],
    *,
    zipped: bool = True,
    parts: int = 2,
    shard_size: int = 100,
    seed: int = 0,
) -> WrittenDrop:
    """A very large account's export: an outer zip (or its unpacked folder) holding
    `Conversations__…part-00N.zip` and `Files__…files-00N.zip`; the first part's manifest
    lists every part's files. Kept small and ZIP64-free."""
    rng = random.Random(seed)
    docs, dats, written, rows = _era_c_members(conversations, assets, library, rng, shard_size)
    drop = WrittenDrop(dest, "export", "C", conversations=written, library=rows)
    stem = export_stem(corpus, "C")
    shards = [d for d in docs if d[0].startswith("conversations-")]
    others = [d for d in docs if not d[0].startswith("conversations-")]
    conv_parts: list[list[tuple[str, bytes]]] = [[] for _ in range(parts)]
    for i, shard in enumerate(shards):
        conv_parts[i % parts].append(shard)
    conv_parts[0].extend(others)
    file_parts: list[list[tuple[str, bytes]]] = [[] for _ in range(parts)]
    for i, (asset, dat, original) in enumerate(dats):
        n = i % parts
        file_parts[n].append((dat, asset.data))
        inner = f"Files__{stem}-files-{n + 1:03d}.zip"
        drop.files.append(_dat_placed(asset, dest, f"{inner}!/{dat}", original))
    listing = [
        {"path": name, "size_bytes": len(data)}
        for group in (*conv_parts, *file_parts)
        for name, data in group
    ]
    conv_parts[0].append(("export_manifest.json", _dump({"version": 1, "export_files": listing})))
    with Sink(dest, zipped) as sink:
        for n in range(parts):
            blob = zip_bytes(conv_parts[n])
            sink.write(f"Conversations__{stem}-part-{n + 1:03d}.zip", blob, compress=False)
        for n in range(parts):
            blob = zip_bytes(file_parts[n], compress=False)
            sink.write(f"Files__{stem}-files-{n + 1:03d}.zip", blob, compress=False)
    return drop
