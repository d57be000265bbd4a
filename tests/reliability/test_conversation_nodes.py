"""One conversation with a million mapping nodes (issue 11, item 11): refused at the
configured node count with an error naming the member, in bounded memory, while the
rest of the document is still read.

The export is built the way a hostile (or very unlucky) user would send it: a single
`conversations.json` whose first conversation's `mapping` is a chain of a million
small nodes (about 10 MB zipped, 88 MB unpacked), followed by an ordinary one.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

from mediasyncd.config import LimitsConfig
from tests.reliability.support import MAX_RSS_BYTES, disk_bytes, run_measured

MILLION = 1_000_000
_NODE = b'"n%07d":{"id":"n%07d","message":null,"parent":"n%07d","children":["n%07d"]}'


def write_many_node_export(path: Path, nodes: int) -> Path:
    """An export whose first conversation has `nodes` mapping nodes in one chain."""
    small = {
        "id": "small-conversation",
        "title": "after the big one",
        "current_node": "m1",
        "mapping": {
            "m0": {"id": "m0", "message": None, "parent": None, "children": ["m1"]},
            "m1": {
                "id": "m1",
                "parent": "m0",
                "children": [],
                "message": {
                    "id": "m1",
                    "author": {"role": "user"},
                    "create_time": 1_700_000_000.0,
                    "content": {"content_type": "text", "parts": ["still here"]},
                },
            },
        },
    }
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("conversations.json", "w", force_zip64=True) as out,
    ):
        out.write(b'[{"id":"huge-conversation","title":"huge","current_node":"n0000000",')
        out.write(b'"mapping":{"n0000000":{"id":"n0000000","message":null,"parent":null,')
        out.write(b'"children":["n0000001"]}')
        for start in range(1, nodes, 50_000):
            stop = min(start + 50_000, nodes)
            out.write(b"".join(b"," + _NODE % (i, i, i - 1, i + 1) for i in range(start, stop)))
        out.write(b"}},")
        out.write(json.dumps(small).encode())
        out.write(b"]")
    return path


def test_a_million_node_conversation_is_refused_in_bounded_memory(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """Before: the whole mapping became Python objects (1.0 GB peak for these null-message
    nodes, 1.9-2.9 GB with messages). Now: past `limits.max_conversation_nodes` the
    mapping stops growing, the conversation is refused with a one-line error naming the
    member, the next conversation is ingested, and the child's peak stays bounded."""
    export = write_many_node_export(tmp_path / "huge-export.zip", MILLION)
    state = tmp_path / "state"
    run = run_measured(["--state-dir", str(state), "ingest", "--json", str(export)], timeout=600)
    record_property("max_rss_bytes", run.max_rss_bytes)
    record_property("state_disk_bytes", disk_bytes(state))

    assert "Traceback" not in run.stderr, run.stderr
    assert 0 < run.max_rss_bytes < MAX_RSS_BYTES, f"peak {run.max_rss_bytes >> 20} MiB"
    summary = json.loads(run.stdout)
    assert summary["conversations_new"] == 1, summary
    failures = summary["failures"]
    assert len(failures) == 1, failures
    (failure,) = failures
    assert failure["source"] == str(export)
    assert failure["member"] == "conversations.json"
    limit = LimitsConfig().max_conversation_nodes
    assert "huge-conversation" in failure["error"]
    assert f"more than {limit:,} mapping nodes" in failure["error"]
    assert "limits.max_conversation_nodes" in failure["error"]
    assert "\n" not in failure["error"]


def test_the_node_limit_is_configurable(tmp_path: Path) -> None:
    """A lower limit refuses a smaller conversation; the same export under the default
    limit is read whole."""
    export = write_many_node_export(tmp_path / "export.zip", 2_000)
    config = tmp_path / "mediasyncd.toml"
    config.write_text("[limits]\nmax_conversation_nodes = 1000\n")
    args = ["--config", str(config), "--state-dir", str(tmp_path / "a"), "ingest", "--json"]
    limited = run_measured([*args, str(export)])
    summary = json.loads(limited.stdout)
    assert [f["member"] for f in summary["failures"]] == ["conversations.json"]
    assert "more than 1,000 mapping nodes" in summary["failures"][0]["error"]
    assert summary["conversations_new"] == 1

    whole = run_measured(["--state-dir", str(tmp_path / "b"), "ingest", "--json", str(export)])
    summary = json.loads(whole.stdout)
    assert summary["failures"] == [] and summary["conversations_new"] == 2
