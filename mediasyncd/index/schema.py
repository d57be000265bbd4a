"""The index schema, versioned with sqlite-utils migrations from the first commit.

Append new migrations at the end; never edit one that has shipped. Each migration is a
function of the database and runs in its own transaction with the record that it ran.

Tables (docs/architecture.md, "The index", says which module writes each):
- blobs: one row per stored object (digest, size, media type from magic bytes).
- sources: one row per dropped file or folder, with its fingerprint and state.
- occurrences: where each object was found (source, member path inside it).
- member_failures: members that were skipped (unsafe name, over a limit, unreadable).
- occurrence_keys: the lookup keys a file can satisfy ((file_id, id), (conversation_dir, id), ...).
- file_cache: (device, inode, size, mtime) -> digest for plain files, so unchanged files
  are not re-hashed.
- conversations, messages, refs: what exports say; refs carry the lookup key of each
  reference to a file.
- traces, dump_images: Langfuse traces and image-dump photos (the meal-images case).
- matches: one row per link between a file and a conversation/message or a trace.
- documents: JSON documents already interpreted (by digest), so an unchanged shard is not
  parsed twice.
- jobs: the daemon's durable work queue.
- daemon_state: one row that `status` reads to say whether the daemon runs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, TypeVar

if TYPE_CHECKING:
    import sqlite_utils

_Func = TypeVar("_Func", bound="Callable[[sqlite_utils.Database], None]")


class _Step(NamedTuple):
    name: str
    func: Callable[[sqlite_utils.Database], None]


class LazyMigrations:
    """sqlite-utils' Migrations, built only when one is pending.

    Importing sqlite-utils costs about 80 ms (dateutil, and numpy or pandas whenever they
    are installed), and every command opens the index: `status` paid it on each run. The
    set name, the step names and their order are sqlite-utils' own (its
    `_sqlite_migrations` table), so indexes migrated before are recognised as they are.
    """

    def __init__(self, name: str):
        self.name = name
        self._migrations: list[_Step] = []

    def __call__(self, *, name: str) -> Callable[[_Func], _Func]:
        def register(func: _Func) -> _Func:
            self._migrations.append(_Step(name, func))
            return func

        return register

    def pending(self, conn: sqlite3.Connection) -> bool:
        """Whether a registered step is not yet recorded in this index (plain SQL)."""
        try:
            rows = conn.execute(
                "SELECT name FROM _sqlite_migrations WHERE migration_set = ?", (self.name,)
            ).fetchall()
        except sqlite3.OperationalError:  # no table yet: a new index
            return True
        applied = {str(row[0]) for row in rows}
        return any(step.name not in applied for step in self._migrations)

    def apply(self, db: sqlite_utils.Database) -> None:
        from sqlite_utils.migrations import Migrations

        migrations = Migrations(self.name)
        for step in self._migrations:
            migrations(name=step.name)(step.func)
        migrations.apply(db)


MIGRATIONS = LazyMigrations("mediasyncd")


def run_statements(db: sqlite_utils.Database, script: str) -> None:
    """Run a script statement by statement.

    `executescript` would COMMIT the migration's transaction before running, so a failed
    migration could leave half a schema behind.
    """
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            db.conn.execute(pending)
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete statement in migration: {pending.strip()[:80]}")


@MIGRATIONS(name="0001_initial")
def _initial(db: sqlite_utils.Database) -> None:
    run_statements(
        db,
        """
        CREATE TABLE blobs (
            digest TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            mime TEXT NOT NULL,
            kind TEXT NOT NULL,
            sha256 TEXT,
            first_seen TEXT NOT NULL
        );
        CREATE INDEX blobs_sha256 ON blobs(sha256) WHERE sha256 IS NOT NULL;

        CREATE TABLE sources (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            kind TEXT,
            is_dir INTEGER NOT NULL DEFAULT 0,
            size INTEGER,
            mtime_ns INTEGER,
            inode INTEGER,
            device INTEGER,
            fingerprint TEXT,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'ok', 'failed')),
            error TEXT,
            members INTEGER NOT NULL DEFAULT 0,
            manifest_digest TEXT,
            run INTEGER NOT NULL DEFAULT 0,
            first_seen TEXT NOT NULL,
            last_ingested TEXT
        );

        CREATE TABLE occurrences (
            id INTEGER PRIMARY KEY,
            source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
            member TEXT NOT NULL,
            -- The member's last path component, for maps that name files by basename.
            name TEXT NOT NULL DEFAULT '',
            digest TEXT NOT NULL REFERENCES blobs(digest),
            role TEXT NOT NULL DEFAULT 'media' CHECK (role IN ('media', 'document', 'other')),
            size INTEGER NOT NULL,
            crc32 INTEGER,
            -- The source's run that last saw this member; older ones are removed at the end.
            run INTEGER NOT NULL DEFAULT 0,
            UNIQUE (source_id, member)
        );
        CREATE INDEX occurrences_digest ON occurrences(digest);
        CREATE INDEX occurrences_name ON occurrences(name);
        CREATE INDEX occurrences_crc ON occurrences(crc32, size) WHERE crc32 IS NOT NULL;

        CREATE TABLE member_failures (
            id INTEGER PRIMARY KEY,
            source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
            member TEXT,
            error TEXT NOT NULL,
            recorded TEXT NOT NULL
        );
        CREATE INDEX member_failures_source ON member_failures(source_id);

        CREATE TABLE occurrence_keys (
            occurrence_id INTEGER NOT NULL REFERENCES occurrences(id) ON DELETE CASCADE,
            key_kind TEXT NOT NULL,
            key TEXT NOT NULL,
            extra TEXT,
            PRIMARY KEY (occurrence_id, key_kind, key)
        ) WITHOUT ROWID;
        CREATE INDEX occurrence_keys_lookup ON occurrence_keys(key_kind, key);

        CREATE TABLE file_cache (
            path TEXT PRIMARY KEY,
            device INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            digest TEXT NOT NULL
        );

        CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            title TEXT,
            create_time REAL,
            update_time REAL,
            account TEXT,
            current_node TEXT,
            model TEXT,
            is_archived INTEGER,
            content_hash TEXT NOT NULL,
            -- Kept here so `status` sums 50,000 rows instead of counting millions.
            message_count INTEGER NOT NULL DEFAULT 0,
            source_id INTEGER REFERENCES sources(id) ON DELETE SET NULL,
            updated TEXT NOT NULL
        );

        CREATE TABLE messages (
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            id TEXT NOT NULL,
            parent_id TEXT,
            role TEXT,
            author_name TEXT,
            recipient TEXT,
            content_type TEXT,
            create_time REAL,
            on_current_branch INTEGER NOT NULL DEFAULT 0,
            position INTEGER NOT NULL DEFAULT 0,
            text TEXT,
            PRIMARY KEY (conversation_id, id)
        ) WITHOUT ROWID;

        -- conversation_id has no foreign key on purpose: library_files.json can name a
        -- conversation that a later (or no) export brings.
        CREATE TABLE refs (
            id INTEGER PRIMARY KEY,
            subject TEXT NOT NULL CHECK (subject IN ('conversation', 'trace')),
            conversation_id TEXT,
            message_id TEXT,
            trace_id TEXT,
            user_id TEXT,
            kind TEXT NOT NULL,
            key_kind TEXT NOT NULL,
            key TEXT NOT NULL,
            extra TEXT,
            -- Who owns the row and replaces it when re-read: 'conversation' (the
            -- conversation's own content), 'trace', or 'doc:<digest>' (a document such as
            -- library_files.json).
            origin TEXT NOT NULL DEFAULT 'conversation'
        );
        CREATE INDEX refs_lookup ON refs(key_kind, key);
        CREATE INDEX refs_conversation ON refs(conversation_id);
        CREATE INDEX refs_trace ON refs(trace_id);
        CREATE INDEX refs_origin ON refs(origin);

        -- Further keys a reference can be satisfied by (a pointer's size_bytes, a gen_id).
        CREATE TABLE ref_keys (
            ref_id INTEGER NOT NULL REFERENCES refs(id) ON DELETE CASCADE,
            key_kind TEXT NOT NULL,
            key TEXT NOT NULL,
            PRIMARY KEY (ref_id, key_kind, key)
        ) WITHOUT ROWID;
        CREATE INDEX ref_keys_lookup ON ref_keys(key_kind, key);

        -- Keys that maps inside exports give to a member name wherever it is found
        -- (era C's .dat name map, chat.html's assetsJson), so a map in one part of a
        -- multi-part export applies to files in another part.
        CREATE TABLE name_aliases (
            name TEXT NOT NULL,
            key_kind TEXT NOT NULL,
            key TEXT NOT NULL,
            extra TEXT,
            origin TEXT NOT NULL,
            PRIMARY KEY (name, key_kind, key)
        ) WITHOUT ROWID;

        CREATE TABLE traces (
            id TEXT PRIMARY KEY,
            timestamp TEXT,
            ts REAL,
            user_id TEXT,
            session_id TEXT,
            name TEXT,
            input TEXT,
            output TEXT,
            metadata TEXT,
            model TEXT,
            cost REAL,
            tags TEXT,
            content_hash TEXT NOT NULL,
            source_id INTEGER REFERENCES sources(id) ON DELETE SET NULL
        );
        CREATE INDEX traces_user_ts ON traces(user_id, ts);

        CREATE TABLE dump_images (
            occurrence_id INTEGER PRIMARY KEY REFERENCES occurrences(id) ON DELETE CASCADE,
            user_id TEXT NOT NULL,
            taken TEXT,
            ts REAL,
            time_source TEXT
        );
        CREATE INDEX dump_images_user ON dump_images(user_id, ts);

        CREATE TABLE matches (
            id INTEGER PRIMARY KEY,
            subject TEXT NOT NULL CHECK (subject IN ('conversation', 'trace')),
            conversation_id TEXT,
            message_id TEXT,
            trace_id TEXT,
            user_id TEXT,
            digest TEXT NOT NULL,
            ref_id INTEGER,
            strategy TEXT NOT NULL,
            association TEXT NOT NULL CHECK (association IN ('generated', 'attachment', 'inline')),
            confidence REAL NOT NULL,
            detail TEXT
        );
        CREATE INDEX matches_conversation ON matches(conversation_id);
        CREATE INDEX matches_user ON matches(user_id);
        CREATE INDEX matches_digest ON matches(digest);
        CREATE INDEX matches_ref ON matches(ref_id) WHERE ref_id IS NOT NULL;

        -- References a matcher resolved whose link row names another reference (two
        -- references in one message to the same file keep one link row).
        CREATE TABLE resolved_refs (
            ref_id INTEGER PRIMARY KEY,
            conversation_id TEXT
        );
        CREATE INDEX resolved_refs_conversation ON resolved_refs(conversation_id);

        CREATE TABLE documents (
            digest TEXT NOT NULL,
            interpreter TEXT NOT NULL,
            interpreted TEXT NOT NULL,
            PRIMARY KEY (digest, interpreter)
        ) WITHOUT ROWID;

        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
            fingerprint TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            enqueued TEXT NOT NULL,
            started TEXT,
            finished TEXT,
            error TEXT
        );
        CREATE INDEX jobs_state ON jobs(state);
        CREATE INDEX jobs_path ON jobs(path);

        CREATE TABLE daemon_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            pid INTEGER,
            since TEXT,
            heartbeat TEXT,
            status TEXT,
            last_error TEXT
        );
        """,
    )


@MIGRATIONS(name="0002_occurrence_keys_by_occurrence")
def _occurrence_keys_by_occurrence(db: sqlite_utils.Database) -> None:
    """Keys of one occurrence without a table scan: the text-mention lookup (digests ->
    their file names) starts from the occurrences, and deleting an occurrence cascades to
    its keys. Without it both scanned every key: 80 ms a conversation at 50,000
    conversations, which made an ingest or rematch of that index quadratic."""
    run_statements(
        db,
        "CREATE INDEX occurrence_keys_occurrence ON occurrence_keys(occurrence_id, key_kind);",
    )


@MIGRATIONS(name="0003_status_counts")
def _status_counts(db: sqlite_utils.Database) -> None:
    """Covering indexes for what `mediasyncd status` counts (refs by kind, matches by
    strategy, media occurrences of a digest): at 50,000 conversations its queries read
    the tables themselves and took about 0.3 s."""
    run_statements(
        db,
        """
        CREATE INDEX refs_kind ON refs(kind);
        CREATE INDEX matches_strategy ON matches(strategy);
        CREATE INDEX occurrences_digest_role ON occurrences(digest, role);
        """,
    )


@MIGRATIONS(name="0004_matches_by_subject")
def _matches_by_subject(db: sqlite_utils.Database) -> None:
    """Trace pairs are counted apart from conversation links (`status`' trace_pairs):
    without this index each count read all 95,000 matches of a 50,000-conversation
    index, about 30 ms per `status` for an index without a single trace."""
    run_statements(db, "CREATE INDEX matches_subject ON matches(subject, strategy);")


@MIGRATIONS(name="0005_trace_matches_partial_index")
def _trace_matches_partial_index(db: sqlite_utils.Database) -> None:
    """Replace 0004's `matches(subject, strategy)`: with an equality on `subject`, SQLite
    preferred it to `matches_conversation` for `subject = 'conversation' AND
    conversation_id IN (…)`, so every rematch chunk read all conversation links (27 ms a
    chunk at 50,000 conversations). An index of the trace links alone keeps the trace
    counts of `status` instant without competing for conversation queries."""
    run_statements(
        db,
        """
        DROP INDEX IF EXISTS matches_subject;
        CREATE INDEX matches_trace ON matches(strategy) WHERE subject = 'trace';
        """,
    )


# (table, CHECK as created, CHECK with the states added) for 0006.
_STATE_CHECKS = (
    (
        "sources",
        "CHECK (state IN ('pending', 'ok', 'failed'))",
        "CHECK (state IN ('pending', 'ok', 'partial', 'failed'))",
    ),
    (
        "jobs",
        "CHECK (state IN ('queued', 'running', 'done', 'failed'))",
        "CHECK (state IN ('queued', 'running', 'done', 'partial', 'failed'))",
    ),
)


@MIGRATIONS(name="0006_partial_outcomes")
def _partial_outcomes(db: sqlite_utils.Database) -> None:
    """Sources (and the daemon's jobs) can end `partial`: stored and indexed, but
    something in them could not be read, or their export manifest names files no drop
    has brought yet (`export_expected`, one row per named file). Blobs count their
    repairs (`repairs`); member failures are problems or notes (`kind`).

    SQLite cannot alter a CHECK constraint. Widening one, which every stored row already
    satisfies, is the case SQLite's ALTER TABLE documentation allows editing the table's
    SQL in sqlite_schema for (with the schema version bumped); copying `sources` into a
    new table instead would cascade-delete every occurrence, since foreign keys are on
    and cannot be turned off inside this migration's transaction."""
    conn = db.conn
    version = int(conn.execute("PRAGMA schema_version").fetchone()[0])
    conn.execute("PRAGMA writable_schema = ON")
    try:
        for table, old, new in _STATE_CHECKS:
            row = conn.execute(
                "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()
            sql = str(row[0])
            if new in sql:
                continue
            if old not in sql:
                raise ValueError(f"0006: unexpected schema of {table}: {sql[:200]}")
            conn.execute(
                "UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = ?",
                (sql.replace(old, new), table),
            )
        conn.execute(f"PRAGMA schema_version = {version + 1}")
    finally:
        conn.execute("PRAGMA writable_schema = OFF")
    run_statements(
        db,
        """
        CREATE TABLE IF NOT EXISTS export_expected (
            source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
            -- A file the source's export_manifest.json names, relative to the export.
            path TEXT NOT NULL,
            -- Its last component, to find it among the occurrences (occurrences_name).
            name TEXT NOT NULL,
            size INTEGER,
            -- 1 once some drop holds a file at this path (and of this size, when known).
            present INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (source_id, path)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS export_expected_open ON export_expected(name)
            WHERE present = 0;
        """,
    )
    # How many times an object was written again after it had gone (verify quarantined
    # it, a re-drop repaired it): an export places the files of a repaired object anew.
    columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(blobs)")}
    if "repairs" not in columns:
        conn.execute("ALTER TABLE blobs ADD COLUMN repairs INTEGER NOT NULL DEFAULT 0")
    # A problem makes its source partial; a note (read and stored, but worth saying)
    # does not.
    columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(member_failures)")}
    if "kind" not in columns:
        conn.execute(
            "ALTER TABLE member_failures ADD COLUMN kind TEXT NOT NULL DEFAULT 'problem' "
            "CHECK (kind IN ('problem', 'note'))"
        )


# Whether a reference (alias r's id) resolves, as RESOLVED_SQL says, for the triggers below.
_RESOLVES = """(EXISTS (SELECT 1 FROM matches m WHERE m.ref_id = {ref})
    OR EXISTS (SELECT 1 FROM resolved_refs x WHERE x.ref_id = {ref}))"""
# A reference `status` counts: one that exists and is not a text mention.
_COUNTED_REF = "EXISTS (SELECT 1 FROM refs r WHERE r.id = {ref} AND r.kind != 'text_mention')"
# An orphan is a media file found as media in some drop that no link names.
_MEDIA_BLOB = (
    "EXISTS (SELECT 1 FROM blobs b WHERE b.digest = {digest} "
    "AND b.kind IN ('image', 'audio', 'video', 'document'))"
)
_MEDIA_OCCURRENCE = (
    "EXISTS (SELECT 1 FROM occurrences o WHERE o.digest = {digest} AND o.role = 'media')"
)
_LINKED = "EXISTS (SELECT 1 FROM matches l WHERE l.digest = {digest})"


def _bump(column: str, amount: str, when: str = "1") -> str:
    return f"UPDATE status_counts SET {column} = {column} + ({amount}) WHERE id = 1 AND ({when});"


def _status_counter_triggers() -> str:
    """Triggers that keep `status_counts` equal to the counts `status` used to take:
    each one adds what its row changes (a reference that starts or stops resolving, a
    file that becomes or stops being an orphan)."""
    new_ref, old_ref = "new.ref_id", "old.ref_id"
    return f"""
    CREATE TRIGGER status_blobs_in AFTER INSERT ON blobs BEGIN
        {_bump("blobs", "1")} {_bump("blob_bytes", "new.size")}
        {
        _bump(
            "orphans",
            "1",
            _MEDIA_OCCURRENCE.format(digest="new.digest")
            + " AND NOT "
            + _LINKED.format(digest="new.digest")
            + " AND new.kind IN ('image', 'audio', "
            "'video', 'document')",
        )
    }
    END;
    CREATE TRIGGER status_blobs_out AFTER DELETE ON blobs BEGIN
        {_bump("blobs", "-1")} {_bump("blob_bytes", "-old.size")}
        {
        _bump(
            "orphans",
            "-1",
            _MEDIA_OCCURRENCE.format(digest="old.digest")
            + " AND NOT "
            + _LINKED.format(digest="old.digest")
            + " AND old.kind IN ('image', 'audio', "
            "'video', 'document')",
        )
    }
    END;
    CREATE TRIGGER status_conversations_in AFTER INSERT ON conversations BEGIN
        {_bump("conversations", "1")} {_bump("messages", "new.message_count")}
    END;
    CREATE TRIGGER status_conversations_out AFTER DELETE ON conversations BEGIN
        {_bump("conversations", "-1")} {_bump("messages", "-old.message_count")}
    END;
    CREATE TRIGGER status_conversations_messages AFTER UPDATE OF message_count ON conversations
    BEGIN
        {_bump("messages", "new.message_count - old.message_count")}
    END;
    CREATE TRIGGER status_refs_in AFTER INSERT ON refs WHEN new.kind != 'text_mention' BEGIN
        {_bump("refs", "1")}
        {_bump("refs_resolved", "1", _RESOLVES.format(ref="new.id"))}
    END;
    CREATE TRIGGER status_refs_out AFTER DELETE ON refs WHEN old.kind != 'text_mention' BEGIN
        {_bump("refs", "-1")}
        {_bump("refs_resolved", "-1", _RESOLVES.format(ref="old.id"))}
    END;
    CREATE TRIGGER status_refs_kind AFTER UPDATE OF id, kind ON refs BEGIN
        {_bump("refs", "-1", "old.kind != 'text_mention'")}
        {
        _bump(
            "refs_resolved",
            "-1",
            "old.kind != 'text_mention' AND " + _RESOLVES.format(ref="old.id"),
        )
    }
        {_bump("refs", "1", "new.kind != 'text_mention'")}
        {
        _bump(
            "refs_resolved", "1", "new.kind != 'text_mention' AND " + _RESOLVES.format(ref="new.id")
        )
    }
    END;
    CREATE TRIGGER status_matches_in AFTER INSERT ON matches BEGIN
        {
        _bump(
            "refs_resolved",
            "1",
            f"{new_ref} IS NOT NULL AND "
            + _COUNTED_REF.format(ref=new_ref)
            + f" AND (SELECT COUNT(*) FROM matches c WHERE c.ref_id = {new_ref}) = 1"
            + f" AND NOT EXISTS (SELECT 1 FROM resolved_refs x WHERE x.ref_id = {new_ref})",
        )
    }
        {
        _bump(
            "orphans",
            "-1",
            "(SELECT COUNT(*) FROM matches c WHERE c.digest = new.digest) = 1 "
            "AND "
            + _MEDIA_BLOB.format(digest="new.digest")
            + " AND "
            + _MEDIA_OCCURRENCE.format(digest="new.digest"),
        )
    }
    END;
    CREATE TRIGGER status_matches_out AFTER DELETE ON matches BEGIN
        {
        _bump(
            "refs_resolved",
            "-1",
            f"{old_ref} IS NOT NULL AND "
            + _COUNTED_REF.format(ref=old_ref)
            + " AND NOT "
            + _RESOLVES.format(ref=old_ref),
        )
    }
        {
        _bump(
            "orphans",
            "1",
            "NOT "
            + _LINKED.format(digest="old.digest")
            + " AND "
            + _MEDIA_BLOB.format(digest="old.digest")
            + " AND "
            + _MEDIA_OCCURRENCE.format(digest="old.digest"),
        )
    }
    END;
    CREATE TRIGGER status_resolved_in AFTER INSERT ON resolved_refs BEGIN
        {
        _bump(
            "refs_resolved",
            "1",
            _COUNTED_REF.format(ref="new.ref_id")
            + " AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.ref_id = new.ref_id)",
        )
    }
    END;
    CREATE TRIGGER status_resolved_out AFTER DELETE ON resolved_refs BEGIN
        {
        _bump(
            "refs_resolved",
            "-1",
            _COUNTED_REF.format(ref="old.ref_id")
            + " AND NOT "
            + _RESOLVES.format(ref="old.ref_id"),
        )
    }
    END;
    CREATE TRIGGER status_occurrences_in AFTER INSERT ON occurrences WHEN new.role = 'media'
    BEGIN
        {
        _bump(
            "orphans",
            "1",
            "(SELECT COUNT(*) FROM occurrences c WHERE c.digest = new.digest "
            "AND c.role = 'media') = 1 AND "
            + _MEDIA_BLOB.format(digest="new.digest")
            + " AND NOT "
            + _LINKED.format(digest="new.digest"),
        )
    }
    END;
    CREATE TRIGGER status_occurrences_out AFTER DELETE ON occurrences WHEN old.role = 'media'
    BEGIN
        {
        _bump(
            "orphans",
            "-1",
            "NOT "
            + _MEDIA_OCCURRENCE.format(digest="old.digest")
            + " AND "
            + _MEDIA_BLOB.format(digest="old.digest")
            + " AND NOT "
            + _LINKED.format(digest="old.digest"),
        )
    }
    END;
    CREATE TRIGGER status_occurrences_role AFTER UPDATE OF role, digest ON occurrences
    WHEN old.role IS NOT new.role OR old.digest IS NOT new.digest BEGIN
        {
        _bump(
            "orphans",
            "-1",
            "old.role = 'media' AND NOT "
            + _MEDIA_OCCURRENCE.format(digest="old.digest")
            + " AND "
            + _MEDIA_BLOB.format(digest="old.digest")
            + " AND NOT "
            + _LINKED.format(digest="old.digest"),
        )
    }
        {
        _bump(
            "orphans",
            "1",
            "new.role = 'media' AND (SELECT COUNT(*) FROM occurrences c "
            "WHERE c.digest = new.digest AND c.role = 'media') = 1 AND "
            + _MEDIA_BLOB.format(digest="new.digest")
            + " AND NOT "
            + _LINKED.format(digest="new.digest"),
        )
    }
    END;
    """


@MIGRATIONS(name="0007_status_counters")
def _status_counters(db: sqlite_utils.Database) -> None:
    """One row of the counts `status` shows, kept by triggers as rows change, so a
    `status` of a 50,000-conversation index reads them instead of counting (the resolved
    references and the orphans took about 150 ms of it). Filled once from the tables."""
    run_statements(
        db,
        """
        CREATE TABLE status_counts (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            blobs INTEGER NOT NULL,
            blob_bytes INTEGER NOT NULL,
            conversations INTEGER NOT NULL,
            messages INTEGER NOT NULL,
            refs INTEGER NOT NULL,
            refs_resolved INTEGER NOT NULL,
            orphans INTEGER NOT NULL
        );
        """
        + _STATUS_FILL
        + _status_counter_triggers(),
    )


# The counts as `status` took them (mediasyncd.index.status), for the first fill.
_STATUS_FILL = (
    """
    INSERT INTO status_counts (id, blobs, blob_bytes, conversations, messages, refs,
                               refs_resolved, orphans)
    SELECT 1,
        (SELECT COUNT(*) FROM blobs),
        (SELECT COALESCE(SUM(size), 0) FROM blobs),
        (SELECT COUNT(*) FROM conversations),
        (SELECT COALESCE(SUM(message_count), 0) FROM conversations),
        (SELECT COUNT(*) FROM refs WHERE kind != 'text_mention'),
        (SELECT COUNT(*) FROM refs r WHERE r.kind != 'text_mention' AND """
    + _RESOLVES.format(ref="r.id")
    + """),
        (SELECT COUNT(*) FROM blobs b
         WHERE NOT EXISTS (SELECT 1 FROM matches m WHERE m.digest = b.digest)
         AND b.kind IN ('image', 'audio', 'video', 'document')
         AND EXISTS (SELECT 1 FROM occurrences o WHERE o.digest = b.digest AND o.role = 'media'));
"""
)


@MIGRATIONS(name="0008_source_aliases")
def _source_aliases(db: sqlite_utils.Database) -> None:
    """A drop byte-identical to one ingested before (a copy at another path) is recorded
    as an alias of it: `content` is its size and whole-file XXH3-128, `same_as` the
    source whose occurrences it shares (mediasyncd.index.aliases). An alias has no
    occurrences, keys or links of its own."""
    run_statements(
        db,
        """
        ALTER TABLE sources ADD COLUMN content TEXT;
        ALTER TABLE sources ADD COLUMN same_as INTEGER REFERENCES sources(id) ON DELETE SET NULL;
        CREATE INDEX sources_content ON sources(content) WHERE content IS NOT NULL;
        CREATE INDEX sources_same_as ON sources(same_as) WHERE same_as IS NOT NULL;
        """,
    )


@MIGRATIONS(name="0009_conversation_documents")
def _conversation_documents(db: sqlite_utils.Database) -> None:
    """Message text leaves the index (issue 18): each conversation's JSON is an object of
    its own (`conversations.document`, the XXH3-128 of its bytes, kept compressed), and
    the export reads the text from there. conversations.json is kept as a recipe of those
    objects; `document_parts` says which objects each recipe names, for gc (a part is
    referenced while a recipe names it) and its version policy.

    Text an older index held is moved to `message_text_legacy` until the conversation is
    read again with its document (the next ingest of an export holding it, or reindex):
    dropping it here would leave the export nothing to show."""
    conn = db.conn
    columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(conversations)")}
    if "document" not in columns:
        conn.execute("ALTER TABLE conversations ADD COLUMN document TEXT")
    run_statements(
        db,
        """
        CREATE INDEX IF NOT EXISTS conversations_document ON conversations(document)
            WHERE document IS NOT NULL;
        -- Keyed by the part: gc asks "does a recipe name this object?" for every
        -- unreferenced blob; "which parts has this recipe?" is asked only when a recipe
        -- goes, rarely enough for a scan (an index on it cost 0.7 MB a month).
        CREATE TABLE IF NOT EXISTS document_parts (
            -- One object a recipe (mediasyncd.store.documents) names, and the recipe.
            part TEXT NOT NULL,
            document TEXT NOT NULL,
            -- The conversation that object holds (NULL: not a readable conversation).
            conversation_id TEXT,
            PRIMARY KEY (part, document)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS message_text_legacy (
            conversation_id TEXT NOT NULL,
            id TEXT NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (conversation_id, id)
        ) WITHOUT ROWID;
        -- Documents gc dropped under gc.keep_document_versions: newer ones hold every
        -- conversation they held.
        CREATE TABLE IF NOT EXISTS superseded_documents (
            digest TEXT PRIMARY KEY,
            dropped TEXT NOT NULL
        ) WITHOUT ROWID;
        """,
    )
    columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(messages)")}
    if "text" in columns:
        conn.execute(
            """INSERT OR IGNORE INTO message_text_legacy (conversation_id, id, text)
               SELECT conversation_id, id, text FROM messages
               WHERE text IS NOT NULL AND text != ''"""
        )
        conn.execute("ALTER TABLE messages DROP COLUMN text")
