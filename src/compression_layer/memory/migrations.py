"""Append-only, numbered schema migrations for the memory database.

Rules: never edit or reorder a released migration; add a new one at the end. Each migration runs
in its own ``BEGIN IMMEDIATE`` transaction together with the bump of ``PRAGMA user_version``, so a
crash mid-migration leaves the previous version intact and the next open simply retries it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiosqlite

# Memories keep an INTEGER rowid (``pk``) so the FTS5 external-content table can point at it, and
# a random text ``id`` that callers see: it stays stable across export/import into another file.
# Embeddings are keyed by the sha256 of the embedded text and the model name, so unchanged text is
# never embedded twice, even across namespaces.
_V1 = """
CREATE TABLE embeddings (
    text_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (text_hash, model)
);

CREATE TABLE memories (
    pk INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    namespace TEXT NOT NULL,
    content TEXT NOT NULL,
    compressed TEXT NOT NULL,
    engine TEXT NOT NULL,
    adapter TEXT,
    domain TEXT NOT NULL,
    tokens_original INTEGER NOT NULL,
    tokens_compressed INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    embed_hash TEXT NOT NULL,
    embed_model TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (namespace, content_hash),
    FOREIGN KEY (embed_hash, embed_model) REFERENCES embeddings (text_hash, model)
);

CREATE INDEX memories_embed ON memories (embed_hash, embed_model);

CREATE TABLE memory_tags (
    memory_pk INTEGER NOT NULL REFERENCES memories (pk) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (memory_pk, tag)
) WITHOUT ROWID;

CREATE INDEX memory_tags_tag ON memory_tags (tag, memory_pk);

CREATE VIRTUAL TABLE memories_fts USING fts5(
    content, tags, content='memories', content_rowid='pk', tokenize='porter unicode61'
);

CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, content, tags) VALUES (new.pk, new.content, new.tags);
END;

CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, content, tags)
    VALUES ('delete', old.pk, old.content, old.tags);
END;

CREATE TRIGGER memories_au AFTER UPDATE OF content, tags ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, content, tags)
    VALUES ('delete', old.pk, old.content, old.tags);
    INSERT INTO memories_fts (rowid, content, tags) VALUES (new.pk, new.content, new.tags);
END;
"""

# v2: BM25 filtered by namespace inside FTS5. Joining every match to ``memories`` to test its
# namespace cost more than the BM25 scoring itself at 100k memories. The namespace becomes one
# FTS token ('n' + hex of its UTF-8 bytes: a single alphanumeric token whatever the namespace
# holds), so ``ns_token : "n..." AND (...)`` is answered from the index alone.
_V2 = """
ALTER TABLE memories ADD COLUMN ns_token TEXT GENERATED ALWAYS AS ('n' || hex(namespace)) VIRTUAL;
DROP TRIGGER memories_ai;
DROP TRIGGER memories_ad;
DROP TRIGGER memories_au;
DROP TABLE memories_fts;

CREATE VIRTUAL TABLE memories_fts USING fts5(
    content, tags, ns_token, content='memories', content_rowid='pk', tokenize='porter unicode61'
);
INSERT INTO memories_fts (memories_fts) VALUES ('rebuild');

CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, content, tags, ns_token)
    VALUES (new.pk, new.content, new.tags, new.ns_token);
END;

CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, content, tags, ns_token)
    VALUES ('delete', old.pk, old.content, old.tags, old.ns_token);
END;

CREATE TRIGGER memories_au AFTER UPDATE OF content, tags, namespace ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, content, tags, ns_token)
    VALUES ('delete', old.pk, old.content, old.tags, old.ns_token);
    INSERT INTO memories_fts (rowid, content, tags, ns_token)
    VALUES (new.pk, new.content, new.tags, new.ns_token);
