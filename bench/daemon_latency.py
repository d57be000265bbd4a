"""Latency of the daemon: from a drop being settled to its matches being visible.

Usage (from the repository root):

    .venv/bin/python bench/daemon_latency.py --drops 20

What it does: starts `mediasyncd run` on a fresh state dir and drop folder (store fsync
and synchronous=FULL as in production; --settle-seconds short so the run is quick: the
quiet time is not part of the measured latency). Then, one drop at a time, it renames a
small ChatGPT export zip (one conversation whose message points at an uploaded image,
and that image) into the drop folder, and measures:
- settled -> visible in the index: from the daemon's `drop.settled` log event to the
  moment a read-only SQLite reader sees the conversation's match (polled every 5 ms);
- settled -> `mediasyncd matches --conversation ID` prints the match, and
- settled -> `mediasyncd status --json` shows the source ok: each CLI is run in a loop
  and the end of its first successful run counts, so these include the CLI's start-up;
- drop -> visible: from the rename to the index showing the match (includes the quiet
  time).
Median and worst of --drops are printed as one JSON object. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def export_zip(cid: str, file_id: str) -> bytes:
    """A minimal classic ChatGPT export: one conversation, one uploaded image."""
    image = b"\x89PNG\r\n\x1a\n" + os.urandom(20_000)
    message = {
        "id": "m1",
        "author": {"role": "user"},
        "content": {
            "content_type": "multimodal_text",
            "parts": [
                {
                    "content_type": "image_asset_pointer",
                    "asset_pointer": f"file-service://{file_id}",
                    "size_bytes": len(image),
                },
                "what is in this picture?",
            ],
        },
    }
    conversation = {
        "id": cid,
        "conversation_id": cid,
        "title": "latency",
        "create_time": time.time(),
        "update_time": time.time(),
        "current_node": "m1",
        "mapping": {"m1": {"id": "m1", "parent": None, "children": [], "message": message}},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", json.dumps([conversation]))
        archive.writestr(f"{file_id}-photo.png", image)
    return buffer.getvalue()


def cli(state: Path, config: Path, *args: str) -> str:
    return subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "mediasyncd",
            "--config",
            str(config),
            "--state-dir",
            str(state),
            *args,
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout


def settled_at(log: Path, source: str) -> float | None:
    for line in log.read_text(errors="replace").splitlines():
        if '"drop.settled"' in line and source in line:
            event = json.loads(line)
            return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
    return None


def wait_for(condition: Any, timeout: float, interval: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.time()
        time.sleep(interval)
    raise TimeoutError(condition)


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "worst": round(max(values), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drops", type=int, default=20)
    parser.add_argument("--settle-seconds", type=float, default=1.0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="msd-latency-", dir=args.workdir))
    drop, state, config, log = work / "drop", work / "state", work / "config.toml", work / "d.log"
    drop.mkdir()
    config.write_text(
        f'[watch]\nfolders = ["{drop}"]\nsettle_seconds = {args.settle_seconds}\n'
        '[store]\nfsync = true\n[index]\nsynchronous = "FULL"\n'
    )
    env = {k: v for k, v in os.environ.items() if k not in {"NOTIFY_SOCKET", "MEDIASYNCD_FAULT"}}
    with open(log, "wb") as out:
        daemon = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "mediasyncd",
                "--config",
                str(config),
                "--state-dir",
                str(state),
                "run",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
    results: dict[str, list[float]] = {
        "settled_to_index": [],
        "settled_to_matches_cli": [],
        "settled_to_status_cli": [],
        "drop_to_index": [],
    }
    try:
        wait_for(lambda: '"reconcile.done"' in log.read_text(errors="replace"), 30, 0.05)
        for i in range(args.drops):
            cid = str(uuid.uuid4())
            file_id = f"file-{uuid.uuid4().hex[:22]}"
            temp = drop / f"export-{i}.zip.part"
            temp.write_bytes(export_zip(cid, file_id))
            target = drop / f"export-{i}.zip"
            dropped = time.time()
            temp.rename(target)

            def matched(cid: str = cid) -> bool:
                conn = sqlite3.connect(f"file:{state / 'index.db'}?mode=ro", uri=True)
                try:
                    row = conn.execute(
                        "SELECT COUNT(*) FROM matches WHERE conversation_id = ?", (cid,)
                    ).fetchone()
                    return bool(row and row[0])
                finally:
                    conn.close()

            def cli_matches(cid: str = cid) -> bool:
                return bool(
                    cli(
                        state, config, "matches", "--conversation", cid, "--format", "jsonl"
                    ).strip()
                )

            def cli_status(path: str = str(target)) -> bool:
                data = json.loads(cli(state, config, "status", "--json"))
                last = data.get("daemon", {}).get("last_drop") or {}
                return last.get("path") == path and last.get("state") == "done"

            visible = wait_for(matched, 120, 0.005)
            seen_cli = wait_for(cli_matches, 120, 0.0)
            seen_status = wait_for(cli_status, 120, 0.0)
            settled = settled_at(log, str(target))
            if settled is None:
                raise RuntimeError(f"no drop.settled event for {target}")
            results["settled_to_index"].append(visible - settled)
            results["settled_to_matches_cli"].append(seen_cli - settled)
            results["settled_to_status_cli"].append(seen_status - settled)
            results["drop_to_index"].append(visible - dropped)
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=60)
    report = {
        "drops": args.drops,
        "settle_seconds": args.settle_seconds,
        "daemon_exit_code": code,
        **{name: summary(values) for name, values in results.items()},
        "workdir": str(work),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
