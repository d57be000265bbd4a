"""bench/corpus.py at toy size: the streamed exports are well formed and reproducible."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import xxhash

from bench.corpus import ChatGPTSpec, write_chatgpt


def _spec(**kw: object) -> ChatGPTSpec:
    # Seed 4's first 12 conversations include privacy-archive files (seed 3's no longer do
    # since the generator gained the 2025-2026 forms).
    return ChatGPTSpec(**{"conversations": 12, "seed": 4, **kw})  # type: ignore[arg-type]


def test_era_a_zip_members_truth_and_privacy(tmp_path: Path) -> None:
    """An era A zip holds conversations.json (every conversation), chat.html and the
    media the truth file lists with their digests; the privacy archive is written."""
    spec = _spec(media_bytes=400_000, privacy_touch=2, both_ids=True)
    stats = write_chatgpt(tmp_path / "a.zip", spec, tmp_path / "p.zip", tmp_path / "truth.jsonl")
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        names = set(archive.namelist())
        convs = json.loads(archive.read("conversations.json"))
        assert len(convs) == 12 == stats["conversations"]
        assert all("conversation_id" in c for c in convs)
        assert "chat.html" in names
        truth = [json.loads(line) for line in (tmp_path / "truth.jsonl").read_text().splitlines()]
        assert len(truth) == stats["media_files"] > 0
        for row in truth:
            assert xxhash.xxh3_128_hexdigest(archive.read(row["member"])) == row["digest"]
    assert stats["media_bytes"] > 200_000
    assert zipfile.ZipFile(tmp_path / "p.zip").namelist()
    assert 1 <= len(stats["touched_conversations"]) <= 2


def test_same_seed_same_bytes_and_grow_shares_media(tmp_path: Path) -> None:
    """The same spec writes the same media; --grow adds files and keeps every old one."""
    first = write_chatgpt(tmp_path / "1.zip", _spec(), truth_dest=tmp_path / "1.jsonl")
    again = write_chatgpt(tmp_path / "2.zip", _spec(), truth_dest=tmp_path / "2.jsonl")
    grown = write_chatgpt(tmp_path / "3.zip", _spec(grow=0.5), truth_dest=tmp_path / "3.jsonl")
    digests = [
        {json.loads(x)["digest"] for x in (tmp_path / f"{n}.jsonl").read_text().splitlines()}
        for n in (1, 2, 3)
    ]
    assert digests[0] == digests[1]
    assert digests[0] < digests[2]
    assert grown["media_files"] >= first["media_files"] * 1.5
    assert again["json_bytes"] == first["json_bytes"]


def test_eras_b_and_c_and_json_padding(tmp_path: Path) -> None:
    """Era B writes shards and a manifest, era C `.dat` files and the name map; a JSON
    target pads conversations.json to about that size."""
    with zipfile.ZipFile(write_chatgpt(tmp_path / "b.zip", _spec(era="B"))["path"]) as b:
        assert "conversations-000.json" in b.namelist()
        assert "export_manifest.json" in b.namelist()
    with zipfile.ZipFile(write_chatgpt(tmp_path / "c.zip", _spec(era="C"))["path"]) as c:
        assert "conversation_asset_file_names.json" in c.namelist()
        assert any(n.endswith(".dat") for n in c.namelist())
    padded = write_chatgpt(tmp_path / "j.zip", _spec(json_bytes=600_000, chat_html=False))
    assert 300_000 < padded["json_bytes"] < 1_200_000
