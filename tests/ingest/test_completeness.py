"""A 2026 export's export_manifest.json against what the drops hold
(mediasyncd.ingest.completeness), through the real CLI: a part dropped alone is partial with
the missing names listed, and the source becomes ok when the other part arrives, in
whatever order the parts come."""

from __future__ import annotations

import json
from pathlib import Path

from mediasyncd.ingest.completeness import Expected, expected_files
from tests.drops import conversations_json
from tests.helpers import ingest_json, make_zip, run_in_state

DAT_1 = "file_00000000aaaa1111bbbb2222cccc3333.dat"
DAT_2 = "file_00000000dddd4444eeee5555ffff6666.dat"
DAT_3 = "file_00000000eeee7777ffff8888aaaa9999.dat"


def _states(state: Path) -> dict[str, int]:
    data: dict[str, int] = json.loads(run_in_state(state, "status", "--json").stdout)["sources"]
    return data


def _parts(folder: Path) -> tuple[Path, Path]:
    """Part 1 carries the manifest (naming both parts' files), the conversations and one
    .dat; part 2 only the other two .dat files, no manifest (as ChatGPT splits them)."""
    conversations = conversations_json(1)
    manifest = {
        "version": 1,
        "export_files": [
            {"path": "conversations-000.json", "size_bytes": len(conversations)},
            {"path": DAT_1, "size_bytes": 1},
            {"path": DAT_2, "size_bytes": 2},
            {"path": DAT_3, "size_bytes": 3},
        ],
    }
    part1 = make_zip(
        folder / "export-part-0001.zip",
        {
            "export_manifest.json": json.dumps(manifest).encode(),
            "conversations-000.json": conversations,
            DAT_1: b"\x01",
        },
    )
    part2 = make_zip(folder / "export-part-0002.zip", {DAT_2: b"\x02\x02", DAT_3: b"\x03" * 3})
    return part1, part2


def test_a_part_alone_is_partial_and_complete_once_the_other_part_arrives(
    tmp_path: Path,
) -> None:
    """Part 1 alone: partial (exit 3), each missing file named; part 2 later: both ok."""
    state = tmp_path / "state"
    part1, part2 = _parts(tmp_path)
    code, summary = ingest_json(state, part1)
    assert code == 3, summary
    (source,) = summary["sources"]
    assert source["state"] == "partial"
    assert [p["member"] for p in source["problems"]] == [DAT_2, DAT_3]
    assert all("export_manifest.json" in p["error"] for p in source["problems"])
    status = json.loads(run_in_state(state, "status", "--json").stdout)
    assert status["sources"]["partial"] == 1
    assert status["last_error"]["path"] == str(part1)
    assert "2 problems" in status["last_error"]["error"]

    code, summary = ingest_json(state, part2)
    assert code == 0, summary
    assert _states(state) == {"ok": 2, "partial": 0, "failed": 0, "pending": 0}
    again = ingest_json(state, part1)[1]["sources"][0]
    assert (again["state"], again["problems"], again["unchanged"]) == ("ok", [], True)


def test_parts_in_the_other_order_and_in_one_command(tmp_path: Path) -> None:
    """Part 2 first (no manifest: nothing to check, ok), then part 1: ok at once, the
    files are already there. The same with both parts in one command."""
    part1, part2 = _parts(tmp_path)
    state = tmp_path / "state"
    assert ingest_json(state, part2)[0] == 0
    code, summary = ingest_json(state, part1)
    assert code == 0 and summary["sources"][0]["problems"] == []
    both = tmp_path / "both-state"
    code, summary = ingest_json(both, part1, part2)
    assert code == 0, summary
    assert _states(both)["ok"] == 2


def test_a_file_of_the_wrong_size_is_still_missing(tmp_path: Path) -> None:
    """A later drop with a file of that name but another size does not complete it."""
    state = tmp_path / "state"
    part1, _part2 = _parts(tmp_path)
    impostor = make_zip(tmp_path / "other.zip", {DAT_2: b"\x02" * 9, DAT_3: b"\x03" * 3})
    ingest_json(state, part1)
    assert ingest_json(state, impostor)[0] == 0
    source = ingest_json(state, part1)[1]["sources"][0]
    assert source["state"] == "partial"
    assert [p["member"] for p in source["problems"]] == [DAT_2]


def test_sharded_logical_file_with_a_shard_missing(tmp_path: Path) -> None:
    """logical_files says conversations.json has three shards; the drop has two: partial,
    naming the missing shard. The shard dropped later completes it."""
    state = tmp_path / "state"
    manifest = {
        "version": 1,
        "logical_files": [{"path": "conversations.json", "sharded": True, "shard_count": 3}],
    }
    drop = make_zip(
        tmp_path / "export.zip",
        {
            "export_manifest.json": json.dumps(manifest).encode(),
            "conversations-000.json": b"[]",
            "conversations-001.json": b"[]",
        },
    )
    code, summary = ingest_json(state, drop)
    assert code == 3
    assert [p["member"] for p in summary["sources"][0]["problems"]] == ["conversations-002.json"]
    late = make_zip(tmp_path / "late.zip", {"conversations-002.json": b"[]"})
    assert ingest_json(state, late)[0] == 0
    assert _states(state)["partial"] == 0


def test_manifest_shapes() -> None:
    """export_files as objects or names; logical_files as a list or a mapping, with the
    shards named or only counted; odd entries (absolute, '..', the manifest itself)
    ignored."""
    manifest = {
        "export_files": [
            {"path": "a.json", "size_bytes": 5},
            "b/c.dat",
            {"path": "../escape"},
            {"path": "export_manifest.json"},
            7,
        ],
        "logical_files": {
            "conversations.json": {"files": ["conversations-000.json"], "sharded": True},
            "chat.html": {},
            "shards.json": {"sharded": True, "shard_count": 2},
        },
    }
    assert expected_files(manifest) == [
        Expected("a.json", 5),
        Expected("b/c.dat"),
        Expected("chat.html"),
        Expected("conversations-000.json"),
        Expected("shards-000.json"),
        Expected("shards-001.json"),
    ]
    assert expected_files([1, 2]) == [] and expected_files({"export_files": "x"}) == []
