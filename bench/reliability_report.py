"""The reliability table: each scenario of docs/reliability.md and each hostile-corpus entry,
how many cases were tried, how many passed, what was lost, and the fuzz examples run.

Usage (from the repository root):

    .venv/bin/python bench/reliability_report.py [--markdown] [extra pytest args]

It runs pytest in this process on tests/reliability plus the tests elsewhere that own a
scenario (daemon settling and reconcile, the in-process crash/verify/gc/reindex tests, the
systemd units, the ChatGPT fuzzing), with a small plugin that records every test's
outcome, its recorded properties (peak memory, disk, fuzz runs) and Hypothesis's own
count of passing examples. A case "lost nothing" when it passed: every such test asserts
that the final store, index and links equal those of an undisturbed run, or that the good
drop beside a hostile one landed whole. Nothing is timed or asserted here.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Test files (or file::test prefixes) per scenario; the first match wins.
_DROP_ATTACKS = "tests/reliability/"
SCENARIOS: list[tuple[str, list[str]]] = [
    # Issue 11, the drop folder as an attack surface (docs/reliability.md); first, so
    # their tests in shared files (units, store) count here.
    (
        "issue 11.1 symlink to the index",
        [
            f"{_DROP_ATTACKS}test_state_dir_guard.py::test_symlink_to_the_index",
            "tests/fs/test_guard.py",
        ],
    ),
    (
        "issue 11.2 two writers, one source",
        [
            f"{_DROP_ATTACKS}test_concurrent_writers.py::test_two_cli_ingests",
            f"{_DROP_ATTACKS}test_concurrent_writers.py::test_cli_ingest_beside_the_daemon",
            "tests/store/test_locks.py",
        ],
    ),
    (
        "issue 11.3 after_ingest removes only what was read",
        [f"{_DROP_ATTACKS}test_after_ingest_race.py", "tests/daemon/test_afteringest.py"],
    ),
    (
        "issue 11.4 done folder into the store, untrusted objects",
        [
            f"{_DROP_ATTACKS}test_state_dir_guard.py::test_done_folder",
            f"{_DROP_ATTACKS}test_state_dir_guard.py::test_object_the_index_does_not_know",
            "tests/store/test_local.py::test_a_hit_on_an_object_the_index_does_not_know",
        ],
    ),
    (
        "issue 11.5 FIFOs, sockets, devices",
        [
            f"{_DROP_ATTACKS}test_special_files.py::test_fifo",
            f"{_DROP_ATTACKS}test_special_files.py::test_socket",
            f"{_DROP_ATTACKS}test_special_files.py::test_cli_ingest_of_special",
        ],
    ),
    (
        "issue 11.6 1,200-level folder tree",
        [f"{_DROP_ATTACKS}test_deep_trees.py", "tests/fs/test_tree.py"],
    ),
    (
        "issue 11.7 names that are not UTF-8",
        [
            f"{_DROP_ATTACKS}test_undecodable_names.py",
            "tests/fs/test_pathtext.py",
            "tests/sources/test_zipnames.py",
        ],
    ),
    (
        "issue 11.8 symlink to a folder",
        [
            f"{_DROP_ATTACKS}test_special_files.py::test_symlink_to_a_folder",
            f"{_DROP_ATTACKS}test_special_files.py::test_cli_ingest_of_a_symlink",
        ],
    ),
    ("issue 11.9 MemoryMax in the units", ["tests/test_systemd_units.py::test_memory_is_capped"]),
    (
        "issue 11.10 reindex beside a writer",
        [f"{_DROP_ATTACKS}test_concurrent_writers.py::test_reindex"],
    ),
    (
        "1 SIGKILL at each step",
        [
            "tests/reliability/test_fault_sweep.py",
            "tests/reliability/test_crash.py",
            "tests/daemon/test_service.py::test_sigkill",
            "tests/daemon/test_service.py::test_sigterm",
        ],
    ),
    (
        "2 slow / changing / held-open files",
        [
            "tests/daemon/test_service.py::test_zip_copied_slowly",
            "tests/daemon/test_service.py::test_file_held_open",
            "tests/ingest/test_pipeline.py::test_file_changed_while_hashed",
            "tests/ingest/test_pipeline.py::test_file_that_keeps_changing",
        ],
    ),
    (
        "3 temp names, renames",
        ["tests/daemon/test_service.py::test_temp_names", "tests/daemon/test_settle.py"],
    ),
    (
        "4 event overflow, reconcile",
        ["tests/daemon/test_reconcile.py", "tests/daemon/test_watcher.py"],
    ),
    ("8 disk full", ["tests/reliability/test_disk_full.py"]),
    (
        "9 verify + re-drop",
        ["tests/reliability/test_verify_redrop.py", "tests/store/test_verify.py"],
    ),
    ("10 gc racing ingest", ["tests/reliability/test_gc_race.py", "tests/store/test_gc.py"]),
    (
        "11 long reader vs writer",
        [
            "tests/reliability/test_long_reader.py",
            "tests/ingest/test_pipeline.py::test_reader_holding_a_transaction",
        ],
    ),
    (
        "12 reindex from the store",
        ["tests/reliability/test_rebuild.py", "tests/ingest/test_replay.py"],
    ),
    ("13 systemd unit", ["tests/test_systemd_units.py"]),
    ("outer zip > 4 GiB, wrapped offsets", ["tests/reliability/test_wrapped_zip.py"]),
    (
        "a conversation of a million mapping nodes",
        ["tests/reliability/test_conversation_nodes.py"],
    ),
    (
        "truthful outcomes (partial, exit codes, manifest parts)",
        [
            "tests/cli/test_outcomes.py",
            "tests/daemon/test_outcomes.py",
            "tests/ingest/test_completeness.py",
            "tests/cli/test_clean_errors.py",
        ],
    ),
    ("JSON nested past limits.max_json_depth", ["tests/test_jsonstream.py"]),
    (
        "exports never carry damage, safe Markdown links",
        ["tests/export/test_media_safety.py", "tests/export/test_markdown_links.py"],
    ),
    (
        "fuzzing (Hypothesis, atheris)",
        [
            "tests/fuzz/test_fuzz_readers.py",
            "tests/fuzz/test_atheris.py",
            "tests/fuzz/",
        ],
    ),
]
HOSTILE = "tests/reliability/test_hostile_corpus.py"
PATHS = sorted(
    {entry.split("::")[0] for _name, entries in SCENARIOS for entry in entries} | {HOSTILE}
)


@dataclass
class Row:
    tried: int = 0
    passed: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    fuzz_examples: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, outcome: str, nodeid: str) -> None:
        self.tried += 1
        if outcome == "passed":
            self.passed += 1
        elif outcome == "skipped":
            self.skipped += 1
        else:
            self.failed.append(nodeid)


class Collector:
    """A pytest plugin: one record per test (outcome of its call, properties, examples)."""

    def __init__(self) -> None:
        self.results: dict[str, dict[str, Any]] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        outcome = yield
        report = outcome.get_result()
        record = self.results.setdefault(item.nodeid, {"outcome": "passed", "props": {}})
        if report.failed:
            record["outcome"] = "failed"
        elif report.skipped and record["outcome"] != "failed":
            record["outcome"] = "skipped"
        record["props"].update(dict(item.user_properties))
        stats = getattr(item, "hypothesis_statistics", "")
        if stats:
            record["examples"] = sum(int(n) for n in re.findall(r"(\d+) passing", stats))


def _scenario_of(nodeid: str) -> str | None:
    for name, entries in SCENARIOS:
        if any(nodeid.startswith(entry) for entry in entries):
            return name
    return None


def _hostile_scenarios() -> dict[str, int]:
    """Corpus case name -> docs/reliability.md scenario (5 slip, 6 bombs, 7 broken input)."""
    sys.path.insert(0, str(ROOT))
    from tests.support.hostile_corpus import CASES

    return {case.name: case.scenario for case in CASES}


_SCENARIO_NAMES = {5: "5 zip slip", 6: "6 zip bombs", 7: "7 broken input"}


def build_table(results: dict[str, dict[str, Any]]) -> dict[str, Row]:
    rows: dict[str, Row] = defaultdict(Row)
    hostile = _hostile_scenarios()
    for nodeid, record in results.items():
        outcome = record["outcome"]
        props = record["props"]
        if nodeid.startswith(HOSTILE):
            match = re.search(r"\[(.+)\]$", nodeid)
            # The daemon test drops every case into one running daemon: one more case
            # each (it passes only if every case was recorded right and the daemon lived).
            names = [match.group(1)] if match else list(hostile)
            for name in names:
                rows[f"hostile: {name}"].add(outcome, nodeid)
                rows[_SCENARIO_NAMES[hostile[name]]].add(outcome, nodeid)
            row = rows[f"hostile: {names[0]}"] if match else rows[_SCENARIO_NAMES[5]]
        else:
            found = _scenario_of(nodeid)
            if found is None:
                continue
            row = rows[found]
            row.add(outcome, nodeid)
        hypothesis_runs = int(record.get("examples", 0))
        atheris_runs = int(props.get("fuzz_examples", 0))
        row.fuzz_examples += hypothesis_runs + atheris_runs
        if hypothesis_runs:
            row.notes.append("Hypothesis")
        if atheris_runs:
            row.notes.append(f"atheris {atheris_runs} runs ({nodeid.rsplit('[', 1)[-1][:-1]})")
        if "max_rss_bytes" in props:
            row.notes.append(
                f"child peak RSS {props['max_rss_bytes'] / 2**20:.0f} MB, "
                f"state {props.get('state_disk_bytes', 0) / 2**10:.0f} kB on disk"
            )
        if "daemon_max_rss_bytes" in props:
            for name in (_SCENARIO_NAMES[n] for n in (5, 6, 7)):
                rows[name].notes.append(
                    f"daemon served every drop, peak RSS "
                    f"{props['daemon_max_rss_bytes'] / 2**20:.0f} MB"
                )
        if "wal_bytes_while_pinned" in props:
            row.notes.append(
                f"WAL {props['wal_bytes_while_pinned'] / 2**20:.1f} MB while pinned, "
                f"{props.get('cli_reads_during_ingest')} CLI reads beside it, then truncated"
            )
        if "gc_runs" in props:
            row.notes.append(f"{props['gc_runs']} gc --grace 0 runs during the ingest")
    return rows


def render(rows: dict[str, Row]) -> str:
    order = [name for name, _ in SCENARIOS] + list(_SCENARIO_NAMES.values())
    order.sort(key=lambda n: int(n.split()[0]) if n[0].isdigit() else 99)
    names = sorted(
        rows, key=lambda n: (n.startswith("hostile"), order.index(n) if n in order else 99, n)
    )
    lines = [
        "| scenario | tried | passed | skipped | lost | fuzz examples | notes |",
        "|---|---:|---:|---:|---|---:|---|",
    ]
    for name in names:
        row = rows[name]
        lost = "nothing" if not row.failed else f"FAILED: {', '.join(row.failed)}"
        notes = "; ".join(dict.fromkeys(row.notes))
        lines.append(
            f"| {name} | {row.tried} | {row.passed} | {row.skipped} | {lost} | "
            f"{row.fuzz_examples or ''} | {notes} |"
        )
    total = sum(r.fuzz_examples for r in rows.values())
    lines.append("")
    lines.append(f"fuzz examples run in total: {total}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _known, extra = parser.parse_known_args(argv)
    collector = Collector()
    code = pytest.main(
        [
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(ROOT),
            *[str(ROOT / p) for p in PATHS],
            *extra,
        ],
        plugins=[collector],
    )
    print()
    print(render(build_table(collector.results)))
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
