"""Every benchmark, side by side in one process tree, written to BENCHMARKS.md and a plot.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python -m bench.run_all --size small     # minutes: the whole suite, end to end
    .venv/bin/python -m bench.run_all --size full   # 2 GB export, 50k conversations, 1 GB JSON

Generated corpora go under --workdir (default /tmp/mediasyncd-bench, never the
repository) and are kept, keyed by their parameters, so a rerun after a fix measures the
same bytes without regenerating them. Each benchmark is a ratio against a baseline
measured in this same run (absolute times on shared machines drift; ratios hold):

1. full ingest of the big era A export vs `unzip` of the same zip + `sync`;
2. re-ingest (same path unchanged, a copy at another path) and ingest of a newer export
   sharing 95 % of its media vs the first ingest (seconds, bytes written);
3. a privacy archive touching 10 conversations dropped onto the index of a large export
   vs a full `mediasyncd rematch` (seconds, conversations recomputed);
4. peak RSS ingesting an export whose conversations.json is very large vs that size;
5. `mediasyncd status` and `matches --conversation ID` latency on the index of step 3;
6. hashing throughput vs `xxhsum -H2` on the big export's unzipped media;
7. convoviz (PyPI) on the big export: wall time, peak RSS, media linked to its conversation;
8. (issue 14) chat-heavy exports (many conversations, small media): first ingest vs
   `unzip` + `sync`; a byte-identical copy at another path and next month's export
   (bench/monthly.py) vs the first ingest (bench/bench_chat.py);
9. (issue 18) the footprint of a text-heavy account's first export and twelve monthly
   exports after it: the state dir against each zip, its growth, where the bytes are
   (bench/bench_footprint.py).
Timed steps run `--repeat` times (default 3), each round side by side with its baseline;
figures are medians, with minima and CPU seconds (user + system) beside them.
Writes BENCHMARKS.md at the repository root (keeping the hand-written notes after its
`<!-- notes -->` line), bench/cost_vs_size.png, and results.json in the workdir.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import (  # noqa: E402
    bench_chat,
    bench_convoviz,
    bench_footprint,
    bench_hash,
    bench_index,
    bench_ingest,
    bench_memory,
)
from bench.bench_proc import COMMANDS  # noqa: E402
from bench.bench_report import write_report  # noqa: E402
from bench.corpus import ChatGPTSpec  # noqa: E402

SIZES: dict[str, dict[str, Any]] = {
    "small": {
        "big_conversations": 300,
        "big_media_mb": 150,
        "index_conversations": 2000,
        "json_conversations": 1000,
        "json_mb": 40,
        "sweep": [0.25, 0.5],
        "hash_repeat": 3,
        "latency_repeat": 5,
        "chat": [(400, 12), (1000, 30)],  # (conversations, media MB)
        "footprint": {"conversations": 300, "media_mb": 5, "assistant_kb": 50, "months": 3},
    },
    "full": {
        "big_conversations": 3000,
        "big_media_mb": 1950,
        "index_conversations": 50_000,
        "json_conversations": 20_000,
        "json_mb": 1080,
        "sweep": [0.125, 0.25, 0.5],
        "hash_repeat": 3,
        "latency_repeat": 7,
        "chat": [(4000, 120), (10_000, 300)],
        "footprint": {"conversations": 3000, "media_mb": 50, "assistant_kb": 50, "months": 12},
    },
}
TOUCH = 10
ALL = "123456789"
GROW = 0.05 / 0.95  # the newer export: 95 % of its media shared with the first


def corpus(
    work: Path, name: str, spec: ChatGPTSpec, *, privacy: bool = False, truth: bool = False
) -> dict[str, Any]:
    """Generate (or reuse, when made with the same parameters) one export."""
    folder = work / "corpora" / name
    stamp = folder / "spec.json"
    wanted = asdict(spec) | {"privacy": privacy, "truth": truth}
    if stamp.exists():
        saved = json.loads(stamp.read_text())
        if saved["spec"] == wanted and Path(saved["stats"]["path"]).exists():
            return dict(saved["stats"])
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    argv = ["python", "-m", "bench.corpus", "chatgpt", str(folder / "export.zip")]
    argv += ["--era", spec.era, "--conversations", str(spec.conversations)]
    if spec.media_bytes:
        argv += ["--media-mb", f"{spec.media_bytes / 1e6!r}"]
    if spec.json_bytes:
        argv += ["--json-mb", f"{spec.json_bytes / 1e6!r}"]
    if spec.grow:
        argv += ["--grow", repr(spec.grow)]
    if spec.both_ids:
        argv += ["--both-ids"]
    if spec.assistant_bytes:
        argv += ["--assistant-kb", f"{spec.assistant_bytes / 1000:g}"]
    if spec.newest_first:
        argv += ["--newest-first"]
    if privacy:
        argv += ["--privacy-touch", str(spec.privacy_touch)]
        argv += ["--privacy-out", str(folder / "privacy.zip")]
    if truth:
        argv += ["--truth-out", str(folder / "truth.jsonl")]
    argv += ["--seed", str(spec.seed)]
    started = time.monotonic()
    stats = generate(argv)
    stats["generate_seconds"] = time.monotonic() - started
    stats["truth"] = str(folder / "truth.jsonl") if truth else None
    stats["command"] = shlex.join(argv)
    stats["touched_conversations"] = stats["touched_conversations"][:TOUCH]
    stamp.write_text(json.dumps({"spec": wanted, "stats": stats}))
    return stats


def generate(argv: list[str]) -> dict[str, Any]:
    """Run `python -m bench.corpus ...` in a child process; its summary line.

    In a child, so this process stays small: a child's peak RSS as wait4 reports it
    starts from its parent's at fork (Linux carries the pre-exec high-water mark over
    exec), so a suite that built a 50,000-conversation corpus in-process reported that
    size as the peak of every later `unzip`."""
    done = subprocess.run(  # noqa: S603
        [sys.executable, *argv[1:]], cwd=REPO, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited {done.returncode}: {done.stderr[-3000:]}")
    stats: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return stats


def next_months(work: Path, name: str, first: dict[str, Any], months: int) -> list[dict[str, Any]]:
    """The exports after `first`, each derived from the one before (bench/monthly.py),
    reused like corpora when made from the same export."""
    chain = [first]
    for month in range(1, months + 1):
        folder = work / "corpora" / f"{name}-month-{month:02d}"
        stamp = folder / "spec.json"
        previous = chain[-1]
        wanted = {"previous": previous["path"], "previous_bytes": previous["size_bytes"]}
        if stamp.exists():
            saved = json.loads(stamp.read_text())
            if saved["spec"] == wanted and Path(saved["stats"]["path"]).exists():
                chain.append(saved["stats"])
                continue
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        started = time.monotonic()
        argv = ["python", "-m", "bench.corpus", "next-month", previous["path"]]
        argv.append(str(folder / "export.zip"))
        stats = generate(argv)
        stats["generate_seconds"] = time.monotonic() - started
        stats["command"] = shlex.join(argv)
        stamp.write_text(json.dumps({"spec": wanted, "stats": stats}))
        chain.append(stats)
    return chain[1:]


def machine(work: Path) -> dict[str, str]:
    def sh(cmd: str) -> str:
        done = subprocess.run(cmd, shell=True, capture_output=True, text=True, check=False)  # noqa: S602
        return done.stdout.strip()

    mem = sh("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo")
    disk = sh(f"df -hT {shlex.quote(str(work))} | tail -1")
    model = sh("awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo")
    rotational = sh("lsblk -dno NAME,ROTA,MODEL 2>/dev/null | head -3 | tr '\\n' ';'")
    return {
        "nproc": sh("nproc"),
        "cpu": model,
        "memory": mem,
        "disk": f"{disk} (lsblk: {rotational})",
        "python": sys.version.split()[0],
        "kernel": platform.release(),
        "unzip": sh("unzip -v | head -1"),
        "xxhsum": sh("xxhsum --version 2>&1 | head -1"),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": sh(f"git -C {REPO} rev-parse --short HEAD"),
    }


def save(results: dict[str, Any], path: Path) -> None:
    """results.json after every benchmark, so a run cut short keeps what it measured."""
    commands = results.get("commands", [])
    results["commands"] = commands + [c for c in COMMANDS if c not in commands]
    path.write_text(json.dumps(results, indent=1))


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def compile_bytecode() -> None:
    """Byte-compile mediasyncd and its dependencies first, as `pip install` does for an
    installed package. Under PYTHONDONTWRITEBYTECODE (set on some machines) an editable
    checkout has no .pyc files, and every measured command compiled each module it
    imports again: about 45 ms of `status`'s 150 ms."""
    import compileall
    import site

    for folder in [str(REPO / "mediasyncd"), *site.getsitepackages()]:
        compileall.compile_dir(folder, quiet=1, workers=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mediasyncd-bench"))  # noqa: S108
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-drop-caches", action="store_true")
    parser.add_argument("--only", default=ALL, help="Benchmarks to run, e.g. 126 (default: all).")
    parser.add_argument("--repeat", type=int, default=3, help="Rounds of each timed step.")
    parser.add_argument(
        "--report-only", action="store_true", help="Rewrite the report from results.json."
    )
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--plot", type=Path, default=REPO / "bench" / "cost_vs_size.png")
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    work: Path = args.workdir / args.size
    work.mkdir(parents=True, exist_ok=True)
    drop = not args.no_drop_caches and os.geteuid() == 0
    if not args.report_only:
        compile_bytecode()
    if args.report_only:
        write_report(json.loads((work / "results.json").read_text()), args.output, args.plot)
        return 0
    results: dict[str, Any] = {
        "size": args.size,
        "machine": machine(work),
        "drop_caches": drop,
        "invocation": shlex.join(
            [".venv/bin/python", "-m", "bench.run_all", *(argv or sys.argv[1:])]
        ),
    }
    previous = work / "results.json"
    if previous.exists() and args.only != ALL:
        # A partial rerun keeps the other benchmarks' figures from the last run.
        old = json.loads(previous.read_text())
        results = old | {k: v for k, v in results.items() if k != "invocation"}
        results["invocation"] = (
            old.get("invocation", "")
            + " ; "
            + shlex.join([".venv/bin/python", "-m", "bench.run_all", *(argv or sys.argv[1:])])
        )
    seed = args.seed
    big_spec = ChatGPTSpec(
        era="A",
        conversations=size["big_conversations"],
        media_bytes=int(size["big_media_mb"] * 1e6),
        seed=seed,
        both_ids=True,
    )
    corpora: dict[str, Any] = results.setdefault("corpora", {})
    need_big = any(b in args.only for b in "12367")
    if need_big:
        say("generating the big export")
        corpora["big"] = corpus(work, "big", big_spec, truth=True)
        corpora["newer"] = corpus(work, "newer", ChatGPTSpec(**(asdict(big_spec) | {"grow": GROW})))
    if "1" in args.only or "2" in args.only:
        say("1-2: ingest vs unzip+sync, re-ingest, newer export")
        figures, unzipped = bench_ingest.full_and_reingest(
            work, Path(corpora["big"]["path"]), Path(corpora["newer"]["path"]), drop, args.repeat
        )
        results["ingest"] = figures
        sweep = []
        for fraction in size["sweep"]:
            spec = ChatGPTSpec(
                era="A",
                conversations=int(size["big_conversations"] * fraction),
                media_bytes=int(size["big_media_mb"] * fraction * 1e6),
                seed=seed,
                both_ids=True,
            )
            stats = corpus(work, f"sweep-{fraction:g}", spec)
            say(f"   sweep point {fraction:g}")
            point = bench_ingest.sweep_point(work, Path(stats["path"]), drop)
            point["conversations"] = spec.conversations
            sweep.append(point)
        results["sweep"] = sweep
        save(results, previous)
    else:
        unzipped = work / "unzipped-big"
    if "6" in args.only:
        say("6: hashing vs xxhsum")
        if not unzipped.exists():
            bench_ingest.unzip_sync(Path(corpora["big"]["path"]), unzipped, drop)
        results["hash"] = bench_hash.hashing(work, unzipped, size["hash_repeat"])
        save(results, previous)
    if "7" in args.only:
        say("7: convoviz")
        state = Path(results["ingest"]["state"])
        results["convoviz"] = bench_convoviz.side_by_side(
            work,
            Path(corpora["big"]["path"]),
            Path(corpora["big"]["truth"]),
            drop,
            results["ingest"]["first"],
            state,
        )
        mixed = corpus(
            work, "mixed-ids", ChatGPTSpec(era="A", conversations=200, seed=seed, media_bytes=None)
        )
        results["convoviz"]["default_mix"] = bench_convoviz.default_export_check(
            work, Path(mixed["path"])
        )
        save(results, previous)
    if "3" in args.only or "5" in args.only:
        say("3: privacy archive vs full rematch on a large index")
        spec = ChatGPTSpec(
            era="A",
            conversations=size["index_conversations"],
            seed=seed,
            privacy_touch=TOUCH,
        )
        corpora["index"] = corpus(work, "index", spec, privacy=True)
        figures, state = bench_index.privacy_vs_rematch(
            work,
            Path(corpora["index"]["path"]),
            Path(corpora["index"]["privacy_path"]),
            drop,
            args.repeat,
        )
        results["privacy"] = figures
        say("5: status / matches latency")
        results["latency"] = bench_index.latency(
            state, corpora["index"]["touched_conversations"][0], size["latency_repeat"]
        )
        results["latency"]["conversations"] = size["index_conversations"]
        save(results, previous)
    if "4" in args.only:
        say("4: peak RSS on a large conversations.json")
        spec = ChatGPTSpec(
            era="A",
            conversations=size["json_conversations"],
            json_bytes=int(size["json_mb"] * 1e6),
            seed=seed,
        )
        corpora["json"] = corpus(work, "json", spec)
        results["memory"] = bench_memory.peak_rss(
            work, Path(corpora["json"]["path"]), corpora["json"]["json_bytes"], drop
        )
    if "8" in args.only:
        results["chat"] = {}
        for conversations, media_mb in size["chat"]:
            name = f"chat-{conversations}"
            say(f"8: chat-heavy export, {conversations} conversations")
            spec = ChatGPTSpec(
                era="A",
                conversations=conversations,
                media_bytes=int(media_mb * 1e6),
                seed=seed,
                newest_first=True,
            )
            corpora[name] = corpus(work, name, spec)
            (month,) = next_months(work, name, corpora[name], 1)
            corpora[f"{name}-next-month"] = month
            figures = bench_chat.chat_heavy(
                work, name, Path(corpora[name]["path"]), Path(month["path"]), drop, args.repeat
            )
            figures["conversations"] = conversations
            results["chat"][str(conversations)] = figures
            save(results, previous)
    if "9" in args.only:
        plan = size["footprint"]
        say(f"9: footprint of a text-heavy account over {plan['months']} monthly exports")
        spec = ChatGPTSpec(
            era="A",
            conversations=plan["conversations"],
            media_bytes=int(plan["media_mb"] * 1e6),
            assistant_bytes=int(plan["assistant_kb"] * 1000),
            seed=seed,
            newest_first=True,
        )
        corpora["text"] = corpus(work, "text", spec)
        chain = [corpora["text"], *next_months(work, "text", corpora["text"], plan["months"])]
        corpora["text-month-last"] = chain[-1]
        results["footprint"] = bench_footprint.footprint(
            work, [Path(c["path"]) for c in chain], drop
        )
        results["footprint"]["exports"] = [
            {k: c[k] for k in ("path", "size_bytes", "json_bytes", "conversations")} for c in chain
        ]
    save(results, previous)
    write_report(results, args.output, args.plot)
    say(f"wrote {args.output} and {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
