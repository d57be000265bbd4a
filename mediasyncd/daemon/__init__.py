"""The daemon behind `mediasyncd run`: watch drop folders, settle, queue, ingest.

One concern per module: watcher (watchdog observers), settle (is a drop complete?),
reconcile (drop folders vs index), worker (the ingest thread and after_ingest),
afteringest (keep, move or delete a drop once read), scheduler (periodic jobs), notify
(systemd), progress and progress_file (the ingest in progress, for `status`), service
(the main loop and signals). The durable queue and the `daemon_state` row are index
tables (mediasyncd.index.jobs, mediasyncd.index.daemon_state).
"""
