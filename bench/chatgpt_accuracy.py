"""ChatGPT linking accuracy, incremental cost and memory, on generated exports, in one run.

Usage (from the repository root; needs about 2 GB free under --workdir for the defaults):

    .venv/bin/python bench/chatgpt_accuracy.py

What it does (every mediasyncd step is a real `mediasyncd` process on a fresh state dir):
1. accuracy: a corpus of --conversations conversations (tests/support/chatgpt_corpus.py)
   written in every layout (era A zip, era A folder in the {"conversations": [...]} form,
   era A without chat.html, era B zip, era C zip and folder, multi-part era C), each
   ingested with the privacy-request archive; `mediasyncd matches` and `unresolved` are
   compared with the generator's ground truth (links per docs/architecture.md,
   "Matching"). Per strategy: links expected, found (same conversation, message, file,
   strategy and association), wrong (a link the truth does not have, or with another
   strategy/association), and references left unresolved (by the truth / as listed by mediasyncd);
2. scale: a corpus of --scale-conversations conversations as an era A export is ingested,
   then a small privacy archive touching --touch conversations; its ingest time (and the
   count of conversations it recomputed) is printed beside the time of a full
   `mediasyncd rematch` on the same index;
3. memory: an era A export whose conversations.json is at least --big-json-mb MB is
   streamed to disk (never held in memory) and ingested; the peak RSS of that
   `mediasyncd ingest` comes from os.wait4's rusage in a small launcher process (Linux
   keeps a peak RSS across fork and exec, so a child of this large process would not do).
Nothing here is asserted; the figures are reported (benchmarks are not tests).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.chatgpt_corpus import (  # noqa: E402 - the repository root is on the path now
    Comparison,
    Corpus,
    WrittenDrop,
    build_corpus,
    compare,
    expected,
    write_export,
    write_multipart,
    write_privacy_archive,
)
from tests.support.chatgpt_gen.truth import REF_STRATEGY, STRATEGIES  # noqa: E402

LAYOUTS: list[tuple[str, dict[str, Any]]] = [
    ("A zip", {"era": "A"}),
    ("A folder, object form", {"era": "A", "zipped": False, "object_form": True}),
    ("A zip, no chat.html", {"era": "A", "chat_html": False}),
    ("B zip", {"era": "B"}),
    ("C zip", {"era": "C"}),
    ("C folder", {"era": "C", "zipped": False}),
    ("C multi-part zip", {"era": "M"}),
]


# Linux keeps a process' peak RSS across fork and exec, so a child forked from this (large)
# process would report at least this process' RSS. A small launcher forks the measured
# command instead and reports that grandchild's own peak RSS on stderr.
LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:])
_pid, status, usage = os.wait4(child.pid, 0)
sys.stderr.write(f"\\n@@maxrss_kb {usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
"""


