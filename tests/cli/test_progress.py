"""`mediasyncd ingest` shows how far it is: a bar on a terminal that ends at the drop's
size, and progress lines at a modest rate when stderr is not a terminal."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers import make_zip, media_bytes, run_in_terminal, run_mediasyncd
from tests.support.chatgpt_corpus import build_corpus, write_export

# What rich's DownloadColumn draws: "12.3/45.6 MB".
BAR_COUNT = re.compile(r"(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?) (bytes|kB|MB|GB)")
LINE = re.compile(r"^ingesting (?P<name>\S+): (?P<phase>hashing|reading [a-z]+|matching)\b")
PERCENT = re.compile(r"\((\d+) %\)")


def compressible_drop(tmp_path: Path) -> Path:
    """A zip whose members inflate to far more than the zip's size, as an export's
    conversations.json does."""
    text = b"".join(b'{"role": "user", "text": "hello %d"}\n' % i for i in range(800_000))
    entries = {"notes/log.jsonl": text}
    # Then enough incompressible media (each object fsynced) for the bar to be redrawn
    # several times after the inflated member.
    entries.update({f"media/p{i}.png": media_bytes(1_000_000 + i, i) for i in range(40)})
    return make_zip(tmp_path / "drop.zip", entries)


def test_terminal_bar_ends_at_the_drop_size(tmp_path: Path) -> None:
    """On a terminal the bar counts bytes of the drop as it lies on disk: it never shows
    more done than the total, and it reaches the total (it used to end at the inflated
    size, e.g. `404.6/305.5 MB`)."""
    drop = compressible_drop(tmp_path)
    code, screen = run_in_terminal(["--state-dir", str(tmp_path / "state"), "ingest", str(drop)])
    assert code == 0, screen
    counts = [(float(a), float(b), unit) for a, b, unit in BAR_COUNT.findall(screen)]
    assert counts, f"no progress bar was drawn:\n{screen}"
    for done, total, unit in counts:
        assert done <= total, f"the bar overshoots: {done}/{total} {unit}"
    done, total, _ = counts[-1]
    assert done == total


def write_config(tmp_path: Path, interval: float) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f"[logging]\nprogress_interval_seconds = {interval}\n")
    return config


def test_progress_lines_without_a_terminal(tmp_path: Path) -> None:
    """With stderr not a terminal, progress comes as lines (here every report, interval
    0): bytes and percentage while hashing, never past 100 %, then reading and matching."""
    drop = write_export(build_corpus(seed=3, n_conversations=12), tmp_path / "drops", "A").path
    state = tmp_path / "state"
    config = write_config(tmp_path, 0)
    result = run_mediasyncd(["--config", str(config), "--state-dir", str(state), "ingest", drop])
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("ingesting ")]
    assert lines, f"no progress lines on stderr:\n{result.stderr}"
    phases = []
    for line in lines:
        match = LINE.match(line)
        assert match, line
        assert match["name"] == Path(drop).name
        phases.append(match["phase"])
    assert phases[0] == "hashing"
    assert phases[-2:] == ["reading conversations", "matching"]
    percents = [int(p) for line in lines for p in PERCENT.findall(line)]
    assert percents == sorted(percents) and percents[-1] <= 100
    assert "MiB/s" in result.stderr or "KiB/s" in result.stderr
    assert "left" in result.stderr


def test_no_progress_lines_for_a_short_ingest_by_default(tmp_path: Path) -> None:
    """The first line comes only after `logging.progress_interval_seconds` (10 s by
    default): a quick ingest prints nothing on stderr."""
    drop = make_zip(tmp_path / "small.zip", {"a.png": media_bytes(3000, "a")})
    result = run_mediasyncd(["--state-dir", str(tmp_path / "state"), "ingest", str(drop)])
    assert result.returncode == 0
    assert result.stderr == ""
