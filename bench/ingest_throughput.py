"""Ingest throughput beside `cp -r` + `sync` of the same folder, on the same machine, in one run.

Usage (from the repository root; needs about 7x --size-gb of free space under --workdir):

    .venv/bin/python bench/ingest_throughput.py --size-gb 1.0

What it does:
1. generates a folder of mixed "media" files under --workdir (random bytes behind PNG, JPEG
   or WAV magic, sizes log-uniform between 50 KB and 20 MB, about 10 % duplicate content
   under other names) until it holds --size-gb;
2. times `cp -r FOLDER COPY && sync` (the baseline: the same bytes written durably);
3. times `mediasyncd ingest FOLDER` into a fresh state dir (every object fsynced, every
   shard folder fsynced, the index committed with synchronous=FULL); steps 2 and 3
   alternate --repeat times and the medians are compared;
4. times the re-ingest of the unchanged folder (skipped by its fingerprint), and the
   re-ingest after one file is added (the folder is walked again; every unchanged file
   comes from the (inode, mtime, size) cache, so nothing is re-hashed);
5. unless --no-zip, zips the folder (stored, and with --deflated also deflated; creating
   the zips is not timed) and times `mediasyncd ingest` of each into a fresh state dir
   (--repeat times, median reported).
`sync` runs before every timed step so no step pays for the previous one's writeback.
With --drop-caches (root only) the page cache is dropped before every timed step, so
each reads its input from the disk rather than from memory.

Nothing here is asserted; the figures are reported (docs: benchmarks are not tests).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"RIFF\x00\x00\x00\x00WAVEfmt "]
MIN_SIZE = 50 * 1000
MAX_SIZE = 20 * 1000 * 1000
REPO = Path(__file__).resolve().parent.parent


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kwargs)  # noqa: S603


def generate(folder: Path, total_bytes: int, seed: int) -> tuple[int, int, int]:
    """Write the test folder; returns (files, bytes, duplicate files)."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    folder.mkdir(parents=True)
    written = files = duplicates = 0
    earlier: list[Path] = []
    while written < total_bytes:
        sub = folder / f"album-{files // 40:03}"
        sub.mkdir(exist_ok=True)
        if earlier and rng.random() < 0.1:
            source = rng.choice(earlier)
            target = sub / f"copy-{files:05}{source.suffix}"
            shutil.copyfile(source, target)
            duplicates += 1
            size = target.stat().st_size
        else:
            size = int(math.exp(rng.uniform(math.log(MIN_SIZE), math.log(MAX_SIZE))))
            kind = rng.randrange(len(MAGIC))
            target = sub / f"IMG_{files:05}{['.png', '.jpg', '.wav'][kind]}"
            with open(target, "wb") as out:
                out.write(MAGIC[kind])
                remaining = size - len(MAGIC[kind])
                while remaining > 0:
                    chunk = min(remaining, 4 << 20)
                    out.write(rng.randbytes(chunk))
                    remaining -= chunk
            earlier.append(target)
        written += size
        files += 1
    return files, written, duplicates


def make_zip(folder: Path, target: Path, compression: int) -> None:
    with zipfile.ZipFile(target, "w", compression=compression, compresslevel=1) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())


def settle(drop_caches: bool) -> None:
    _run(["sync"])
    if drop_caches:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


def timed(cmd: list[str], drop_caches: bool, **kwargs: Any) -> tuple[float, str]:
    settle(drop_caches)
    started = time.perf_counter()
    result = _run(cmd, **kwargs)
    return time.perf_counter() - started, result.stdout


