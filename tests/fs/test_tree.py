"""The bounded, iterative folder walk: os.walk's order, no links followed, depth reported."""

from __future__ import annotations

import os
from pathlib import Path

from mediasyncd.fs.tree import TreeWalk, first_too_deep
from tests.helpers import remove_tree, write_files


def _os_walk_files(root: Path) -> list[str]:
    found = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            found.append((Path(folder) / name).relative_to(root).as_posix())
    return found


def test_order_is_os_walk_sorted(tmp_path: Path) -> None:
    """Fingerprints made before and after the switch agree: same files, same order."""
    root = write_files(
        tmp_path / "t",
        dict.fromkeys(["b.png", "a/z.png", "a/b/c.png", "a.png", "c/d/e/f.png", "a/a.png"], b"x"),
    )
    walked = [e.rel for level in TreeWalk(root, 10) for e in level.files]
    assert walked == _os_walk_files(root)


def test_links_are_entries_not_folders(tmp_path: Path) -> None:
    root = write_files(tmp_path / "t", {"a.png": b"x"})
    outside = write_files(tmp_path / "outside", {"secret.png": b"s"})
    (root / "link").symlink_to(outside)
    levels = list(TreeWalk(root, 10))
    assert [level.rel for level in levels] == [""]
    assert sorted(e.name for e in levels[0].files) == ["a.png", "link"]


def test_folders_below_the_limit_are_reported_not_listed(tmp_path: Path) -> None:
    root = write_files(tmp_path / "t", {"1/2/3/deep.png": b"x", "1/top.png": b"y"})
    walk = TreeWalk(root, 2)
    files = [e.rel for level in walk for e in level.files]
    assert files == ["1/top.png"]
    assert walk.too_deep == ["1/2/3"]
    assert first_too_deep(root, 2) == "1/2/3"
    assert first_too_deep(root, 3) is None


def test_walks_far_deeper_than_the_recursion_limit(tmp_path: Path) -> None:
    """1,500 levels (os.walk raises RecursionError near 1,000 on Python 3.11)."""
    root = tmp_path / "t"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY)
    for _ in range(1500):
        os.mkdir("d", dir_fd=fd)
        below = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = below
    os.close(fd)
    try:
        assert sum(1 for _level in TreeWalk(root, 5000)) == 1501
        assert first_too_deep(root, 100) == "/".join(["d"] * 101)
    finally:
        remove_tree(root)
