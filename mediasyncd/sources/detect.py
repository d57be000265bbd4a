"""Choosing the handler for a drop by its content.

Of the handlers given (mediasyncd.kinds registers them), the one with the highest
`detect` score wins, the plain media handler (score 1) being the fallback. Detection
looks at member paths and, through `read_head`, the first bytes of a few small members,
never the whole drop.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Sequence
from pathlib import Path

from mediasyncd.config import Config
from mediasyncd.errors import SourceError
from mediasyncd.fs.guard import open_file, read_head, refusal
from mediasyncd.fs.pathtext import name_from_text, path_text
from mediasyncd.fs.tree import TreeWalk
from mediasyncd.sources.base import SourceHandler, SourceProbe
from mediasyncd.sources.container import is_junk, is_zip_file
from mediasyncd.sources.safety import count_central_records
from mediasyncd.sources.zipnames import open_zip

PROBE_MAX_PATHS = 200_000


def build_probe(source: Path, config: Config | None = None) -> SourceProbe:
    """List a drop's paths cheaply (folder walk or zip central directory). Never follows a
    symlink or opens anything but a regular file (see fsguard)."""
    try:
        st = os.lstat(source)
    except OSError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        return _folder_probe(source, config)
    if st is not None and refusal(st) is None and is_zip_file(source):
        try:
            if _over_member_limit(source, st, config):
                # The walker refuses it by limits.max_members; listing it here first would
                # cost ~800 bytes of memory per member.
                names = []
            else:
                with open_file(source, st) as handle, open_zip(handle) as archive:
                    names = [n for n in archive.namelist()[:PROBE_MAX_PATHS] if not n.endswith("/")]
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
            # Detection has nothing to go on; the walker then words the damage precisely
            # (truncated, empty, not a zip) for the user.
            names = []

        def read_zip_head(rel: str, size: int) -> bytes:
            try:
                with (
                    open_file(source) as handle,
                    open_zip(handle) as archive,
                    archive.open(rel) as stream,
                ):
                    return stream.read(size)
            except Exception:  # noqa: BLE001 - detection only peeks; any damage means "no hint"
                return b""

        return SourceProbe(source, False, names, read_zip_head)

    def read_file_head(_rel: str, size: int) -> bytes:
        return read_head(source, size)

    return SourceProbe(source, False, [source.name], read_file_head)


def _folder_probe(source: Path, config: Config | None) -> SourceProbe:
    limits = (config or Config()).limits
    paths: list[str] = []
    for level in TreeWalk(source, limits.max_folder_depth):
        for entry in level.files:
            if len(paths) >= PROBE_MAX_PATHS:
                break
            if stat.S_ISREG(entry.st.st_mode):
                rel = path_text(entry.rel)
                if not is_junk(rel):
                    paths.append(rel)
        if len(paths) >= PROBE_MAX_PATHS:
            break
    paths.sort(key=lambda rel: rel.split("/"))

    def read_folder_head(rel: str, size: int) -> bytes:
        return read_head(source / name_from_text(rel), size)

    return SourceProbe(source, True, paths, read_folder_head)


def _over_member_limit(source: Path, st: os.stat_result, config: Config | None) -> bool:
    limit = (config or Config()).limits.max_members
    with open_file(source, st) as handle:
        return count_central_records(handle, stop_after=limit) > limit


def best_handler(
    source: Path, handlers: Sequence[SourceHandler], config: Config | None = None
) -> SourceHandler:
    """The handler with the highest detect score; ties go to the one listed first."""
    probe = build_probe(source, config)
    best: SourceHandler | None = None
    best_score = 0
    for handler in handlers:
        handler.config = config
        score = handler.detect(probe)
        if score > best_score:
            best, best_score = handler, score
    if best is None:  # a list without the plain handler (it always scores 1)
        raise SourceError("no reader recognises this drop", source=source)
    return best
