"""`mediasyncd ingest`: the JSON summary, exit codes, and how failures are worded."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

from mediasyncd.cli.progress import RichIngestProgress, wants_progress
from tests.conftest import CliResult
from tests.engines import BOTH
from tests.helpers import (
    INGEST_JSON_KEYS,
    make_zip,
    media_bytes,
    patch_bytes,
    run_mediasyncd,
    set_central_field,
    symlink_info,
    tree_snapshot,
    write_files,
)

pytestmark = BOTH

Run = Callable[..., CliResult]

FILES = {f"p{i}.png": media_bytes(2000 + i, i) for i in range(4)}


def test_json_summary(tmp_path: Path, run_cli: Run) -> None:
    """--json prints one object with the contract's keys in the contract's order; exit 0
    when all landed."""
    drop = write_files(tmp_path / "drop", FILES)
    result = run_cli("ingest", "--json", drop)
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert tuple(summary) == INGEST_JSON_KEYS
    assert summary["blobs_new"] >= len(FILES) and summary["failures"] == []
    again = json.loads(run_cli("ingest", "--json", drop).stdout)
    assert again["blobs_new"] == 0


def test_human_summary(tmp_path: Path, run_cli: Run) -> None:
    """Without --json: one line per source and a one-line summary."""
    drop = write_files(tmp_path / "drop", FILES)
    result = run_cli("ingest", drop)
    assert result.code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ok") and str(drop.absolute()) in lines[0]
    assert "new objects" in lines[-1]
    assert "unchanged, skipped" in run_cli("ingest", drop).stdout


def test_failed_source_exits_1_others_land(tmp_path: Path, run_cli: Run) -> None:
    """One broken source: exit 1, an error line naming it on stderr, the rest ingested."""
    good = write_files(tmp_path / "drop", FILES)
    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"PK\x03\x04 and then nothing")
    result = run_cli("ingest", "--json", bad, good)
    assert result.code == 1
    summary = json.loads(result.stdout)
    assert [f["source"] for f in summary["failures"]] == [str(bad.absolute())]
    assert [s["state"] for s in summary["sources"]] == ["failed", "ok"]
    human = run_cli("ingest", bad)
    assert f"error: {bad.absolute()}: truncated or damaged zip" in human.stderr


def test_missing_path_exits_1(tmp_path: Path, run_cli: Run) -> None:
    """A path that does not exist is a failed source, not a crash."""
    result = run_cli("ingest", tmp_path / "nope")
    assert result.code == 1
    assert f"error: {tmp_path / 'nope'}: cannot read" in result.stderr


def test_no_paths_is_a_usage_error(run_cli: Run) -> None:
    """`ingest` without a path is a usage error (exit 2)."""
    assert run_cli("ingest").code == 2


def _hostile_inputs(root: Path) -> dict[str, tuple[Path, str | None, str]]:
    """Each hostile input -> (path, member named in the error or None, words expected)."""
    root.mkdir()
    good = {"good.png": media_bytes(100, "good")}
    nul = make_zip(root / "nul.zip", {"evilXname.png": b"x", **good})
    patch_bytes(nul, b"evilXname", b"evil\x00name", expected=2)
    overlap = make_zip(
        root / "overlap.zip",
        {"a.png": media_bytes(9000, 1), **good},
        compression=zipfile.ZIP_STORED,
    )
    set_central_field(overlap, b"good.png", "header_offset", 0)
    cut = make_zip(root / "cut-full.zip", {"a.png": media_bytes(9000, 2)})
    (root / "cut.zip").write_bytes(cut.read_bytes()[:4000])
    cut.unlink()
    (root / "fake.zip").write_bytes(b"plain text")
    (root / "empty.png").write_bytes(b"")
    return {
        "slip": (make_zip(root / "slip.zip", {"../../x.png": b"x", **good}), "../../x.png", "'..'"),
        "abs": (make_zip(root / "abs.zip", {"/etc/x": b"x", **good}), "/etc/x", "absolute"),
        "bslash": (make_zip(root / "bs.zip", {"a\\b.png": b"x", **good}), "a\\b.png", "backslash"),
        "nul": (nul, "evil\\x00name.png", "NUL"),
        "link": (
            make_zip(root / "link.zip", [(symlink_info("l.png"), b"/etc/passwd"), *good.items()]),
            "l.png",
            "symbolic link",
        ),
        "ratio": (
            make_zip(root / "bomb.zip", {"z.bin": bytes(3 << 20), **good}),
            "z.bin",
            "max_ratio",
        ),
        "overlap": (overlap, None, "overlap"),
        "truncated": (root / "cut.zip", None, "truncated"),
        "fake": (root / "fake.zip", None, "not a zip"),
        "empty": (root / "empty.png", None, "empty file"),
    }


def test_hostile_inputs_in_a_real_process(tmp_path: Path, state_dir: Path) -> None:
    """All hostile inputs in one real `mediasyncd ingest`: exit 1, one stderr line per
    problem naming source and member, no traceback, nothing written outside the state dir,
    and the good members of every readable archive landed."""
    inputs = _hostile_inputs(tmp_path / "inputs")
    before = tree_snapshot(tmp_path, exclude=[state_dir])
    paths = [str(path) for path, _m, _w in inputs.values()]
    result = run_mediasyncd(["--state-dir", str(state_dir), "ingest", *paths])
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert tree_snapshot(tmp_path, exclude=[state_dir]) == before
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(inputs), result.stderr
    for path, member, words in inputs.values():
        where = f"error: {path}" + (f" [{member}]" if member else "") + ": "
        line = next((e for e in errors if e.startswith(where)), None)
        assert line is not None, (where, errors)
        assert words in line


def test_verbose_logs_go_to_stderr_as_json(tmp_path: Path, run_cli: Run) -> None:
    """-v logs structured events to stderr (JSON off a terminal); stdout stays clean JSON."""
    drop = write_files(tmp_path / "drop", FILES)
    result = run_cli("-v", "ingest", "--json", drop)
    json.loads(result.stdout)
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(e.get("event") == "source.done" for e in events)


def test_progress_bar_follows_the_ingest(tmp_path: Path, app: object) -> None:
    """The TTY progress bar can be driven through a whole ingest (tests have no TTY, so
    the CLI would not show it; wants_progress says so)."""
    from mediasyncd.app import App
    from mediasyncd.ingest.pipeline import Ingester

    assert isinstance(app, App)
    assert wants_progress() is False
    drop = write_files(tmp_path / "drop", FILES)
    with RichIngestProgress() as progress:
        summary = Ingester(
            app.index, app.store, app.config, app.state_dir, progress=progress
        ).ingest_paths([drop])
    assert summary.failures == []


def test_damaged_compressed_nested_zip_is_one_error_not_a_traceback(tmp_path: Path) -> None:
    """A multi-part export whose deflated `Files__…` zip has a damaged deflate stream (found
    by atheris: `zlib.error: invalid stored block lengths` escaped the walker and the CLI
    printed a traceback): that inner zip is named as damaged, the rest lands."""
    import zlib

    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("inner/a.png", media_bytes(5000, "a"))
    conversations = io.BytesIO()
    with zipfile.ZipFile(conversations, "w") as archive:
        archive.writestr("conversations.json", b"[]")
    drop = make_zip(
        tmp_path / "export.zip",
        {
            "Conversations__abc-part-001.zip": conversations.getvalue(),
            "Files__abc-files-001.zip": inner.getvalue(),
        },
    )
    info = zipfile.ZipFile(drop).getinfo("Files__abc-files-001.zip")
    data = bytearray(drop.read_bytes())
    start = info.header_offset + 30 + len(info.filename)
    for value in range(256):  # the first header byte that makes the stream invalid
        data[start] = value
        try:
            zlib.decompressobj(-15).decompress(bytes(data[start : start + info.compress_size]))
        except zlib.error:
            break
    else:
        raise AssertionError("no damaging byte found")
    drop.write_bytes(bytes(data))
    result = run_mediasyncd(["--state-dir", str(tmp_path / "state"), "ingest", str(drop)])
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode != 0
    assert f"{drop} [Files__abc-files-001.zip]: cannot read nested zip" in result.stderr
