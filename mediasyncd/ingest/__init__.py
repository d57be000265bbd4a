"""Ingesting drops: the pipeline (`pipeline`: walk, store, record, interpret, rematch),
what identifies a drop's version (`fingerprint`), how a drop ended (`outcome`), whether
an export arrived whole (`completeness`), progress (`progress`), and rebuilding the index
from the store (`replay`, `mediasyncd reindex`).

The modules are imported where they are used: the daemon's watcher needs the
fingerprint without the pipeline.
"""
