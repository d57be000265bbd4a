"""The daemon keeps `export.dir` in sync after each ingest that changed something."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.daemon.support import DaemonProcess, wait_until
from tests.helpers import media_bytes

MakeDaemon = Callable[..., DaemonProcess]
CID = "684a1df7-302c-8005-bf41-d26c56ecdc7f"


def _export_zip(path: Path, title: str) -> Path:
    conversation = {
        "id": CID,
        "title": title,
        "update_time": 2.0 if title == "second" else 1.0,
        "current_node": "m1",
        "mapping": {
            "m1": {
                "id": "m1",
                "parent": None,
                "children": [],
                "message": {
                    "id": "m1",
                    "author": {"role": "user"},
                    "content": {
                        "content_type": "multimodal_text",
                        "parts": [
                            {
                                "content_type": "image_asset_pointer",
                                "asset_pointer": "file-service://file-Exp1",
                            }
                        ],
                    },
                },
            }
        },
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("conversations.json", json.dumps([conversation]))
        archive.writestr("file-Exp1-photo.png", media_bytes(300, "photo"))
    return path


def test_daemon_refreshes_the_configured_export(
    tmp_path: Path, make_daemon: MakeDaemon, drop: Path
) -> None:
    """A drop lands in the export folder; a newer export of the conversation rewrites it."""
    out = tmp_path / "export"
    daemon = make_daemon(export={"dir": str(out)})
    daemon.start()
    daemon.wait_started()
    first = _export_zip(drop / "first.zip", "first")
    wait_until(lambda: daemon.state_of(first) == "ok", what="the first drop")
    wait_until(lambda: (out / "index.html").exists(), what="the export index")
    pages = list(out.glob("*/conversation.html"))
    assert len(pages) == 1
    assert "first" in pages[0].read_text(encoding="utf-8")
    assert any(p.is_file() for p in (pages[0].parent / "media").iterdir())

    second = _export_zip(drop / "second.zip", "second")
    wait_until(lambda: daemon.state_of(second) == "ok", what="the second drop")
    wait_until(
        lambda: any(
            "second" in p.read_text(encoding="utf-8") for p in out.glob("*/conversation.html")
        ),
        what="the rewritten page",
    )
    assert daemon.stop() == 0
    assert daemon.events("export.failed") == []
