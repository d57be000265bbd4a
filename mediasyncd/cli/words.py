"""Numbers as a person reads them: sizes, durations, counts with their noun, progress."""

from __future__ import annotations

from typing import Any


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 conversation`, `2 conversations` (`nouns` for irregular plurals)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def human_bytes(size: float) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def human_duration(seconds: float) -> str:
    """`45 s`, `3 min 20 s`, `2 h 05 min`."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def describe_progress(progress: dict[str, Any]) -> str:
    """One line for an ingest in progress (a `Snapshot.to_json()` dict):
    `hashing 146.0 MiB of 299.2 MiB (49 %), 95.1 MiB/s, about 2 s left`."""
    phase = str(progress.get("phase") or "starting")
    done = int(progress.get("bytes_done") or 0)
    total = progress.get("bytes_total")
    rate = progress.get("rate_bytes_per_second")
    eta = progress.get("eta_seconds")
    elapsed = progress.get("elapsed_seconds")
    if phase != "hashing":
        # Reading and matching have no byte count: say how long it has been going.
        read = f"read {human_bytes(total)}, " if total else ""
        took = f"{human_duration(float(elapsed))} so far" if elapsed is not None else ""
        return f"{phase} ({read}{took})" if read or took else phase
    parts = [f"{phase} {human_bytes(done)}"]
    if total:
        parts[0] += f" of {human_bytes(total)} ({min(100, done * 100 // total)} %)"
    if rate:
        parts.append(f"{human_bytes(rate)}/s")
    if eta is not None:
        parts.append(f"about {human_duration(float(eta))} left")
    return ", ".join(parts)
