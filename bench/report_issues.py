"""BENCHMARKS.md rows and tables of benchmarks 8 (issue 14) and 9 (issue 18)."""

from __future__ import annotations

from typing import Any

from bench.bench_chat import ratios

MB = 1e6
MIB = 2**20


def _mb(n: float) -> str:
    return f"{n / MB:,.0f} MB" if n >= 10 * MB else f"{n / MB:,.1f} MB"


def _mib(n: float) -> str:
    return f"{n / MIB:,.0f} MiB" if n >= 10 * MIB else f"{n / MIB:,.1f} MiB"


def _s(n: float) -> str:
    return f"{n:.3f} s" if n < 10 else f"{n:.1f} s"


def _yes(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def timing(row: dict[str, Any]) -> str:
    """Median wall seconds, the minimum, and median CPU seconds of a combined step."""
    runs = row.get("runs", 1)
    cpu = f" (CPU {_s(row['cpu'])})" if "cpu" in row else ""  # results from before CPU times
    if runs == 1:
        return f"{_s(row['seconds'])}{cpu}"
    return f"{_s(row['seconds'])} median, {_s(row['seconds_min'])} min of {runs}{cpu}"


def _ratio_text(r: dict[str, Any], percent: bool) -> str:
    if percent:
        each = ", ".join(f"{x:.1%}" for x in r["each"])
        return f"{r['median']:.1%} (min/min {r['min']:.1%}; CPU {r['cpu']:.1%}; each: {each})"
    each = ", ".join(f"{x:.2f}x" for x in r["each"])
    return f"{r['median']:.2f}x (min/min {r['min']:.2f}x; CPU {r['cpu']:.2f}x; each: {each})"


def chat_targets(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for size, c in r.get("chat", {}).items():
        n = int(size)
        first = ratios(c, "first", "unzip_sync")
        rows.append(
            (
                f"8. chat-heavy first ingest, {n:,} conversations ({_mb(c['export_bytes'])} zip) "
                "vs unzip + sync",
                _ratio_text(first, percent=False),
                "<= 1.5x (stretch 1.2x)",
                _yes(first["median"] <= 1.5),
            )
        )
        month = ratios(c, "next_month", "first")
        rows.append(
            (
                f"8. next month's export ({_mb(c['next_month_bytes'])}), {n:,}, vs first ingest",
                _ratio_text(month, percent=True),
                "<= 20 % (stretch 10 %)",
                _yes(month["median"] <= 0.2),
            )
        )
        copy = ratios(c, "copy", "first")
        rows.append(
            (
                f"8. byte-identical copy at another path, {n:,}, vs first ingest",
                _ratio_text(copy, percent=True),
                "<= 5 % (stretch 2 %)",
                _yes(copy["median"] <= 0.05),
            )
        )
    return rows


def footprint_targets(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    if "footprint" not in r:
        return []
    months = r["footprint"]["months"]
    first, last = months[0], months[-1]
    ratio = first["state_bytes"] / first["zip_bytes"]
    rows = [
        (
            f"9. first text-heavy export ({_mb(first['zip_bytes'])} zip): state dir / zip",
            f"{ratio:.2f}x ({_mib(first['state_bytes'])})",
            "<= 1.5x (stretch 1.0x)",
            _yes(ratio <= 1.5),
        )
    ]
    if len(months) > 1:
        growth = [m["growth_bytes"] / m["zip_bytes"] for m in months[1:]]
        rows.append(
            (
                "9. next month's export: growth / its zip",
                f"{growth[0]:.0%} in month 1 ({_mib(months[1]['growth_bytes'])}); months 1-"
                f"{len(growth)}: {min(growth):.0%} to {max(growth):.0%}",
                "<= 10 % (stretch 5 %)",
                _yes(max(growth) <= 0.1),
            )
        )
        year = last["state_bytes"] / last["zip_bytes"]
        rows.append(
            (
                f"9. {len(months) - 1} monthly exports after the first: state dir / last zip",
                f"{year:.2f}x ({_mib(last['state_bytes'])} vs {_mb(last['zip_bytes'])})",
                "<= 2.5x (stretch 1.5x)",
                _yes(year <= 2.5),
            )
        )
    return rows


def chat_details(r: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for size, c in r.get("chat", {}).items():
        out += [
            "",
            f"Chat-heavy export, {int(size):,} conversations ({_mb(c['export_bytes'])} zip; next "
            f"month {_mb(c['next_month_bytes'])}), {c['first'].get('runs', 1)} rounds:",
            "",
            "| step | wall | bytes written | peak RSS | new objects | state dir |",
            "|---|---|---|---|---|---|",
        ]
        for key, label in (
            ("unzip_sync", "unzip -q + sync"),
            ("first", "first ingest"),
            ("copy", "copy at another path"),
            ("next_month", "next month's export"),
        ):
            row = c[key]
            state = row.get("state", {}).get("bytes")
            out.append(
                f"| {label} | {timing(row)} | {_mb(row['written'])} | "
                f"{row['max_rss'] / MIB:.0f} MiB | {row.get('new_objects', '')} | "
                f"{_mib(state) if state else ''} |"
            )
    return out


KINDS = ("media", "conversations", "chat.html", "manifests", "other documents")


def footprint_details(r: dict[str, Any]) -> list[str]:
    if "footprint" not in r:
        return []
    months = r["footprint"]["months"]
    out = [
        "",
        "Footprint of a text-heavy account (state dir after each month's ingest; objects by "
        "what they hold; `messages.text` is the payload bytes of that column inside index.db):",
        "",
        "| month | zip | state dir | state / zip | growth | growth / zip | media | "
        "conversations.json | chat.html | manifests | index.db (+wal) | messages.text | "
        "ingest |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in months:
        b = m["breakdown"]
        kinds = b["objects_by_kind"]
        index = sum(b["files"].values())

        def kind(name: str, kinds: dict[str, Any] = kinds) -> str:
            return _mib(kinds[name]["bytes"]) if name in kinds else "0"

        out.append(
            f"| {m['month']} | {_mb(m['zip_bytes'])} | {_mib(m['state_bytes'])} | "
            f"{m['state_bytes'] / m['zip_bytes']:.2f}x | {_mib(m['growth_bytes'])} | "
            f"{m['growth_bytes'] / m['zip_bytes']:.0%} | {kind('media')} | "
            f"{kind('conversations')} | {kind('chat.html')} | {kind('manifests')} | "
            f"{_mib(index)} | {_mib(b['index']['messages_text_bytes'])} | "
            f"{timing(m['ingest'])} |"
        )
    last = months[-1]["breakdown"]["index"]["tables"]
    top = sorted(last.items(), key=lambda kv: -kv[1])[:10]
    out += [
        "",
        "index.db after the last month, by table and index (dbstat): "
        + ", ".join(f"{name} {_mib(size)}" for name, size in top),
    ]
    return out
