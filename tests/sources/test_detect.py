"""Choosing the handler for a drop: cheap probes, highest score wins, plain as fallback."""

from __future__ import annotations

import zipfile
from pathlib import Path

from mediasyncd.kinds import choose_handler
from mediasyncd.sources import detect
from mediasyncd.sources.base import SourceHandler, SourceProbe
from mediasyncd.sources.plain import PlainMediaHandler
from tests.helpers import make_zip, media_bytes, write_files


def test_folder_probe_lists_files_not_junk_or_links(tmp_path: Path) -> None:
    """A folder probe lists regular files ('/'-separated, sorted), skipping OS junk and
    symlinks, and can read a file's first bytes."""
    root = write_files(tmp_path / "d", {"b/x.png": b"\x89PNGabc", "a.txt": b"hi", ".DS_Store": b""})
    (root / "link.png").symlink_to(root / "a.txt")
    probe = detect.build_probe(root)
    assert probe.is_dir and probe.paths == ["a.txt", "b/x.png"]
    assert probe.read_head("b/x.png", 4) == b"\x89PNG"
    assert probe.read_head("missing", 4) == b""


def test_zip_probe_lists_members_without_folders(tmp_path: Path) -> None:
    """A zip probe lists member names from the central directory and reads small heads."""
    path = make_zip(tmp_path / "d.zip", [("dir/", b""), ("dir/a.png", b"\x89PNGxyz")])
    probe = detect.build_probe(path)
    assert not probe.is_dir and probe.paths == ["dir/a.png"]
    assert probe.read_head("dir/a.png", 4) == b"\x89PNG"
    assert probe.read_head("nope", 4) == b""


def test_single_file_probe(tmp_path: Path) -> None:
    """A single file is probed as itself."""
    photo = tmp_path / "p.jpg"
    photo.write_bytes(media_bytes(100, kind="jpeg"))
    probe = detect.build_probe(photo)
    assert probe.paths == ["p.jpg"] and probe.read_head("p.jpg", 3) == b"\xff\xd8\xff"


def test_broken_zip_probe_leaves_wording_to_the_walker(tmp_path: Path) -> None:
    """A zip detection cannot open gives an empty probe (plain handler), so the walker's
    precise error ('truncated ...') reaches the user instead of a generic one."""
    full = make_zip(tmp_path / "full.zip", {"a.png": media_bytes(5000)}).read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(full[: len(full) // 2])
    assert detect.build_probe(cut).paths == []
    assert isinstance(choose_handler(cut), PlainMediaHandler)


def test_folder_of_images_goes_to_the_plain_handler(tmp_path: Path) -> None:
    """Media nobody recognises is stored by the plain handler."""
    root = write_files(tmp_path / "d", {"IMG_0001.JPG": media_bytes(100, kind="jpeg")})
    assert choose_handler(root).kind == "plain"


class _Likes(SourceHandler):
    kind = "likes-magic"

    def detect(self, probe: SourceProbe) -> int:
        return 50 if "magic.txt" in probe.paths else 0


class _AlsoLikes(_Likes):
    kind = "also-likes-magic"


def test_highest_detect_score_wins(tmp_path: Path) -> None:
    """Every handler given is scored; the best score wins, the order breaks ties, and
    the plain handler takes what nobody else wants."""
    handlers = [_Likes(), _AlsoLikes(), PlainMediaHandler()]
    magic = write_files(tmp_path / "m", {"magic.txt": b"!"})
    other = write_files(tmp_path / "o", {"plain.txt": b"!"})
    assert detect.best_handler(magic, handlers).kind == "likes-magic"
    assert detect.best_handler(other, handlers).kind == "plain"


def test_zip_detection_reads_only_the_central_directory(tmp_path: Path) -> None:
    """Probing a big zip lists names without reading member data (cheap on multi-GB
    exports): a member with damaged data does not disturb the probe."""
    path = make_zip(
        tmp_path / "d.zip",
        {"a.bin": media_bytes(200_000), "b.png": b"\x89PNG"},
        compression=zipfile.ZIP_STORED,
    )
    data = bytearray(path.read_bytes())
    data[5000] ^= 0xFF
    path.write_bytes(bytes(data))
    assert detect.build_probe(path).paths == ["a.bin", "b.png"]
