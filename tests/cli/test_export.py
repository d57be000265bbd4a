"""`mediasyncd export DIR`: the command a person runs, its summary, its errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CliResult
from tests.export.builders import CID_TRIP, sample_export

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
    assert result.stdout.startswith("exported 1 conversations to ")
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


def test_export_errors_are_one_line_exit_2(run_cli: Run, tmp_path: Path) -> None:
    """A bad --since and a foreign non-empty DIR are clear errors, not tracebacks."""
    bad = run_cli("export", tmp_path / "out", "--since", "last tuesday")
    assert bad.code == 2 and "--since 'last tuesday'" in bad.stderr
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "cv.pdf").write_bytes(b"%PDF")
    refused = run_cli("export", foreign)
    assert refused.code == 2
    assert "holds no mediasyncd export" in refused.stderr
    assert (foreign / "cv.pdf").read_bytes() == b"%PDF"