def run_child(cmd: list[str]) -> tuple[str, str, int, float, int]:
    """Run a command: (stdout, stderr, exit code, seconds, its peak RSS in bytes)."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        code = subprocess.call(  # noqa: S603
            [sys.executable, "-c", LAUNCHER, *cmd], stdout=out, stderr=err, cwd=REPO
        )
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    stderr, _, tail = stderr.rpartition("\n@@maxrss_kb ")
    return stdout, stderr, code, seconds, int(tail.strip() or 0) * 1024


def mediasyncd(state: Path, *args: str) -> tuple[str, float, int]:
    """Run `mediasyncd --state-dir STATE ARGS…`: (stdout, seconds, peak RSS in bytes)."""
    cmd = [sys.executable, "-m", "mediasyncd", "--state-dir", str(state), *args]
    stdout, stderr, code, seconds, rss = run_child(cmd)
    if code not in (0, 1, 3) or not stdout:  # 3: some drop partial
        raise SystemExit(f"{' '.join(cmd)} exited {code}: {stderr[-3000:]}")
    return stdout, seconds, rss


def records(state: Path, command: str) -> list[dict[str, Any]]:
    out, _, _ = mediasyncd(state, command, "--format", "jsonl")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def write_layout(corpus: Corpus, dest: Path, spec: dict[str, Any]) -> WrittenDrop:
    options = dict(spec)
    era = options.pop("era")
    if era == "M":
        return write_multipart(corpus, dest, **options)
    return write_export(corpus, dest, era, **options)


def ingest(state: Path, *paths: Path) -> tuple[dict[str, Any], float, int]:
    out, seconds, rss = mediasyncd(state, "ingest", "--json", *map(str, paths))
    try:
        summary: dict[str, Any] = json.loads(out)
    except json.JSONDecodeError:
        raise SystemExit(f"ingest printed no JSON summary: {out[:2000]!r}") from None
    return summary, seconds, rss


def evaluate(state: Path, drops: list[WrittenDrop]) -> Comparison:
    truth = expected(drops)
    return compare(truth, records(state, "matches"), records(state, "unresolved"))


def listed_unresolved_by_strategy(result: Comparison) -> Counter[str]:
    """mediasyncd's unresolved file-id references, by the strategy that would link them
    (a reference of no conversation message is a library_files.json row)."""
    kinds: dict[tuple[Any, ...], str] = {
        (conv.id, node.id, ref.key): REF_STRATEGY[ref.kind]
        for conv in result.truth.conversations.values()
        for node in conv.nodes.values()
        for ref in node.refs
    }
    kinds.update(result.truth.unresolved)
    # A listed reference whose file is found is a library row when one has that key (the
    # pointer in the same message with the same id is the one that got the link).
    library = result.unresolved_extra & result.truth.library_keys
    kinds.update(dict.fromkeys(library, "library_origin"))
    listed = (set(result.truth.unresolved) - result.unresolved_missing) | result.unresolved_extra
    return Counter(kinds.get(k, "library_origin") for k in listed)


def print_table(title: str, result: Comparison) -> dict[str, dict[str, int]]:
    table = result.per_strategy()
    listed = listed_unresolved_by_strategy(result)
    print(f"\n{title}")
    header = "unresolved (truth/listed)"
    print(f"  {'strategy':18} {'expected':>8} {'found':>7} {'wrong':>6} {header:>27}")
    totals: Counter[str] = Counter()
    for strategy in STRATEGIES:
        row = table[strategy]
        unresolved = f"{row['unresolved']}/{listed[strategy]}"
        print(
            f"  {strategy:18} {row['expected']:>8} {row['found']:>7} {row['wrong']:>6} "
            f"{unresolved:>27}"
        )
        totals.update({k: row[k] for k in ("expected", "found", "wrong", "unresolved")})
        totals["listed"] += listed[strategy]
    unresolved = f"{totals['unresolved']}/{totals['listed']}"
    print(
        f"  {'total':18} {totals['expected']:>8} {totals['found']:>7} {totals['wrong']:>6} "
        f"{unresolved:>27}"
    )
    print(
        f"  detail: {len(result.missing)} missing, {len(result.wrong)} wrong, "
        f"{len(result.different)} with another strategy/association/confidence, "
        f"{len(result.unresolved_missing)} unresolved not listed, "
        f"{len(result.unresolved_extra)} listed unresolved though a file satisfies them, "
        f"{len(result.duplicates)} duplicate rows"
    )
    return table


def accuracy(workdir: Path, n: int, seed: int) -> None:
    corpus = build_corpus(seed, n)
    print(
        f"== 1. accuracy: {n} conversations, {len(corpus.assets)} files "
        f"({len(corpus.export_assets())} in exports, {len(corpus.privacy_assets())} in the "
        f"privacy archive), seed {seed}"
    )
    overall: dict[str, Counter[str]] = {s: Counter() for s in STRATEGIES}
    for name, spec in LAYOUTS:
        dest = workdir / "accuracy" / name.replace(" ", "_").replace(",", "")
        export = write_layout(corpus, dest, spec)
        privacy = write_privacy_archive(corpus, dest, zipped=spec.get("zipped", True))
        state = dest / "state"
        summary, seconds, _ = ingest(state, export.path, privacy.path)
        result = evaluate(state, [export, privacy])
        table = print_table(
            f"{name} + privacy archive (ingest {seconds:.2f} s, "
            f"{len(summary['failures'])} failures)",
            result,
        )
        for strategy in STRATEGIES:
            overall[strategy].update(table[strategy])
        shutil.rmtree(state)
    print("\nall layouts together")
    print(f"  {'strategy':18} {'expected':>8} {'found':>7} {'wrong':>6} {'unresolved':>11}")
    for strategy in STRATEGIES:
        row = overall[strategy]
        print(
            f"  {strategy:18} {row['expected']:>8} {row['found']:>7} {row['wrong']:>6} "
            f"{row['unresolved']:>11}"
        )


def scale(workdir: Path, n: int, touch: int, seed: int) -> None:
    corpus = build_corpus(seed, n)
    dest = workdir / "scale"
    export = write_export(corpus, dest, "A")
    owners = [
        c.id
        for c in corpus.conversations
        if any(a.conversation_id == c.id for a in corpus.privacy_assets())
    ]
    chosen = set(owners[:touch])
    small = corpus.subset(chosen)
    privacy = write_privacy_archive(
        small, dest, assets=small.privacy_assets(), name="privacy-small"
    )
    print(
        f"\n== 2. scale: {n} conversations, {len(corpus.assets)} files, export "
        f"{export.path.stat().st_size / 2**20:.1f} MB; privacy archive of "
        f"{len(privacy.files)} files touching {len(chosen)} conversations"
    )
    state = dest / "state"
    summary, seconds, _ = ingest(state, export.path)
    print(
        f"  ingest of the export:            {seconds:8.2f} s  "
        f"({summary['conversations_new']} conversations, {summary['matches_added']} matches)"
    )
    summary, small_seconds, _ = ingest(state, privacy.path)
    print(
        f"  ingest of the small archive:     {small_seconds:8.2f} s  "
        f"(recomputed {summary['rematched_conversations']} conversations, "
        f"+{summary['matches_added']} / -{summary['matches_removed']} matches)"
    )
    out, rematch_seconds, _ = mediasyncd(state, "rematch", "--json")
    full = json.loads(out)
    print(
        f"  full `mediasyncd rematch`:       {rematch_seconds:8.2f} s  "
        f"(recomputed {full['rematched_conversations']} conversations, "
        f"+{full['matches_added']} / -{full['matches_removed']} matches; "
        f"{full['seconds']:.2f} s inside)"
    )
    result = evaluate(state, [export, privacy])
    print(
        f"  after both: {len(result.truth.links)} expected links, "
        f"{len(result.truth.links) - len(result.missing) - len(result.different)} found exactly, "
        f"{len(result.wrong) + len(result.different)} wrong"
    )
    shutil.rmtree(dest)


def memory(workdir: Path, big_json_mb: int, seed: int) -> None:
    dest = workdir / "big"
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "big-export.zip"
    # The writer runs in its own process so its peak RSS shows it streams.
    script = (
        "import json, sys; from pathlib import Path; "
        "from tests.support.chatgpt_corpus import stream_big_export; "
        f"print(json.dumps(stream_big_export(Path({str(path)!r}), "
        f"target_json_bytes={big_json_mb * 10**6}, pad_chars=12_000, seed={seed})))"
    )
    out, err, code, written, writer_rss = run_child([sys.executable, "-c", script])
    if code != 0:
        raise SystemExit(f"the big export could not be written: {err[-2000:]}")
    stats = json.loads(out)
    print(
        f"\n== 3. memory: conversations.json {stats['json_bytes'] / 10**6:.0f} MB "
        f"({stats['conversations']} conversations, {stats['media_files']} media files), "
        f"zip {path.stat().st_size / 10**6:.0f} MB, streamed in {written:.0f} s "
        f"(the writer's peak RSS: {writer_rss / 2**20:.0f} MB)"
    )
    state = dest / "state"
    summary, seconds, rss = ingest(state, path)
    print(
        f"  `mediasyncd ingest`: {seconds:.1f} s, peak RSS {rss / 2**20:.0f} MB "
        f"({summary['conversations_new']} conversations, {summary['blobs_new']} objects, "
        f"{len(summary['failures'])} failures)"
    )
    shutil.rmtree(dest)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=300, help="Accuracy corpus size.")
    parser.add_argument("--scale-conversations", type=int, default=5000)
    parser.add_argument(
        "--touch", type=int, default=5, help="Conversations the small archive touches."
    )
    parser.add_argument(
        "--big-json-mb", type=int, default=520, help="conversations.json size (MB)."
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="Scratch folder (default: a temp dir)."
    )
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="chatgpt-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, workdir {workdir}")
    if not args.skip_accuracy:
        accuracy(workdir, args.conversations, args.seed)
    if not args.skip_scale:
        scale(workdir, args.scale_conversations, args.touch, args.seed)
    if not args.skip_memory:
        memory(workdir, args.big_json_mb, args.seed)
    if args.workdir is None:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
