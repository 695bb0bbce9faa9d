"""Append-only, numbered schema migrations for the memory database.

Rules: never edit or reorder a released migration; add a new one at the end. Each migration runs
in its own ``BEGIN IMMEDIATE`` transaction together with the bump of ``PRAGMA user_version``, so a
crash mid-migration leaves the previous version intact and the next open simply retries it.
"""

from __future__ import annotations

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

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)
"""Migration ``i`` (0-based) brings the schema from ``user_version`` i to i + 1."""

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
