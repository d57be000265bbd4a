"""BENCHMARKS.md and the cost-against-size plot, from run_all's results."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import report_issues

NOTES = "<!-- notes -->"
MB = 1e6


def _mb(n: float) -> str:
    return f"{n / MB:,.0f} MB" if n >= 10 * MB else f"{n / MB:,.1f} MB"


def _s(n: float) -> str:
    return f"{n:.3f} s" if n < 10 else f"{n:.1f} s"


def _yes(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def targets(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(benchmark, figure, target, met) rows for whatever ran."""
    rows: list[tuple[str, str, str, str]] = []
    if "ingest" in r:
        i = r["ingest"]
        first, base = i["first"], i["unzip_sync"]
        ratio = first["seconds"] / base["seconds"]
        each = [
            a / b
            for a, b in zip(
                first.get("seconds_all", [first["seconds"]]),
                base.get("seconds_all", [base["seconds"]]),
                strict=True,
            )
        ]
        cpu = first.get("cpu", 0) / max(base.get("cpu", 0), 1e-9)
        rows.append(
            (
                f"1. full ingest of a {_mb(i['export_bytes'])} export vs unzip + sync",
                f"{ratio:.2f}x ({_s(first['seconds'])} vs {_s(base['seconds'])}; each round: "
                + ", ".join(f"{x:.2f}x" for x in each)
                + f"; CPU {cpu:.2f}x)",
                "<= 1.2x every run (issue 14; stretch 1.0x)",
                _yes(max(each) <= 1.2),
            )
        )
        for key, label in (
            ("same_path", "same path, unchanged"),
            ("copy", "a copy at another path"),
        ):
            row = i[key]
            t = row["seconds"] / first["seconds"]
            w = row["written"] / max(1, first["written"])
            rows.append(
                (
                    f"2. re-ingest, {label}, vs first ingest",
                    f"{t:.2%} of the time, {w:.2%} of the bytes written "
                    f"({_mb(row['written'])}), {row['new_objects']} new objects "
                    f"({row['summary']['blobs_new']} media; a new source's manifest is one)",
                    "< 5 %, no new object",
                    _yes(t < 0.05 and row["new_objects"] == 0),
                )
            )
        row = i["newer"]
        t = row["seconds"] / first["seconds"]
        w = row["written"] / max(1, first["written"])
        rows.append(
            (
                "2. newer export sharing 95 % of its media, vs first ingest",
                f"{t:.2%} of the time, {w:.2%} of the bytes written, {row['new_objects']} new "
                f"objects (of {first['new_objects']})",
                "(no target; ideally about 5 %)",
                "-",
            )
        )
    if "privacy" in r:
        p = r["privacy"]
        small, full = p["privacy"], p["rematch"]
        ratio = small["seconds"] / full["seconds"]
        rows.append(
            (
                f"3. privacy archive touching 10 conversations vs full rematch "
                f"({r['corpora']['index']['conversations']:,} conversations)",
                f"{ratio:.2%} ({report_issues.timing(small)} vs "
                f"{report_issues.timing(full)}); recomputed "
                f"{small['summary']['rematched_conversations']:,} vs "
                f"{full['summary']['rematched_conversations']:,} conversations",
                "<= 2 % (issue 14; stretch 1 %)",
                _yes(ratio <= 0.02),
            )
        )
    if "memory" in r:
        m = r["memory"]
        rows.append(
            (
                f"4. peak RSS ingesting a {_mb(m['json_bytes'])} conversations.json",
                f"{m['max_rss'] / 2**20:.0f} MiB "
                f"({m['max_rss'] / m['json_bytes']:.1%} of the JSON)",
                "< 300 MB",
                _yes(m["max_rss"] < 300 * MB),
            )
        )
    if "latency" in r:
        lat = r["latency"]
        rows.append(
            (
                f"5. `mediasyncd status` at {lat['conversations']:,} conversations (median of "
                f"{lat['status']['runs']})",
                f"{_s(lat['status']['median'])} (min {_s(lat['status']['min'])}, CPU "
                f"{_s(lat['status'].get('cpu_median', 0))})",
                "<= 100 ms (issue 14; stretch 60 ms)",
                _yes(lat["status"]["median"] <= 0.1),
            )
        )
        rows.append(
            (
                "5. `mediasyncd matches --conversation ID` (median)",
                _s(lat["matches"]["median"]),
                "(no target)",
                "-",
            )
        )
    if "hash" in r:
        h = r["hash"]
        ratio = h.get("loop_mb_s", h["mediasyncd_mb_s"]) / h["xxhsum_mb_s"]
        whole = h["mediasyncd_mb_s"] / h["xxhsum_mb_s"]
        rows.append(
            (
                f"6. hashing {_mb(h['bytes'])} ({h['files']} files) vs `xxhsum -H2`",
                f"{ratio:.0%} ({h.get('loop_mb_s', 0):,.0f} vs {h['xxhsum_mb_s']:,.0f} MB/s; "
                f"whole process incl. interpreter start: {whole:.0%}, "
                f"{h['mediasyncd_mb_s']:,.0f} MB/s)",
                ">= 80 %",
                _yes(ratio >= 0.8),
            )
        )
    if "convoviz" in r:
        c = r["convoviz"]
        ours, theirs = c["mediasyncd"], c["convoviz"]
        n = c["media_files"]
        ok = theirs["returncode"] != 0 or (
            ours["seconds"] < theirs["seconds"] and ours["linked"] > theirs["linked"]
        )
        rows.append(
            (
                f"7. vs convoviz {c['convoviz_version']} on the same era A export",
                f"mediasyncd {_s(ours['seconds'])}, {ours['max_rss'] / 2**20:.0f} MiB, links "
                f"{ours['linked']}/{n} ({ours['linked'] / n:.1%}); convoviz "
                f"{_s(theirs['seconds'])}, {theirs['max_rss'] / 2**20:.0f} MiB, links "
                f"{theirs['linked']}/{n} ({theirs['linked'] / n:.1%})"
                + (f" (exit {theirs['returncode']})" if theirs["returncode"] else ""),
                "faster and links more",
                _yes(ok),
            )
        )
    rows += report_issues.chat_targets(r)
    rows += report_issues.footprint_targets(r)
    return rows


