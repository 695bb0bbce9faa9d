"""The Postgres + pgvector backend of the memory store (``memory.db_url: postgresql://...``).

Import ``PostgresMemoryStore`` from ``memory.postgres.store``; this package's root stays light
(``urls`` only) so that telling a URL from a path loads no driver.
"""

from compression_layer.memory.postgres.urls import is_postgres_url, redact_url

__all__ = ["is_postgres_url", "redact_url"]
