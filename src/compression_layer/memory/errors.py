"""Errors of the memory store; each is also one of the package's base error types."""

from __future__ import annotations

from compression_layer.errors import CompressionLayerError, InputError


class MemoryStoreError(CompressionLayerError, RuntimeError):
    """The memory database cannot be used as asked (newer schema, closed store, ...)."""


class MemoryInputError(InputError):
    """A memory, namespace, tag, metadata value or query was rejected; nothing was stored."""


class MemoryNotFoundError(MemoryStoreError, LookupError):
    """No memory has the given id."""

    def __init__(self, memory_id: str) -> None:
        super().__init__(f"no memory with id {memory_id!r}")
        self.memory_id = memory_id


class MemoryDeletedError(MemoryNotFoundError):
    """The memory was soft-deleted: it is invisible to reads until restored or purged."""

    def __init__(self, memory_id: str, deleted_at: str, restorable_until: str | None) -> None:
        until = f", restorable until {restorable_until}" if restorable_until else ""
        MemoryStoreError.__init__(
            self,
            f"memory {memory_id!r} was deleted at {deleted_at}{until} (restore brings it back)",
        )
        self.memory_id = memory_id
        self.deleted_at = deleted_at
        self.restorable_until = restorable_until


class MemoryConflictError(MemoryStoreError):
    """An update or import would give a namespace two memories with the same content or id."""


class MemoryUnavailableError(MemoryStoreError):
    """The memory database cannot be reached right now (a Postgres server down or restarting).

    Retryable: nothing the call was writing was acknowledged, so sending the same call again once
    the database is back is safe (a store of the same content is deduplicated).
    """

    retryable = True