END;
"""

# v3: a tag filter answered from one index. ``memory_tags`` gains the namespace, so the memories
# of a namespace that carry a tag are one range of its primary key (namespace, tag, memory_pk):
# no memory row is read to filter (v1 joined every memory of the namespace to its tags). Rebuilt
# from ``memories.tags``, the JSON column that stays the source of what a memory carries.
_V3 = """
CREATE TABLE memory_tags_v3 (
    namespace TEXT NOT NULL,
    tag TEXT NOT NULL,
    memory_pk INTEGER NOT NULL REFERENCES memories (pk) ON DELETE CASCADE,
    PRIMARY KEY (namespace, tag, memory_pk)
) WITHOUT ROWID;
INSERT OR IGNORE INTO memory_tags_v3 (namespace, tag, memory_pk)
SELECT m.namespace, j.value, m.pk FROM memories m, json_each(m.tags) j WHERE j.type = 'text';
DROP TABLE memory_tags;
ALTER TABLE memory_tags_v3 RENAME TO memory_tags;
CREATE INDEX memory_tags_memory ON memory_tags (memory_pk);
"""

# v4: scopes, soft deletes, history and a metadata index.
# - ``user_id``, ``agent_id``, ``run_id`` beside the namespace (NULL on existing rows) and
#   ``deleted_at`` (a soft delete; purged later). Content is unique per (namespace, scope) among
#   live memories, which needs a new table: SQLite cannot drop the v1 UNIQUE constraint. The
#   rows keep their pks (FTS rowids, tag and vector keys) and the AUTOINCREMENT high-water mark.
# - ``ns_token`` (FTS5, weight 0) carries, besides the namespace token of v2, one token for the
#   exact scope ('s') and one per scope part ('u', 'a', 'r'), so a scoped BM25 search is still
#   answered from the index (``filters.fts_scope_match``). Those end in 'z0': no Porter suffix,
#   so no two of them stem alike. Deleted rows leave the FTS index (triggers), so BM25 never
#   returns them.
# - ``memory_meta``: one row per scalar of a memory's metadata (``filters.meta_entries``), for
#   indexed metadata filters; filled from the existing rows by ``_fill_meta`` below.
# - ``memory_history``: one row per change (create, update, merge, delete, restore, import),
#   with old and new values; existing memories get their 'create' at created_at.
_V4 = """
DROP TRIGGER memories_ai;
DROP TRIGGER memories_ad;
DROP TRIGGER memories_au;
DROP TABLE memories_fts;

CREATE TABLE memories_v4 (
    pk INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    namespace TEXT NOT NULL,
    user_id TEXT,
    agent_id TEXT,
    run_id TEXT,
    content TEXT NOT NULL,
    compressed TEXT NOT NULL,
    engine TEXT NOT NULL,
    adapter TEXT,
    domain TEXT NOT NULL,
    tokens_original INTEGER NOT NULL,
    tokens_compressed INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    embed_hash TEXT NOT NULL,
    embed_model TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT,
    ns_token TEXT GENERATED ALWAYS AS (
        'n' || hex(namespace)
        || ' s' || hex(namespace || char(31) || ifnull(user_id, '') || char(31)
            || ifnull(agent_id, '') || char(31) || ifnull(run_id, '')) || 'z0'
        || CASE WHEN user_id IS NULL THEN ''
            ELSE ' u' || hex(namespace || char(31) || user_id) || 'z0' END
        || CASE WHEN agent_id IS NULL THEN ''
            ELSE ' a' || hex(namespace || char(31) || agent_id) || 'z0' END
        || CASE WHEN run_id IS NULL THEN ''
            ELSE ' r' || hex(namespace || char(31) || run_id) || 'z0' END
    ) VIRTUAL,
    FOREIGN KEY (embed_hash, embed_model) REFERENCES embeddings (text_hash, model)
);
INSERT INTO memories_v4 (pk, id, namespace, content, compressed, engine, adapter, domain,
    tokens_original, tokens_compressed, content_hash, embed_hash, embed_model, tags, metadata,
    created_at, updated_at)
SELECT pk, id, namespace, content, compressed, engine, adapter, domain, tokens_original,
    tokens_compressed, content_hash, embed_hash, embed_model, tags, metadata, created_at,
    updated_at FROM memories ORDER BY pk;
UPDATE sqlite_sequence SET seq = max(seq, ifnull(
    (SELECT seq FROM sqlite_sequence WHERE name = 'memories'), 0)) WHERE name = 'memories_v4';

CREATE TABLE memory_tags_v4 (
    namespace TEXT NOT NULL,
    tag TEXT NOT NULL,
    memory_pk INTEGER NOT NULL REFERENCES memories_v4 (pk) ON DELETE CASCADE,
    PRIMARY KEY (namespace, tag, memory_pk)
) WITHOUT ROWID;
INSERT INTO memory_tags_v4 (namespace, tag, memory_pk)
SELECT namespace, tag, memory_pk FROM memory_tags WHERE memory_pk IN (SELECT pk FROM memories_v4);
DROP TABLE memory_tags;
DROP TABLE memories;
ALTER TABLE memories_v4 RENAME TO memories;
ALTER TABLE memory_tags_v4 RENAME TO memory_tags;
CREATE INDEX memory_tags_memory ON memory_tags (memory_pk);

CREATE INDEX memories_embed ON memories (embed_hash, embed_model);
CREATE INDEX memories_scope ON memories (namespace, user_id, agent_id, run_id, deleted_at);
CREATE UNIQUE INDEX memories_live_content ON memories (
    namespace, ifnull(user_id, ''), ifnull(agent_id, ''), ifnull(run_id, ''), content_hash
) WHERE deleted_at IS NULL;
CREATE INDEX memories_deleted ON memories (deleted_at) WHERE deleted_at IS NOT NULL;

