"""The daemon (`mediasyncd run`, a child process) with the S3 store and an S3 watch: it
polls the prefix on its scheduler, lands only new keys as drops that `status` shows,
ingests drop-folder drops into the bucket too, and keeps what it has seen across a
restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.daemon.support import DaemonProcess, query, wait_until, write_config
from tests.helpers import media_bytes, run_mediasyncd
from tests.seaweed import Seaweed
from tests.support.traces_gen import jpeg


def s3_drops(daemon: DaemonProcess, url: str) -> dict[str, str]:
    return {p: s for p, (s, _) in daemon.sources().items() if p.startswith(url + "#")}


@pytest.mark.slow
def test_daemon_polls_the_bucket_for_new_keys_across_a_restart(
    seaweed: Seaweed, s3_bucket: str, s3_prefix: str, tmp_path: Path
) -> None:
    client = seaweed.client()
    watched = f"{s3_prefix}/meal-images/"
    url = f"s3://{s3_bucket}/{watched}"

    def put(name: str, seed: int) -> None:
        client.put_object(Bucket=s3_bucket, Key=watched + name, Body=jpeg(seed))

    drop = tmp_path / "drop"
    drop.mkdir()
    config = write_config(
        tmp_path / "config.toml",
        [drop],
        store={"url": f"s3://{s3_bucket}/{s3_prefix}/store", "endpoint_url": seaweed.endpoint},
        watch={
            "s3": [url],
            "s3_endpoint_url": seaweed.endpoint,
            "s3_poll_interval_seconds": 0.5,
        },
    )
    state = tmp_path / "state"
    daemon = DaemonProcess(config, state, tmp_path / "daemon.log")
    for n in range(3):
        put(f"u{n % 2}/IMG_{n}.jpg", n)
    try:
        daemon.start()
        daemon.wait_started()
        wait_until(lambda: list(s3_drops(daemon, url).values()) == ["ok"], 60, what="first poll")
        for n in range(3, 5):
            put(f"u2/IMG_{n}.jpg", n)
        (drop / "note.png").write_bytes(media_bytes(5000, "drop folder"))
        wait_until(lambda: sorted(s3_drops(daemon, url).values()) == ["ok", "ok"], 60)
        wait_until(lambda: daemon.state_of(drop / "note.png") == "ok", 60, what="folder drop")
        assert daemon.stop() == 0
    finally:
        daemon.kill()

    put("u3/IMG_5.jpg", 5)
    restarted = DaemonProcess(config, state, tmp_path / "restarted.log")
    try:
        restarted.start()
        restarted.wait_started()
        wait_until(lambda: sorted(s3_drops(restarted, url).values()) == ["ok"] * 3, 60)
        # The poll logs its report after its batch landed: wait for the line itself.
        wait_until(lambda: restarted.events("s3.polled"), 60, what="the poll's report")
        polls = restarted.events("s3.polled")
        assert polls[0]["new_keys"] == 1, polls
        members = query(
            restarted.db,
            """SELECT o.member FROM dump_images d JOIN occurrences o ON o.id = d.occurrence_id""",
        )
        assert len(members) == 6 and len({m for (m,) in members}) == 6
        done = run_mediasyncd(
            ["--config", str(config), "--state-dir", str(state), "status", "--json"]
        )
        status = json.loads(done.stdout)
        assert status["last_ingest"]["path"].startswith(url + "#")
        assert status["sources"]["ok"] == 4
        assert restarted.stop() == 0
    finally:
        restarted.kill()
    assert not (state / "objects").exists(), "the daemon wrote objects locally"
    listed = client.list_objects_v2(Bucket=s3_bucket, Prefix=f"{s3_prefix}/store/")
    assert listed["KeyCount"] >= 7  # six photos, the folder drop, listings and manifests
