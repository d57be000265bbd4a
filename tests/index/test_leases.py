"""Jobs and workers on a shared PostgreSQL index: claims, leases, heartbeats, takeovers.

Every worker here has a connection of its own to a real server; the claims race for real.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from mediasyncd.index import Index, jobs, leases
from tests.daemon.support import wait_until

HOST = "host-a"


def register(index: Index, pid: int = 1, host: str = HOST, lease: float = 60.0) -> int:
    return leases.register(index, host=host, pid=pid, state_dir="/s", folders=[], lease=lease)


def queue(index: Index, count: int, host: str | None = HOST) -> list[int]:
    return leases.enqueue_many(index, [(f"/drop/{n}.zip", f"f{n}") for n in range(count)], host)


def lease_of(index: Index, job_id: int) -> float:
    return float(index.scalar("SELECT lease_epoch FROM jobs WHERE id = ?", (job_id,)))


def test_concurrent_claims_never_take_a_job_twice(connect: Callable[[], Index]) -> None:
    """Six workers claim 120 jobs at once, each on its own connection: every job is taken
    exactly once (SKIP LOCKED: no worker waits for another's claim, none repeats it)."""
    ids = queue(connect(), 120)
    taken: dict[int, list[int]] = {}
    start = threading.Barrier(6)

    def work(number: int) -> None:
        index = connect()
        me = register(index, pid=number)
        mine = taken.setdefault(number, [])
        start.wait()
        while True:
            job, _ = leases.claim(index, me, HOST, 60.0)
            if job is None:
                return
            mine.append(job.id)
            jobs.finish(index, job.id)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    claimed = [job_id for mine in taken.values() for job_id in mine]
    assert sorted(claimed) == sorted(ids)
    assert sum(1 for mine in taken.values() if mine) > 1, "one worker took every job"


def test_an_expired_lease_is_taken_over(connect: Callable[[], Index]) -> None:
    """A worker that stops renewing loses the job when its lease runs out; the next claim
    takes it over as a resumed attempt. Until then nobody else can have it."""
    first, second = connect(), connect()
    (job_id,) = queue(first, 1)
    a, b = register(first, pid=1), register(second, pid=2)
    job, _ = leases.claim(first, a, HOST, 0.5)
    assert job is not None and (job.id, job.attempts, job.resumed) == (job_id, 1, False)
    assert leases.claim(second, b, HOST, 60.0) == (None, [])
    taken = wait_until(lambda: leases.claim(second, b, HOST, 60.0)[0], timeout=20)
    assert (taken.id, taken.attempts, taken.resumed) == (job_id, 2, True)
    assert second.scalar("SELECT worker_id FROM jobs") == b


def test_a_heartbeat_renews_the_worker_and_its_leases(connect: Callable[[], Index]) -> None:
    """The heartbeat moves the worker's running jobs' leases forward and records what it
    does; another worker's job is not touched."""
    index = connect()
    first, other = queue(index, 2)
    a, b = register(index, pid=1), register(index, pid=2)
    leases.claim(index, a, HOST, 1.0)
    leases.claim(index, b, HOST, 1.0)
    before, untouched = lease_of(index, first), lease_of(index, other)
    renewed = leases.heartbeat(
        index, a, status="watching 1/1 folder(s)", current="/drop/0.zip", progress=None, lease=90
    )
    assert renewed == 1
    assert lease_of(index, first) > before + 80
    assert lease_of(index, other) == untouched
    (row,) = [w for w in leases.workers(index) if w.id == a]
    assert (row.state, row.current) == ("running", "/drop/0.zip")
    assert row.status == "watching 1/1 folder(s)"


def test_jobs_of_another_machine_are_left_to_it(connect: Callable[[], Index]) -> None:
    """A worker claims the drops of its own machine's folders and drops any machine can
    read (no host); another machine's wait for that machine."""
    index = connect()
    theirs = queue(index, 1, host="host-b")
    anyone = leases.enqueue_many(index, [("s3://bucket/x.zip", "f")], None)
    me = register(index)
    job, _ = leases.claim(index, me, HOST, 60.0)
    assert job is not None and job.id == anyone[0]
    assert leases.claim(index, me, HOST, 60.0) == (None, [])
    assert index.scalar("SELECT state FROM jobs WHERE id = ?", (theirs[0],)) == "queued"


def test_a_drop_whose_workers_keep_dying_fails(connect: Callable[[], Index]) -> None:
    """A job taken over after its third attempt fails, and so does its source, with the
    reason: a drop that kills every worker is not passed on forever."""
    index = connect()
    (job_id,) = queue(index, 1)
    me = register(index)
    index.execute(
        """UPDATE jobs SET state = 'running', attempts = 3, lease_epoch = 0 WHERE id = ?""",
        (job_id,),
    )
    index.execute(
        "INSERT INTO sources (path, state, first_seen) VALUES ('/drop/0.zip', 'pending', 'now')"
    )
    job, given_up = leases.claim(index, me, HOST, 60.0)
    assert (job, given_up) == (None, ["/drop/0.zip"])
    assert index.scalar("SELECT state FROM jobs") == "failed"
    assert index.scalar("SELECT state FROM sources") == "failed"
    assert "stopped 3 times" in str(index.scalar("SELECT error FROM sources"))


def test_dead_workers_of_this_machine_release_their_jobs_at_once(
    connect: Callable[[], Index],
) -> None:
    """At start a worker finds the workers of its machine whose process is gone: they are
    marked dead and their jobs can be claimed now, not after the lease; a live one and
    another machine's are left alone."""
    index = connect()
    first, second = queue(index, 2)
    (third,) = leases.enqueue_many(index, [("/elsewhere/x.zip", "f")], "host-b")
    gone, live = register(index, pid=111), register(index, pid=222)
    elsewhere = register(index, pid=111, host="host-b")
    for worker, host in ((gone, HOST), (live, HOST), (elsewhere, "host-b")):
        job, _ = leases.claim(index, worker, host, 600.0)
        assert job is not None
    assert leases.dead_on_host(index, HOST, lambda pid: pid == 222) == [gone]
    me = register(index, pid=333)
    job, _ = leases.claim(index, me, HOST, 60.0)
    assert job is not None and job.id == first and job.resumed
    states = {w.id: w.state for w in leases.workers(index)}
    assert (states[gone], states[live], states[elsewhere]) == ("dead", "running", "running")
    assert leases.claim(index, me, HOST, 60.0) == (None, [])
    running = {int(r[0]) for r in index.execute("SELECT id FROM jobs WHERE state = 'running'")}
    assert running == {first, second, third}