CREATE VIRTUAL TABLE memories_fts USING fts5(
    content, tags, ns_token, content='memories', content_rowid='pk', tokenize='porter unicode61'
);
INSERT INTO memories_fts (memories_fts) VALUES ('rebuild');

CREATE TRIGGER memories_ai AFTER INSERT ON memories WHEN new.deleted_at IS NULL BEGIN
    INSERT INTO memories_fts (rowid, content, tags, ns_token)
    VALUES (new.pk, new.content, new.tags, new.ns_token);
END;

CREATE TRIGGER memories_ad AFTER DELETE ON memories WHEN old.deleted_at IS NULL BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, content, tags, ns_token)
    VALUES ('delete', old.pk, old.content, old.tags, old.ns_token);
END;

CREATE TRIGGER memories_au AFTER UPDATE OF content, tags, namespace, user_id, agent_id, run_id,
    deleted_at ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, content, tags, ns_token)
    SELECT 'delete', old.pk, old.content, old.tags, old.ns_token WHERE old.deleted_at IS NULL;
    INSERT INTO memories_fts (rowid, content, tags, ns_token)
    SELECT new.pk, new.content, new.tags, new.ns_token WHERE new.deleted_at IS NULL;
END;

CREATE TABLE memory_meta (
    memory_pk INTEGER NOT NULL REFERENCES memories (pk) ON DELETE CASCADE,
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    num REAL,
    text TEXT
);
CREATE INDEX memory_meta_num ON memory_meta (namespace, key, kind, num);
CREATE INDEX memory_meta_text ON memory_meta (namespace, key, kind, text);
CREATE INDEX memory_meta_memory ON memory_meta (memory_pk);

CREATE TABLE memory_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    memory_id TEXT NOT NULL,
    action TEXT NOT NULL,
    changes TEXT NOT NULL DEFAULT '{}',
    actor TEXT,
    at TEXT NOT NULL
);
CREATE INDEX memory_history_memory ON memory_history (memory_id, seq);
INSERT INTO memory_history (memory_id, action, at)
SELECT id, 'create', created_at FROM memories ORDER BY pk;
"""


async def _fill_meta(conn: aiosqlite.Connection) -> None:
    """v4: index the metadata of the memories already stored (see ``filters.meta_entries``)."""
    from compression_layer.memory.filters import meta_entries

    async with conn.execute("SELECT pk, namespace, metadata FROM memories") as cur:
        rows = list(await cur.fetchall())
    await conn.executemany(
        "INSERT INTO memory_meta (memory_pk, namespace, key, kind, num, text) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(pk, ns, *entry) for pk, ns, meta in rows for entry in meta_entries(meta)],
    )


MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4)
"""Migration ``i`` (0-based) brings the schema from ``user_version`` i to i + 1."""

# Steps in Python that run after a migration's SQL, in its transaction, by 0-based index.
AFTER: dict[int, Callable[[aiosqlite.Connection], Awaitable[None]]] = {3: _fill_meta}

SCHEMA_VERSION = len(MIGRATIONS)


async def migrate(conn: aiosqlite.Connection) -> int:
    """Apply every pending migration; returns the schema version now in force.

    The connection must be in autocommit mode (``isolation_level=None``). A database written by a
    newer version of this package (higher ``user_version``) is refused rather than guessed at.
    """
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    current = int(row[0]) if row else 0
    if current > SCHEMA_VERSION:
        from compression_layer.memory.errors import MemoryStoreError

        raise MemoryStoreError(
            f"the memory database has schema version {current}, newer than this package's "
            f"{SCHEMA_VERSION}; upgrade compression-layer to open it"
        )
    for version in range(current, SCHEMA_VERSION):
        await conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            async with conn.execute("PRAGMA user_version") as cur:
                row = await cur.fetchone()
            if row and int(row[0]) > version:
                await conn.execute("COMMIT")
                continue
            for statement in _split(MIGRATIONS[version]):
                await conn.execute(statement)
            if version in AFTER:
                await AFTER[version](conn)
            await conn.execute(f"PRAGMA user_version = {version + 1}")
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION


def _split(script: str) -> list[str]:
    """Split a migration into statements; trigger bodies hold ``;`` so split on ``END;`` too.

    ``executescript`` would be simpler but it commits implicitly, which would break the
    one-transaction-per-migration guarantee.
    """
    statements: list[str] = []
    buf: list[str] = []
    in_trigger = False
    for line in script.splitlines():
        if not line.strip():
            continue
        buf.append(line)
        stripped = line.strip().upper()
        if stripped.startswith("CREATE TRIGGER"):
            in_trigger = True
        if (in_trigger and stripped == "END;") or (not in_trigger and stripped.endswith(";")):
            statements.append("\n".join(buf))
            buf = []
            in_trigger = False
    if buf:
        statements.append("\n".join(buf))
    return statements
