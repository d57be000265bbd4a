"""The outcome contract through the real CLI in child processes: ok / partial / failed per
drop, `sources[].problems`, `status --json` counting partial drops and showing the last
problem, and the exit codes 0 / 3 / 1 / 2 (mediasyncd.ingest.outcome)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.drops import conversations_json, cut_after, export_zip, file_id
from tests.helpers import (
    ingest_json,
    make_zip,
    media_bytes,
    run_in_state,
    run_mediasyncd,
    write_files,
)


def _status(state: Path) -> dict[str, Any]:
    done = run_in_state(state, "status", "--json")
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def _linked_conversations(state: Path) -> set[str]:
    done = run_in_state(state, "matches", "--format", "jsonl")
    return {json.loads(line)["conversation_id"] for line in done.stdout.splitlines()}


def test_truncated_conversations_json_is_partial_and_a_later_whole_drop_completes_it(
    tmp_path: Path,
) -> None:
    """A conversations.json cut short: the drop is partial (exit 3), the problem names the
    member, the conversations before the break are kept and matched; status counts it
    and shows it as the last problem. The whole export dropped again (same name) is ok
    and completes the picture, matched incrementally as always."""
    state = tmp_path / "state"
    whole = conversations_json(5)
    drop = export_zip(tmp_path / "export.zip", cut_after(whole, 3), range(5))

    code, summary = ingest_json(state, drop)
    assert code == 3, summary
    (source,) = summary["sources"]
    assert source["state"] == "partial"
    (problem,) = source["problems"]
    assert problem["member"] == "conversations.json"
    assert "invalid JSON after 3 conversation(s)" in problem["error"]
    assert "\n" not in problem["error"]

    status = _status(state)
    assert status["sources"]["partial"] == 1 and status["sources"]["ok"] == 0
    assert status["conversations"] == 3
    last = status["last_error"]
    assert last["path"] == str(drop) and last["state"] == "partial"
    assert "conversations.json" in last["error"]
    assert last["error"].count(str(drop)) == 0  # the path is shown once, beside it
    linked_before = _linked_conversations(state)
    assert len(linked_before) == 3

    # The same export downloaded again, whole, under the same name.
    export_zip(drop, whole, range(5))
    code, summary = ingest_json(state, drop)
    assert code == 0, summary
    assert [(s["state"], s["problems"]) for s in summary["sources"]] == [("ok", [])]
    assert summary["conversations_new"] == 2 and summary["conversations_changed"] == 0
    status = _status(state)
    assert status["sources"] == {"ok": 1, "partial": 0, "failed": 0, "pending": 0}
    assert status["conversations"] == 5 and status["last_error"] is None
    assert len(_linked_conversations(state)) == 5 and linked_before < _linked_conversations(state)


def test_a_whole_copy_under_another_name_completes_the_picture(tmp_path: Path) -> None:
    """The cut drop stays partial (its own bytes are cut), a whole copy under another
    name lands ok and brings the missing conversations."""
    state = tmp_path / "state"
    whole = conversations_json(4)
    cut = export_zip(tmp_path / "cut.zip", cut_after(whole, 1), range(4))
    assert ingest_json(state, cut)[0] == 3
    code, summary = ingest_json(state, export_zip(tmp_path / "whole.zip", whole, range(4)))
    assert code == 0 and summary["conversations_new"] == 3
    status = _status(state)
    assert status["sources"]["partial"] == 1 and status["sources"]["ok"] == 1
    assert status["conversations"] == 4 and len(_linked_conversations(state)) == 4


def test_exit_codes(tmp_path: Path) -> None:
    """0 all ok; 3 partial and none failed; 1 when one failed (partial or not); 2 only for
    usage and configuration errors."""
    state = tmp_path / "state"
    good = write_files(tmp_path / "photos", {"a.png": media_bytes(900, "exit-a")})
    unsafe = make_zip(
        tmp_path / "unsafe.zip",
        {"../../evil.png": b"x", "fine.png": media_bytes(900, "exit-fine")},
    )
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 then nothing")

    assert ingest_json(state, good)[0] == 0
    code, summary = ingest_json(state, unsafe, good)
    assert code == 3
    assert [s["state"] for s in summary["sources"]] == ["partial", "ok"]
    assert summary["sources"][0]["problems"] == [
        {"member": "../../evil.png", "error": summary["failures"][0]["error"]}
    ]
    code, summary = ingest_json(state, unsafe, broken)
    assert code == 1
    assert [s["state"] for s in summary["sources"]] == ["partial", "failed"]
    assert summary["sources"][1]["problems"][0]["member"] is None
    assert run_in_state(state, "ingest").returncode == 2
    assert run_in_state(state, "ingest", "--no-such-option", good).returncode == 2
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("[limits]\nmax_json_depth = 3\n")
    config_run = run_mediasyncd(["--config", str(bad_config), "--state-dir", str(state), "status"])
    assert config_run.returncode == 2 and "limits.max_json_depth" in config_run.stderr


def test_human_output_names_each_problem_and_help_documents_the_codes(tmp_path: Path) -> None:
    """Without --json the problems go to stderr, one line each naming source and member;
    `ingest --help` explains the states and exit codes."""
    state = tmp_path / "state"
    drop = export_zip(tmp_path / "export.zip", cut_after(conversations_json(3), 1), range(3))
    done = run_in_state(state, "ingest", drop)
    assert done.returncode == 3
    assert done.stdout.startswith(f"partial chatgpt_export   {drop}")
    assert f"error: {drop} [conversations.json]: invalid JSON after 1 conversation(s)" in (
        done.stderr
    )
    again = run_in_state(state, "ingest", drop)
    assert again.returncode == 3 and "(unchanged, skipped)" in again.stdout
    assert "[conversations.json]" in again.stderr
    top = " ".join(run_in_state(state, "--help").stdout.split())
    assert "Exit status: 0 ok 3 ingest: some drop was read only partly" in top
    text = " ".join(run_in_state(state, "ingest", "--help").stdout.split())
    for words in (
        "0 every drop is ok",
        "3 some drop is partial, none failed",
        "1 some drop failed",
        "2 usage or configuration error",
    ):
        assert words in text, text


def test_a_file_the_export_points_at_is_still_linked_when_only_some_conversations_came(
    tmp_path: Path,
) -> None:
    """Matching is incremental as always: a photo whose conversation was cut off stays
    unlinked until the conversation arrives in a later drop."""
    state = tmp_path / "state"
    whole = conversations_json(3)
    ingest_json(state, export_zip(tmp_path / "a.zip", cut_after(whole, 2), range(3)))
    orphan = file_id(2)
    assert orphan not in run_in_state(state, "matches", "--format", "jsonl").stdout
    ingest_json(state, export_zip(tmp_path / "b.zip", whole, range(0)))
    matched = run_in_state(state, "matches", "--format", "jsonl").stdout
    assert sum(1 for _ in matched.splitlines()) == 3


def test_notes_do_not_make_a_drop_partial(tmp_path: Path) -> None:
    """A photo outside any user folder of an image dump is stored, only linked to no
    user: a note (listed, printed), not a problem; the drop is ok and exits 0."""
    state = tmp_path / "state"
    dump = write_files(
        tmp_path / "meal-images",
        {
            "u1/IMG_20250131_120000.jpg": media_bytes(900, "note-u1", "jpeg"),
            "u2/IMG_20250131_130000.jpg": media_bytes(900, "note-u2", "jpeg"),
            "loose.jpg": media_bytes(900, "note-loose", "jpeg"),
        },
    )
    code, summary = ingest_json(state, dump)
    assert code == 0, summary
    (source,) = summary["sources"]
    assert (source["state"], source["problems"]) == ("ok", [])
    assert [n["member"] for n in source["notes"]] == ["loose.jpg"]
    human = run_in_state(tmp_path / "state2", "ingest", dump)
    assert human.returncode == 0 and f"note: {dump} [loose.jpg]: image is not under" in (
        human.stderr
    )
