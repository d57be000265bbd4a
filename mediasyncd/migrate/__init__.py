"""Moving an installation to engines built for scale (`mediasyncd migrate`).

Each part is a library function of its own, and the command runs the parts asked for:
- `migrate_index` (mediasyncd.migrate.index): the local SQLite index into PostgreSQL;
- `migrate_store`: the local object store into an object store (added beside it).
Both copy, resume where a killed run stopped, verify what they copied, and leave the
local copy untouched.
"""
