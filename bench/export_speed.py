"""How long `mediasyncd export` takes for 5,000 conversations, and to re-export after one
conversation changed.

Usage (from the repository root):

    .venv/bin/python bench/export_speed.py [--conversations 5000] [--workdir /tmp/x]

What it does:
1. builds a ChatGPT export zip in code: --conversations conversations of 6 to 24 messages
   (a regenerated answer in one of five), an uploaded photo in one of three, a DALL·E
   image with its prompt in one of four, a voice clip in one of ten (real PNG and WAV
   bytes), and ingests it into a fresh state dir (not timed as export);
2. times a full HTML export into a new folder (and, separately, a Markdown one);
3. times a re-export with nothing changed;
4. ingests a newer copy of one conversation and times the re-export that follows;
5. takes a screenshot of one conversation page with Debian's headless Chromium, when it is
   installed, to /tmp/mediasyncd-export-screenshot.png.
Nothing is asserted; the figures are printed (benchmarks are reported, not tested).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mediasyncd.app import App  # noqa: E402
from mediasyncd.config import Config  # noqa: E402
from mediasyncd.export import export_archive  # noqa: E402
from mediasyncd.ingest.pipeline import Ingester  # noqa: E402
from tests.support.export_builders import node, png_bytes, wav_bytes  # noqa: E402

# A fixed, well-known place so a person (or the closing note) can look at it.
SCREENSHOT = Path("/tmp/mediasyncd-export-screenshot.png")  # noqa: S108
WORDS = [
    *("the", "a", "photo", "meal", "trip", "plan", "code", "python", "image", "voice"),
    *("answer", "question", "data", "chart", "river", "mountain", "budget", "report"),
    *("summary", "draft", "idea", "model", "token", "window", "file", "export", "archive"),
]


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def build_conversation(i: int, rng: random.Random, media: dict[str, bytes]) -> dict[str, Any]:
    cid = f"{i:08x}-{rng.getrandbits(16):04x}-4000-8000-{rng.getrandbits(48):012x}"
    t0 = 1_700_000_000.0 + i * 3600
    nodes = [node("root", None, ["m0"], None)]
    count = rng.randint(6, 24)
    parent = "root"
    for k in range(count):
        mid = f"m{k}"
        role = "user" if k % 2 == 0 else "assistant"
        parts: list[Any] = [
            "\n\n".join(sentence(rng, rng.randint(8, 30)) for _ in range(rng.randint(1, 4)))
        ]
        metadata: dict[str, Any] = {}
        if k == 0 and i % 3 == 0:
            fid = f"file-Up{i:07d}"
            parts.insert(
                0, {"content_type": "image_asset_pointer", "asset_pointer": f"file-service://{fid}"}
            )
            metadata["attachments"] = [{"id": fid, "name": f"photo {i}.png"}]
            media[f"{fid}-photo {i}.png"] = png_bytes(48, 32, seed=i)
        if k == 2 and i % 10 == 0:
            hexid = f"{i:032x}"
            parts.insert(
                0,
                {
                    "content_type": "audio_asset_pointer",
                    "asset_pointer": f"sediment://file_{hexid}",
                },
            )
            media[f"{cid}/audio/file_{hexid}-clip.wav"] = wav_bytes(0.1, 300 + i % 500)
        nodes[-1]["children"] = [mid]
        nodes.append(node(mid, parent, [], role, parts, metadata=metadata, create_time=t0 + k))
        parent = mid
        if k == 1 and i % 4 == 0:
            fid = f"file-Gen{i:07d}"
            tool = f"t{k}"
            nodes[-1]["children"] = [tool]
            pointer = {
                "content_type": "image_asset_pointer",
                "asset_pointer": f"file-service://{fid}",
                "metadata": {"dalle": {"gen_id": f"g{i}", "prompt": sentence(rng, 12)}},
            }
            nodes.append(node(tool, parent, [], "tool", [pointer], name="dalle.text2im"))
            media[f"{fid}-{i:08d}-0000-4000-8000-000000000000.png"] = png_bytes(64, 64, seed=i + 7)
            parent = tool
    if i % 5 == 0 and count > 3:
        # A regenerated answer beside m3.
        nodes.append(node("alt", "m2", [], "assistant", [sentence(rng, 20)], create_time=t0 + 9))
        for n in nodes:
            if n["id"] == "m2":
                n["children"] = [*n["children"], "alt"]
    return {
        "id": cid,
        "conversation_id": cid,
        "title": sentence(rng, rng.randint(2, 7)),
        "create_time": t0,
        "update_time": t0 + count,
        "current_node": parent,
        "default_model_slug": "gpt-4o",
        "mapping": {n["id"]: n for n in nodes},
    }


def timed(label: str, fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    print(f"{label:<44} {seconds:8.2f} s", flush=True)
    return seconds, result


def screenshot(page: Path) -> str:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        return "skipped: Debian's chromium is not installed (apt-get install chromium)"
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(  # noqa: S603 - a fixed argv, our own page
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--window-size=1100,1400",
                f"--screenshot={SCREENSHOT}",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    return str(SCREENSHOT) if done.returncode == 0 else f"failed: {done.stderr[-300:]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=5000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="mediasyncd-export-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)  # noqa: S311 - benchmark data, not secrets
    media: dict[str, bytes] = {}
    conversations = [build_conversation(i, rng, media) for i in range(args.conversations)]
    export = work / "export.zip"
    with zipfile.ZipFile(export, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", json.dumps(conversations))
        for name, data in media.items():
            archive.writestr(name, data)
    app = App(Config(), work / "state")
    ingester = Ingester(app.index, app.store, app.config, app.state_dir)
    print(f"workdir {work}")
    ingest_seconds, _ = timed(
        f"ingest {len(conversations)} conversations, {len(media)} files",
        lambda: ingester.ingest_paths([export]),
    )
    messages = app.index.scalar("SELECT COUNT(*) FROM messages")
    links = app.index.scalar("SELECT COUNT(*) FROM matches")

    out = work / "out-html"
    full, first = timed(
        "export (html, fresh folder)",
        lambda: export_archive(app.index, app.store, app.config, out, fmt="html"),
    )
    markdown, _ = timed(
        "export (markdown, fresh folder)",
        lambda: export_archive(app.index, app.store, app.config, work / "out-md", fmt="markdown"),
    )
    unchanged, second = timed(
        "re-export, nothing changed",
        lambda: export_archive(app.index, app.store, app.config, out, fmt="html"),
    )
    changed_one = dict(conversations[len(conversations) // 2])
    changed_one["update_time"] = float(changed_one["update_time"]) + 100
    changed_one["title"] = str(changed_one["title"]) + " (edited)"
    newer = work / "newer.zip"
    with zipfile.ZipFile(newer, "w") as archive:
        archive.writestr("conversations.json", json.dumps([changed_one]))
    ingester.ingest_paths([newer])
    one, third = timed(
        "re-export after one conversation changed",
        lambda: export_archive(app.index, app.store, app.config, out, fmt="html"),
    )
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file() and p.stat().st_nlink == 1)
    state = json.loads((out / ".mediasyncd-export.json").read_text())
    page = out / state["conversations"][str(conversations[0]["id"])]["folder"] / "conversation.html"
    shot = screenshot(page)
    report = {
        "conversations": len(conversations),
        "messages": messages,
        "files": len(media),
        "links": links,
        "ingest_seconds": round(ingest_seconds, 2),
        "export_html_seconds": round(full, 2),
        "export_markdown_seconds": round(markdown, 2),
        "reexport_unchanged_seconds": round(unchanged, 2),
        "reexport_one_changed_seconds": round(one, 2),
        "first_run": first.to_json(),
        "unchanged_run": {k: second.to_json()[k] for k in ("written", "unchanged")},
        "one_changed_run": {k: third.to_json()[k] for k in ("written", "unchanged", "removed")},
        "pages_bytes": size,
        "screenshot": shot,
    }
    print(json.dumps(report, indent=2))
    app.close()
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
