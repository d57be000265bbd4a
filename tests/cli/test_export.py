"""`mediasyncd export DIR`: the command a person runs, its summary, its errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliResult
from tests.helpers import run_mediasyncd, tree_snapshot
from tests.support.export_builders import CID_TRIP, sample_export

Run = Callable[..., CliResult]

KEYS = {
    "dir",
    "format",
    "conversations",
    "written",
    "unchanged",
    "removed",
    "users_written",
    "users_removed",
    "files_linked",
    "files_cloned",
    "files_copied",
    "bytes_copied",
    "files_missing",
    "failures",
    "seconds",
}


def test_export_json_summary_and_incremental_rerun(run_cli: Run, tmp_path: Path) -> None:
    """Ingest, export, export again: the second run writes nothing."""
    assert run_cli("ingest", sample_export(tmp_path / "e.zip")).code == 0
    out = tmp_path / "out"
    first = run_cli("export", out, "--json")
    assert first.code == 0, first.stderr
    data = json.loads(first.stdout)
    assert set(data) == KEYS
    assert (data["written"], data["files_linked"], data["format"]) == (7, 0, "html")
    assert data["files_cloned"] + data["files_copied"] == 5
    again = json.loads(run_cli("export", out, "--json").stdout)
    assert (again["written"], again["unchanged"]) == (0, 7)


def test_export_text_markdown_filters_and_copies(run_cli: Run, tmp_path: Path) -> None:
    """--format markdown, --conversation and --copy; the text summary names the counts."""
    run_cli("ingest", sample_export(tmp_path / "e.zip"))
    out = tmp_path / "md"
    result = run_cli("export", out, "--format", "markdown", "--conversation", CID_TRIP, "--copy")
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("exported 1 conversation to ")
    assert "3 copied" in result.stdout
    assert (out / "index.md").is_file()
    assert len(list(out.glob("*/conversation.md"))) == 1


def test_export_config_format_and_since(run_cli: Run, tmp_path: Path, state_dir: Path) -> None:
    """The config's export.format is the default; --since takes dates and spans."""
    run_cli("ingest", sample_export(tmp_path / "e.zip"))
    config = tmp_path / "c.toml"
    config.write_text('[export]\nformat = "markdown"\n')
    out = tmp_path / "out"
    args = ["--config", str(config), "--state-dir", str(state_dir), "export", str(out)]
    result = run_cli(*args, "--since", "2024-05-05", "--json", state=False)
    assert json.loads(result.stdout)["written"] == 3
    assert (out / "index.md").is_file()
    recent = run_cli(*args, "--since", "1d", "--json", state=False)
    assert json.loads(recent.stdout)["written"] == 0


def test_export_since_takes_every_span_and_date_matches_does(
    run_cli: Run, tmp_path: Path, state_dir: Path
) -> None:
    """One time parser: `export --since 90s` (seconds) and `--since 1.5h` were refused
    though `matches --since` took them; every conversation here is older than that."""
    run_cli("ingest", sample_export(tmp_path / "e.zip"))
    for span in ("90s", "1.5h", "2W"):
        result = run_cli("export", tmp_path / f"out-{span}", "--since", span, "--json")
        assert result.code == 0, result.stderr
        assert json.loads(result.stdout)["written"] == 0


def test_export_errors_are_one_line_exit_2(run_cli: Run, tmp_path: Path) -> None:
    """A bad --since and a foreign non-empty DIR are clear errors, not tracebacks."""
    run_cli("ingest", sample_export(tmp_path / "e.zip"))
    bad = run_cli("export", tmp_path / "out", "--since", "last tuesday")
    assert bad.code == 2 and "--since 'last tuesday'" in bad.stderr
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "cv.pdf").write_bytes(b"%PDF")
    refused = run_cli("export", foreign)
    assert refused.code == 2
    assert "holds no mediasyncd export" in refused.stderr
    assert (foreign / "cv.pdf").read_bytes() == b"%PDF"


def test_export_of_the_other_format_needs_force(tmp_path: Path) -> None:
    """`export DIR --format markdown` into an HTML export used to replace every page
    silently. Now it is refused (exit 2, one line, nothing changed) unless --force."""
    state = tmp_path / "state"
    base = ["--state-dir", str(state)]
    assert run_mediasyncd([*base, "ingest", str(sample_export(tmp_path / "e.zip"))]).returncode == 0
    out = tmp_path / "out"
    assert run_mediasyncd([*base, "export", str(out)]).returncode == 0
    pages = sorted(p.relative_to(out) for p in out.glob("*/conversation.html"))
    assert pages
    before = tree_snapshot(out)
    refused = run_mediasyncd([*base, "export", str(out), "--format", "markdown"])
    assert refused.returncode == 2
    assert refused.stderr == (
        f"mediasyncd: error: {out}: holds an HTML export of {len(pages)} conversations; "
        "writing a Markdown one would replace every page. Choose another folder, or pass "
        "--force to replace it\n"
    )
    assert tree_snapshot(out) == before
    forced = run_mediasyncd([*base, "export", str(out), "--format", "markdown", "--force"])
    assert forced.returncode == 0, forced.stderr
    assert len(list(out.glob("*/conversation.md"))) == len(pages)
    assert not list(out.glob("*/conversation.html"))


def test_export_into_an_impossible_place_is_a_clear_error(tmp_path: Path) -> None:
    """`export /proc/x` said `[Errno 2] No such file or directory: '/proc/x'`; now it
    names the folder and what failed, in words."""
    state = tmp_path / "state"
    base = ["--state-dir", str(state)]
    assert run_mediasyncd([*base, "ingest", str(sample_export(tmp_path / "e.zip"))]).returncode == 0
    result = run_mediasyncd([*base, "export", "/proc/x"])
    assert result.returncode == 2
    assert result.stderr == (
        "mediasyncd: error: /proc/x: cannot create the folder: No such file or directory\n"
    )