def ingest_cmd(state: Path, *paths: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mediasyncd",
        "--state-dir",
        str(state),
        "ingest",
        "--json",
        *map(str, paths),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.0, help="Size of the folder (GB).")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "mediasyncd-bench",
        help="Scratch space (outside the repository).",
    )
    parser.add_argument("--seed", type=int, default=2, help="Seed for the generated files.")
    parser.add_argument("--no-zip", action="store_true", help="Skip the zip measurements.")
    parser.add_argument("--deflated", action="store_true", help="Also time a deflated zip.")
    parser.add_argument("--drop-caches", action="store_true", help="Drop the page cache (root).")
    parser.add_argument(
        "--repeat", type=int, default=3, help="Runs of cp and of ingest (medians reported)."
    )
    parser.add_argument("--keep", action="store_true", help="Keep the scratch files.")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args()

    work: Path = args.workdir
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    folder = work / "folder"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MEDIASYNCD_FAULT", None)
    figures: dict[str, Any] = {}
    try:
        started = time.perf_counter()
        files, size, duplicates = generate(folder, int(args.size_gb * 1e9), args.seed)
        figures["folder"] = {"files": files, "bytes": size, "duplicate_files": duplicates}
        figures["generate_seconds"] = round(time.perf_counter() - started, 1)

        # cp and ingest alternate, `--repeat` times each, so neither always runs first
        # (right after the generator's writes) and one slow run does not decide the ratio.
        cp_runs: list[float] = []
        ingest_runs: list[float] = []
        summary: dict[str, Any] = {}
        for attempt in range(args.repeat):
            if attempt:
                shutil.rmtree(work / "state-folder")
            seconds, _ = timed(
                ["sh", "-c", f"cp -r '{folder}' '{work / 'copy'}' && sync"], args.drop_caches
            )
            cp_runs.append(seconds)
            shutil.rmtree(work / "copy")
            seconds, out = timed(
                ingest_cmd(work / "state-folder", folder), args.drop_caches, env=env
            )
            ingest_runs.append(seconds)
            summary = json.loads(out)
        cp_s, ingest_s = statistics.median(cp_runs), statistics.median(ingest_runs)
        figures["cp_sync_runs"] = [round(x, 2) for x in cp_runs]
        figures["ingest_folder_runs"] = [round(x, 2) for x in ingest_runs]
        unchanged_s, _ = timed(ingest_cmd(work / "state-folder", folder), args.drop_caches, env=env)
        (folder / "album-000" / "late-arrival.png").write_bytes(MAGIC[0] + os.urandom(100_000))
        rewalk_s, out = timed(ingest_cmd(work / "state-folder", folder), args.drop_caches, env=env)
        rewalk = json.loads(out)
        (folder / "album-000" / "late-arrival.png").unlink()
        figures["cp_sync_seconds"] = round(cp_s, 2)
        figures["ingest_folder_seconds"] = round(ingest_s, 2)
        figures["ingest_blobs_new"] = summary["blobs_new"]
        figures["ingest_blobs_deduplicated"] = summary["blobs_deduplicated"]
        figures["reingest_unchanged_seconds"] = round(unchanged_s, 2)
        figures["reingest_one_new_file_seconds"] = round(rewalk_s, 2)
        figures["reingest_one_new_file_blobs_new"] = rewalk["blobs_new"]

        if not args.no_zip:
            kinds = [("stored", zipfile.ZIP_STORED)]
            if args.deflated:
                kinds.append(("deflated", zipfile.ZIP_DEFLATED))
            for name, compression in kinds:
                archive = work / f"folder-{name}.zip"
                make_zip(folder, archive, compression)
                runs = []
                for _attempt in range(args.repeat):
                    seconds, _ = timed(
                        ingest_cmd(work / f"state-{name}", archive), args.drop_caches, env=env
                    )
                    runs.append(seconds)
                    shutil.rmtree(work / f"state-{name}")
                figures[f"ingest_zip_{name}_runs"] = [round(x, 2) for x in runs]
                figures[f"ingest_zip_{name}_seconds"] = round(statistics.median(runs), 2)
                archive.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    mb = figures["folder"]["bytes"] / 1e6
    figures["cp_sync_mb_per_s"] = round(mb / figures["cp_sync_seconds"], 1)
    figures["ingest_folder_mb_per_s"] = round(mb / figures["ingest_folder_seconds"], 1)
    figures["ratio_ingest_to_cp_sync"] = round(
        figures["ingest_folder_seconds"] / figures["cp_sync_seconds"], 2
    )
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    folder_info = figures["folder"]
    print(
        f"folder: {folder_info['files']} files, {mb:.0f} MB "
        f"({folder_info['duplicate_files']} duplicate files), generated in "
        f"{figures['generate_seconds']} s"
    )
    print(
        f"cp -r + sync            {figures['cp_sync_seconds']:8.2f} s  "
        f"{figures['cp_sync_mb_per_s']:7.1f} MB/s"
    )
    print(
        f"mediasyncd ingest       {figures['ingest_folder_seconds']:8.2f} s  "
        f"{figures['ingest_folder_mb_per_s']:7.1f} MB/s  "
        f"({figures['ingest_blobs_new']} new, {figures['ingest_blobs_deduplicated']} deduplicated)"
    )
    print(f"  (runs: cp+sync {figures['cp_sync_runs']}, ingest {figures['ingest_folder_runs']})")
    print(f"ratio ingest / cp+sync  {figures['ratio_ingest_to_cp_sync']:8.2f}")
    print(f"re-ingest, unchanged    {figures['reingest_unchanged_seconds']:8.2f} s")
    print(
        f"re-ingest, 1 file added {figures['reingest_one_new_file_seconds']:8.2f} s  "
        f"({figures['reingest_one_new_file_blobs_new']} new object(s); every other file came "
        "from the (inode, mtime, size) cache)"
    )
    for name in ("stored", "deflated"):
        key = f"ingest_zip_{name}_seconds"
        if key in figures:
            print(
                f"ingest zip ({name:8}) {figures[key]:8.2f} s  {mb / figures[key]:7.1f} MB/s"
                f"  (runs {figures[f'ingest_zip_{name}_runs']})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
