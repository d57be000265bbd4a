"""Self-tests of the ChatGPT corpus generator (tests/support/chatgpt_corpus.py).

The end-to-end tests trust the generator's ground truth, so the generator is checked on
its own first: every layout opens and parses, the references a plain spec-following
reader finds in what was written are exactly the ones the truth is computed from, file
names and bytes are what docs/formats.md describes, and the truth is consistent with
itself.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.chatgpt_corpus import (
    Ambiguous,
    Corpus,
    WrittenDrop,
    build_corpus,
    earlier_version,
    expected,
    stream_big_export,
    write_export,
    write_multipart,
    write_privacy_archive,
)
from tests.support.chatgpt_gen.model import POINTER_KINDS
from tests.support.chatgpt_gen.truth import STRATEGIES

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "fixtures" / "chatgpt"
MAGIC = {
    "png": lambda b: b[:8] == b"\x89PNG\r\n\x1a\n",
    "jpeg": lambda b: b[:3] == b"\xff\xd8\xff",
    "webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
    "wav": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WAVE",
    "mp4": lambda b: b[4:8] == b"ftyp",
    "pdf": lambda b: b[:5] == b"%PDF-",
    "txt": lambda b: b.isascii(),
}


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return build_corpus(seed=11, n_conversations=60)


def walk(path: Path) -> Iterator[tuple[str, bytes]]:
    """Every member of a drop, nested zips opened, named like mediasyncd names them."""

    def from_zip(archive: zipfile.ZipFile, prefix: str) -> Iterator[tuple[str, bytes]]:
        for info in archive.infolist():
            if info.is_dir():
                continue
            data = archive.read(info)
            yield from expand(prefix + info.filename, data)

    def expand(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
        yield name, data
        if name.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as inner:
                yield from from_zip(inner, name + "!/")

    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            yield from expand(file.relative_to(path).as_posix(), file.read_bytes())
    else:
        with zipfile.ZipFile(path) as archive:
            assert archive.testzip() is None
            yield from from_zip(archive, "")


def conversations_in(members: dict[str, bytes]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for name, data in sorted(members.items()):
        base = name.rsplit("!/", 1)[-1]
        if base == "conversations.json":
            doc = json.loads(data)
            found.extend(doc["conversations"] if isinstance(doc, dict) else doc)
        elif re.fullmatch(r"conversations-\d{3}\.json", base):
            found.extend(json.loads(data))
    return found


def spec_references(conv: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """What the linking rules say to extract (docs/formats.md, section 3), read straight
    from the JSON. A pointer
    that a tool message repeats from the tool message just above it is the same image
    (2026 image generation answers on two channels): it counts once."""
    refs: set[tuple[str, str, str, str]] = set()
    conv_id = conv.get("conversation_id") or conv["id"]
    mapping = conv["mapping"]

    def pointers(value: Any) -> set[str]:
        found: set[str] = set()
        if isinstance(value, dict):
            pointer = value.get("asset_pointer")
            if isinstance(pointer, str):
                found.add(pointer.split("://", 1)[1])
            for item in value.values():
                found |= pointers(item)
        elif isinstance(value, list):
            for item in value:
                found |= pointers(item)
        return found

    def tool_pointers(node: dict[str, Any] | None) -> set[str]:
        message = node["message"] if node else None
        if message is None or message["author"]["role"] != "tool":
            return set()
        return pointers(message["content"].get("parts", []))

    for node in mapping.values():
        message = node["message"]
        if message is None:
            continue
        mine = pointers(message["content"].get("parts", []))
        if message["author"]["role"] == "tool":
            mine -= tool_pointers(mapping.get(node["parent"] or ""))
        refs |= {(conv_id, message["id"], "pointer", key) for key in mine}
        metadata = message.get("metadata") or {}
        for entry in metadata.get("attachments") or []:
            refs.add((conv_id, message["id"], "attachment", entry["id"]))
        for item in (metadata.get("aggregate_result") or {}).get("messages") or []:
            if "image_url" in item:
                refs.add((conv_id, message["id"], "ci", item["image_url"].split("://", 1)[1]))
    return refs


def model_references(drop: WrittenDrop) -> set[tuple[str, str, str, str]]:
    group = {"attachment": "attachment", "code_interpreter": "ci"}
    return {
        (conv.id, node.id, group.get(ref.kind, "pointer"), ref.key)
        for conv in drop.conversations
        for node in conv.nodes.values()
        for ref in node.refs
    }


def all_drops(corpus: Corpus, tmp_path: Path, zipped: bool) -> list[WrittenDrop]:
    return [
        write_export(corpus, tmp_path, "A", zipped=zipped),
        write_export(corpus, tmp_path / "obj", "A", zipped=zipped, object_form=True),
        write_export(corpus, tmp_path, "B", zipped=zipped, shard_size=25),
        write_export(corpus, tmp_path, "C", zipped=zipped, shard_size=25),
        write_multipart(corpus, tmp_path, zipped=zipped),
        write_privacy_archive(corpus, tmp_path, zipped=zipped),
    ]


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "folder"])
def test_every_layout_opens_parses_and_holds_its_files(
    corpus: Corpus, tmp_path: Path, zipped: bool
) -> None:
    """Each era, the multi-part export and the privacy archive (zip and folder) open,
    every JSON member parses, every placed file is there with its bytes, and the
    references a plain reader finds are exactly those the truth uses."""
    for drop in all_drops(corpus, tmp_path, zipped):
        members = dict(walk(drop.path))
        for name, data in members.items():
            if name.endswith(".json"):
                json.loads(data)
        for placed in drop.files:
            assert members[placed.member] == placed.asset.data, placed.member
        if drop.kind == "export":
            written = conversations_in(members)
            assert len(written) == len(corpus.conversations)
            found = set().union(*(spec_references(c) for c in written))
            assert found == model_references(drop), drop.path.name


def test_same_seed_same_bytes_and_truth(tmp_path: Path) -> None:
    """A seed fixes the corpus: the same zip bytes and the same truth, twice."""
    first = write_export(build_corpus(5, 15), tmp_path / "one", "A")
    second = write_export(build_corpus(5, 15), tmp_path / "two", "A")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert expected([first]).links == expected([second]).links
    other = write_export(build_corpus(6, 15), tmp_path / "three", "A")
    assert other.path.read_bytes() != first.path.read_bytes()


def test_media_bytes_are_real_headers_with_distinct_digests(corpus: Corpus) -> None:
    """Every file starts with its type's magic (RIFF…WAVE vs RIFF…WEBP told apart) and
    no two files share bytes or size, so a size can only pin the file meant."""
    for asset in corpus.assets:
        assert MAGIC[asset.kind](asset.data), (asset.kind, asset.data[:16])
    assert len({a.digest for a in corpus.assets}) == len(corpus.assets)
    assert len({a.size for a in corpus.assets}) == len(corpus.assets)


def test_ids_in_names_end_at_a_separator(corpus: Corpus, tmp_path: Path) -> None:
    """A name carries a file id only as `<id>` followed by '-', '_', '.' or the end, or
    as the folder name of personal/files/user-xxx/<file_id>/."""
    for drop in all_drops(corpus, tmp_path, True):
        for placed in drop.files:
            parts = placed.member.rsplit("!/", 1)[-1].split("/")
            for fid, how in placed.ids:
                if how != "name":
                    continue
                base = parts[-1]
                at_start = base.startswith(fid) and (base[len(fid) : len(fid) + 1] in "-_.")
                assert at_start or fid in parts[:-1], (fid, placed.member)


def test_distractors_extend_real_ids_and_link_nothing(corpus: Corpus, tmp_path: Path) -> None:
    """Distractor files share a prefix with a referenced id (or its other spelling):
    the truth links them to nothing."""
    referenced = {r.key for c in corpus.conversations for r in c.refs()}
    distractors = [a for a in corpus.assets if a.role == "distractor"]
    assert len(distractors) >= 4
    for asset in distractors:
        assert asset.file_id is not None and asset.file_id not in referenced
        stems = {asset.file_id[:-2], "file_" + asset.file_id[5:]}
        assert stems & referenced, asset.file_id
    export = write_export(corpus, tmp_path, "A")
    privacy = write_privacy_archive(corpus, tmp_path)
    truth = expected([export, privacy])
    for asset in distractors:
        assert not truth.links_for(asset.digest)


def test_truth_is_consistent(corpus: Corpus, tmp_path: Path) -> None:
    """Links name written files and existing messages (a library row may name a
    conversation the export lacks); one row per key; no conversation-level row beside a
    message-level one; unresolved references have no file with their id."""
    for drops in (
        [write_export(corpus, tmp_path, "A"), write_privacy_archive(corpus, tmp_path)],
        [write_export(corpus, tmp_path, "C"), write_privacy_archive(corpus, tmp_path / "p")],
    ):
        truth = expected(drops)
        written = {f.asset.digest for d in drops for f in d.files}
        at_message = {(k[0], k[2]) for k in truth.links if k[1] is not None}
        for key, link in truth.links.items():
            assert key == link.key and link.digest in written
            conv = truth.conversations.get(link.conversation_id)
            if link.strategy != "library_origin":
                assert conv is not None
                assert link.message_id is None or link.message_id in conv.nodes
            if link.message_id is None:
                assert (link.conversation_id, link.digest) not in at_message
        ids = {fid for d in drops for f in d.files for fid, _ in f.ids}
        assert truth.unresolved
        assert not {k[2] for k in truth.unresolved} & ids


def test_truth_covers_every_strategy_and_association(corpus: Corpus, tmp_path: Path) -> None:
    """Across era A + privacy and era C + privacy the corpus exercises every strategy,
    association and confidence level of the spec."""
    seen: set[tuple[str, str, float]] = set()
    for era in "AC":
        drops = [write_export(corpus, tmp_path, era), write_privacy_archive(corpus, tmp_path / era)]
        truth = expected(drops)
        seen |= {(x.strategy, x.association, x.confidence) for x in truth.links.values()}
    assert {s for s, _, _ in seen} == set(STRATEGIES)
    assert {a for _, a, _ in seen} == {"generated", "attachment", "inline"}
    assert {c for _, _, c in seen} == {1.0, 0.98, 0.95, 0.9, 0.85, 0.7, 0.4, 0.3}


def test_no_ambiguous_situation_across_seeds(tmp_path: Path) -> None:
    """The generator never builds a situation the spec leaves open (truth would raise)."""
    for seed in range(20):
        corpus = build_corpus(seed, 30)
        privacy = write_privacy_archive(corpus, tmp_path / str(seed))
        for era in ("A", "A-no-html", "B", "C"):
            export = write_export(corpus, tmp_path / era / str(seed), era[0], chat_html=era == "A")
            try:
                expected([export, privacy])
                expected([export])
            except Ambiguous as exc:  # pragma: no cover - the failure message says why
                pytest.fail(f"seed {seed} era {era}: {exc}")


def test_era_c_drops_status_and_strips_tool_messages(corpus: Corpus, tmp_path: Path) -> None:
    """Mid-2026 exports drop `status` and strip tool/system messages; the mapping stays a
    tree (every parent exists), its nodes carry no `children` and come in key order, and
    the generated images of stripped conversations are then known only from
    library_files.json."""
    drop = write_export(corpus, tmp_path, "C")
    members = dict(walk(drop.path))
    stripped = {c.id for c in corpus.conversations if c.strip_in_era_c}
    assert stripped
    for conv in conversations_in(members):
        mapping = conv["mapping"]
        assert list(mapping) == sorted(mapping), "2026 writes the mapping in key order"
        for node in mapping.values():
            assert node["parent"] is None or node["parent"] in mapping
            assert "children" not in node, "2026 nodes carry only their parent"
            if node["message"] is not None:
                assert "status" not in node["message"]
                if conv["id" if "id" in conv else "conversation_id"] in stripped:
                    assert node["message"]["author"]["role"] not in ("tool", "system")
    library = json.loads(members["library_files.json"])
    lib_threads = {row["origination_thread_id"] for row in library}
    assert stripped & lib_threads


def test_era_a_chat_html_maps_pointers_to_members(corpus: Corpus, tmp_path: Path) -> None:
    """chat.html embeds `var jsonData = [...]` (the same conversations) and
    `var assetsJson = {pointer: relative path}` naming members that exist."""
    drop = write_export(corpus, tmp_path, "A")
    members = dict(walk(drop.path))
    html = members["chat.html"].decode("utf-8")
    data = json.loads(re.search(r"var jsonData = (.*?);\n", html, re.S).group(1))  # type: ignore[union-attr]
    assets = json.loads(re.search(r"var assetsJson = (.*?);\n", html, re.S).group(1))  # type: ignore[union-attr]
    assert data == json.loads(members["conversations.json"])
    assert assets and all(path in members for path in assets.values())
    map_only = [f for f in drop.files if any(how == "map" for _, how in f.ids)]
    assert map_only, "some DALL·E files carry their id only through assetsJson"
    for placed in map_only:
        assert placed.asset.pointer in assets


def test_multipart_is_zip64_free_and_first_part_lists_all(corpus: Corpus, tmp_path: Path) -> None:
    """The multi-part export: Conversations__…part-00N.zip and Files__…files-00N.zip in an
    outer zip without ZIP64 records; the first part's manifest lists every part's files."""
    drop = write_multipart(corpus, tmp_path)
    with zipfile.ZipFile(drop.path) as outer:
        names = outer.namelist()
        assert any(re.search(r"Conversations__.*part-001\.zip$", n) for n in names)
        assert any(re.search(r"Files__.*files-002\.zip$", n) for n in names)
        for info in outer.infolist():
            assert b"\x01\x00" not in info.extra[:2]
    members = dict(walk(drop.path))
    first = next(n for n in members if n.endswith("part-001.zip!/export_manifest.json"))
    listed = {row["path"]: row["size_bytes"] for row in json.loads(members[first])["export_files"]}
    inner = {n.rsplit("!/", 1)[1]: len(d) for n, d in members.items() if "!/" in n}
    inner.pop("export_manifest.json")
    assert listed == inner


def test_privacy_archive_layout(corpus: Corpus, tmp_path: Path) -> None:
    """User Online Activity/ holds the Dall-E__, Files__ and Conversations__ zips whose
    members follow docs/formats.md, section 1; the folder variant holds the same members."""
    zipped = write_privacy_archive(corpus, tmp_path)
    folder = write_privacy_archive(corpus, tmp_path, zipped=False)
    members = dict(walk(zipped.path))
    assert members == dict(walk(folder.path))
    inner = [n.rsplit("!/", 1)[1] for n in members if "!/" in n]
    patterns = (
        r"personal/dallelabs/user-data/chatgptgenerations/user-\w+/conversations/"
        r"[0-9a-f-]{36}/[0-9A-Za-z]{16}\.(png|webp)",
        r"personal/dallelabs/user-\w+/generations/generation-\w+/(image\.png|image\.webp|caption\.txt)",
        r"personal/files/file-[0-9A-Za-z]+_.+",
        r"personal/files/user-\w+/file[-_][0-9A-Za-z]+/.+",
        r"personal/files/[0-9a-f-]{36}/[0-9a-f-]{36}/mnt/data/.+",
        r"personal/conversations/[0-9a-f-]{36}/(audio|video)/file_[0-9a-f]+(-[0-9a-f-]{36}\.\w+|\.dat)",
    )
    for name in inner:
        assert any(re.fullmatch(p, name) for p in patterns), name
    for pattern in patterns[:5]:
        assert any(re.fullmatch(pattern, n) for n in inner), pattern


def test_shapes_follow_the_real_fixtures(corpus: Corpus) -> None:
    """Messages, image pointers, library rows and the manifest have the fields of the
    real samples in fixtures/chatgpt/."""
    golden = json.loads((FIXTURES / "echomine_golden_002_with_images.raw.json").read_text())
    real_message = next(
        n["message"]
        for n in golden["mapping"].values()
        if n["message"] and n["message"]["metadata"].get("attachments")
    )
    real_part = real_message["content"]["parts"][0]
    uploads = [
        n.message
        for c in corpus.conversations
        for n in c.nodes.values()
        if n.message is not None and n.attachment_ids
    ]
    upload = next(m for m in uploads if m["content"]["content_type"] == "multimodal_text")
    assert set(upload) == set(real_message)
    assert set(upload["content"]["parts"][0]) == set(real_part)
    assert set(upload["content"]["parts"][0]["metadata"]) == set(real_part["metadata"])
    assert set(corpus.conversations[0].to_json("A")) <= set(golden) | {"voice", "async_status"}
    real_lib = json.loads((FIXTURES / "nexus_library_files.sample.json").read_text())[0]
    assert set(corpus.library[0].to_json(0)) == set(real_lib)


def test_earlier_version_is_a_prefix(corpus: Corpus) -> None:
    """An older export holds fewer conversations, some a turn shorter, and only files
    those versions reference; every kept node exists in the newer version."""
    older = earlier_version(corpus, seed=3)
    newer = {c.id: c for c in corpus.conversations}
    assert 0 < len(older.conversations) < len(corpus.conversations)
    assert any(len(c.nodes) < len(newer[c.id].nodes) for c in older.conversations)
    for conv in older.conversations:
        assert set(conv.nodes) <= set(newer[conv.id].nodes)
        assert conv.update_time <= newer[conv.id].update_time
    assert {a.uid for a in older.assets} < {a.uid for a in corpus.assets}


def test_stream_big_export_writes_valid_json(tmp_path: Path) -> None:
    """The streaming writer reaches its size target with a valid conversations.json."""
    stats = stream_big_export(
        tmp_path / "big.zip", target_json_bytes=600_000, pad_chars=5_000, seed=2
    )
    with zipfile.ZipFile(tmp_path / "big.zip") as archive:
        data = archive.read("conversations.json")
        media = [n for n in archive.namelist() if n != "conversations.json"]
    assert len(data) == stats["json_bytes"] >= 600_000
    assert len(json.loads(data)) == stats["conversations"]
    assert len(media) == stats["media_files"] > 0


def test_pointer_kinds_cover_voice_and_video(corpus: Corpus) -> None:
    """Voice mode's nested audio, video container and frame pointers are all generated."""
    kinds = {r.kind for c in corpus.conversations for r in c.refs()}
    assert kinds >= POINTER_KINDS
    assert {"attachment", "code_interpreter"} <= kinds
