"""Agent memory: memories stored compressed for injection, originals kept, hybrid search.

>>> async with MemoryStore.open() as store:
...     await store.store("The deploy key rotates every 90 days.", tags=["ops"])
...     hits = await store.search("when does the key rotate?", k=5, max_tokens=400)
"""

from compression_layer.memory.errors import (
    MemoryConflictError,
    MemoryDeletedError,
    MemoryInputError,
    MemoryNotFoundError,
    MemoryStoreError,
)
from compression_layer.memory.filters import MemoryFilter
from compression_layer.memory.store import MemoryStore, default_db_path
from compression_layer.memory.types import (
    HistoryEntry,
    Memory,
    MemoryPage,
    NamespaceCount,
    ScopeCount,
    SearchHit,
    StoreStats,
)

__all__ = [
    "HistoryEntry",
    "Memory",
    "MemoryConflictError",
    "MemoryDeletedError",
    "MemoryFilter",
    "MemoryInputError",
    "MemoryNotFoundError",
    "MemoryPage",
    "MemoryStore",
    "MemoryStoreError",
    "NamespaceCount",
    "ScopeCount",
    "SearchHit",
    "StoreStats",
    "default_db_path",
]
