"""Subprocess for the reliability tests: stores batches forever (or N) and prints acked ids.

Usage: python memory_writer.py DB PREFIX BATCH [BATCHES]. Each line printed after a batch
commits is ``ACK <index> <id>`` per memory; content of memory i is ``content_for(prefix, i)``.
"""

from __future__ import annotations

import asyncio
import sys

from compression_layer.memory import MemoryStore
from compression_layer.settings import MemorySettings
from memory_fakes import FakeCompressor, FakeEmbedder


def content_for(prefix: str, i: int) -> str:
    return f"{prefix} memory {i}: the value of item {i} is {i * 7} and its label is L{i % 13}"


async def main(db: str, prefix: str, batch: int, batches: int | None) -> None:
    settings = MemorySettings(near_duplicate_policy="keep", busy_timeout_ms=30_000)
    async with MemoryStore.open(
        db, settings=settings, compressor=FakeCompressor(), embedder=FakeEmbedder()
    ) as store:
        print("READY", flush=True)
        i = 0
        done = 0
        while batches is None or done < batches:
            items = [
                {
                    "content": content_for(prefix, j),
                    "tags": [prefix, f"t{j % 3}"],
                    "metadata": {"i": j, "prefix": prefix},
                }
                for j in range(i, i + batch)
            ]
            stored = await store.store_many(items, namespace=prefix)
            acks = zip(range(i, i + batch), stored, strict=True)
            sys.stdout.write("".join(f"ACK {j} {m.id}\n" for j, m in acks))
            sys.stdout.flush()
            i += batch
            done += 1


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0], args[1], int(args[2]), int(args[3]) if len(args) > 3 else None))
