"""The daemon behind `mediasyncd run`: watch drop folders, settle, queue, ingest.

One concern per module: watcher (watchdog observers), settle (is a drop complete?),
jobs (the durable queue in the index), reconcile (drop folders vs index), worker (the
ingest thread and after_ingest), scheduler (periodic jobs), notify (systemd), state (the
daemon_state row), service (the main loop and signals).
"""