def plot(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cost, memory) = plt.subplots(1, 2, figsize=(12, 4.8))
    ingest: list[tuple[float, float, float]] = []
    base: list[tuple[float, float]] = []
    for point in r.get("sweep", []):
        size = point["export_bytes"] / MB
        ingest.append((size, point["ingest"]["seconds"], point["ingest"]["max_rss"] / 2**20))
        base.append((size, point["unzip_sync"]["seconds"]))
    if "ingest" in r:
        size = r["ingest"]["export_bytes"] / MB
        first = r["ingest"]["first"]
        ingest.append((size, first["seconds"], first["max_rss"] / 2**20))
        base.append((size, r["ingest"]["unzip_sync"]["seconds"]))
        newer = r["ingest"]["newer"]
        cost.scatter(
            [size], [newer["seconds"]], marker="^", label="ingest of a newer export (95 % shared)"
        )
        same = r["ingest"]["same_path"]
        cost.scatter([size], [same["seconds"]], marker="v", label="re-ingest, unchanged")
    ingest.sort()
    base.sort()
    if ingest:
        cost.plot(
            [p[0] for p in ingest],
            [p[1] for p in ingest],
            "o-",
            label="mediasyncd ingest (era A zip)",
        )
        memory.plot(
            [p[0] for p in ingest],
            [p[2] for p in ingest],
            "o-",
            label="ingest, media-heavy exports (by zip size)",
        )
    if base:
        cost.plot([p[0] for p in base], [p[1] for p in base], "s--", label="unzip + sync")
    if "convoviz" in r and "ingest" in r and r["convoviz"]["convoviz"]["returncode"] == 0:
        cost.scatter(
            [r["ingest"]["export_bytes"] / MB],
            [r["convoviz"]["convoviz"]["seconds"]],
            marker="x",
            s=80,
            label="convoviz (markdown)",
        )
    if "privacy" in r:
        p = r["privacy"]
        size = p["export_bytes"] / MB
        cost.scatter(
            [size],
            [p["export_ingest"]["seconds"]],
            marker="D",
            label=f"ingest, {r['corpora']['index']['conversations']:,} conversations",
        )
        cost.scatter(
            [size], [p["rematch"]["seconds"]], marker="P", label="full rematch of that index"
        )
        cost.scatter(
            [size],
            [p["privacy"]["seconds"]],
            marker="*",
            s=90,
            label="privacy archive (10 conversations)",
        )
        memory.scatter(
            [size],
            [p["export_ingest"]["max_rss"] / 2**20],
            marker="D",
            label="ingest, many conversations (by zip size)",
        )
    if "memory" in r:
        m = r["memory"]
        memory.scatter(
            [m["json_bytes"] / MB],
            [m["max_rss"] / 2**20],
            marker="*",
            s=90,
            label="ingest, big conversations.json (by JSON size)",
        )
    memory.axhline(300 / 1.048576, color="grey", linestyle=":", label="300 MB target")
    for axis in (cost, memory):
        axis.set_xscale("log")
        axis.set_xlabel("corpus size (MB)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    cost.set_yscale("log")
    cost.set_ylabel("wall seconds")
    cost.set_title("Cost against corpus size")
    memory.set_ylabel("peak RSS (MiB)")
    memory.set_title("Peak memory against corpus size")
    fig.suptitle(
        f"mediasyncd benchmarks ({r['size']} run, {r['machine']['nproc']} cpus, "
        f"{r['machine']['memory']})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


PLOT_VENV = Path(tempfile.gettempdir()) / "mediasyncd-bench" / "plot-venv"
PLOTTER = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from bench.bench_report import plot
plot(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
"""


def plot_in_child(r: dict[str, Any], path: Path) -> None:
    """Draw the plot here when matplotlib is importable, else in a venv of its own.

    matplotlib pulls in numpy, and sqlite-utils imports numpy whenever it is installed:
    in mediasyncd's own venv that would add ~80 ms to every CLI start, the very latency
    benchmark 5 measures. So `.[bench]` is best installed in another venv; by default
    the plot is drawn in PLOT_VENV (created on first use)."""
    if importlib.util.find_spec("matplotlib") is not None:
        plot(r, path)
        return
    python = PLOT_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PLOT_VENV)], check=True)  # noqa: S603
        pip = [str(PLOT_VENV / "bin" / "pip"), "install", "-q", "matplotlib>=3.8"]
        subprocess.run(pip, check=True)  # noqa: S603
    repo = Path(__file__).resolve().parent.parent
    with tempfile.NamedTemporaryFile("w", suffix=".json") as data:
        data.write(json.dumps(r))
        data.flush()
        cmd = [str(python), "-c", PLOTTER, data.name, str(path), str(repo)]
        subprocess.run(cmd, check=True)  # noqa: S603


def write_report(r: dict[str, Any], path: Path, plot_path: Path) -> None:
    plot_in_child(r, plot_path)
    notes = ""
    if path.exists() and NOTES in path.read_text():
        notes = path.read_text().split(NOTES, 1)[1]
    m = r["machine"]
    out = [
        "# Benchmarks",
        "",
        "Measured by `bench/run_all.py`: every benchmark is a ratio against a baseline run in",
        "the same process tree on the same machine, minutes apart (absolute times on shared",
        "machines drift; the ratios are what to read). Corpora are generated by",
        "`bench/corpus.py` under /tmp/mediasyncd-bench.",
        "",
        f"Run: `{r['invocation']}` ({r['size']} sizes), commit {m['commit']}, {m['date']}.",
        "",
        "## Machine",
        "",
        f"- nproc: {m['nproc']} ({m['cpu']})",
        f"- memory: {m['memory']}",
        f"- disk: {m['disk']}",
        f"- Python {m['python']}, kernel {m['kernel']}",
        f"- {m['unzip']}; {m['xxhsum']}",
        f"- page cache dropped before every timed step: {'yes' if r['drop_caches'] else 'no'}"
        " (`sync` always)",
        "",
        "## Targets",
        "",
        "| benchmark | figure | target | |",
        "|---|---|---|---|",
    ]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in targets(r)]
    out += ["", f"![cost against corpus size]({plot_path.relative_to(path.parent)})", ""]
    out += details(r)
    out += ["", "## Commands", "", "Corpora:", "", "```"]
    out += [c["command"] for c in r.get("corpora", {}).values() if "command" in c]
    out += ["```", "", "Measured steps (in order; repeated runs listed once):", "", "```"]
    seen: set[str] = set()
    for command in r.get("commands", []):
        if command not in seen and "-c" not in command.split()[1:2]:
            seen.add(command)
            out.append(command if len(command) < 400 else command[:400] + " …")
    out += ["```", "", NOTES]
    path.write_text("\n".join(out) + (notes if notes else "\n"))


def details(r: dict[str, Any]) -> list[str]:
    out = ["## Details", ""]
    c = r.get("corpora", {})
    for name, stats in c.items():
        out.append(
            f"- corpus `{name}`: era {stats['era']}, {stats['conversations']:,} conversations, "
            f"{stats['media_files']:,} media files ({_mb(stats['media_bytes'])}), JSON "
            f"{_mb(stats['json_bytes'])}, zip {_mb(stats['size_bytes'])}"
        )
    if "ingest" in r:
        i = r["ingest"]
        out += [
            "",
            "| step | seconds | bytes written | peak RSS | new objects |",
            "|---|---|---|---|---|",
        ]
        for key, label in (
            ("unzip_sync", "unzip + sync"),
            ("first", "first ingest"),
            ("same_path", "re-ingest, same path"),
            ("copy", "re-ingest, copy at another path"),
            ("newer", "newer export (95 % shared)"),
        ):
            row = i[key]
            out.append(
                f"| {label} | {report_issues.timing(row)} | {_mb(row['written'])} | "
                f"{row['max_rss'] / 2**20:.0f} MiB | {row.get('new_objects', '')} |"
            )
    if r.get("sweep"):
        out += [
            "",
            "Size sweep (each into a fresh state dir):",
            "",
            "| zip | ingest | unzip + sync | ratio |",
            "|---|---|---|---|",
        ]
        for p in r["sweep"]:
            out.append(
                f"| {_mb(p['export_bytes'])} | {_s(p['ingest']['seconds'])} | "
                f"{_s(p['unzip_sync']['seconds'])} | "
                f"{p['ingest']['seconds'] / p['unzip_sync']['seconds']:.2f}x |"
            )
    if "privacy" in r:
        p = r["privacy"]
        out += [
            "",
            f"Index for 3 and 5: ingest of the {_mb(p['export_bytes'])} export took "
            f"{_s(p['export_ingest']['seconds'])} (peak RSS "
            f"{p['export_ingest']['max_rss'] / 2**20:.0f} MiB); the privacy archive "
            f"{_s(p['privacy']['seconds'])}, the full rematch {_s(p['rematch']['seconds'])}. "
            "Inside the library (the `seconds` of their --json summaries, interpreter start "
            f"excluded): {p['privacy']['summary']['seconds']:.3f} s vs "
            f"{p['rematch']['summary']['seconds']:.2f} s = "
            f"{p['privacy']['summary']['seconds'] / p['rematch']['summary']['seconds']:.2%}.",
        ]
    if "latency" in r:
        for name in ("status", "matches"):
            lat = r["latency"][name]
            out.append(
                f"- `{name}`: median {_s(lat['median'])}, min {_s(lat['min'])}, max "
                f"{_s(lat['max'])} over {lat['runs']} runs ({lat['lines']} lines of output; "
                f"CPU median {_s(lat.get('cpu_median', 0))})"
            )
    out += report_issues.chat_details(r)
    out += report_issues.footprint_details(r)
    if "convoviz" in r:
        cv = r["convoviz"]
        out += [
            "",
            f"convoviz wrong pairs (a media file linked to another conversation): "
            f"{cv['convoviz']['wrong_pairs']}; mediasyncd: {cv['mediasyncd']['wrong_pairs']}.",
        ]
        if cv["convoviz"]["error"]:
            out.append(f"convoviz failed on the big export: `{cv['convoviz']['error'][-300:]}`")
        mix = cv.get("default_mix")
        if mix:
            state = "ran" if mix["returncode"] == 0 else f"exited {mix['returncode']}"
            out.append(
                f"convoviz on the generator's default mix (some conversations carry `id` but "
                f"no `conversation_id`, as some real exports do): {state}."
            )
    return out
