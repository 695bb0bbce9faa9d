"""``PostgresMemoryStore``: what ``MemoryStore.open`` yields for a ``postgresql://`` URL.

It is ``MemoryStore`` itself (the one facade, ``memory/store.py``) over ``PgBackend``
(``memory/postgres/backend.py``), with the backend's pool and vectors at hand; it lives beside
``MemoryStore`` and is named here for the callers that import it from this module.
"""

from compression_layer.memory.store import PostgresMemoryStore

__all__ = ["PostgresMemoryStore"]
