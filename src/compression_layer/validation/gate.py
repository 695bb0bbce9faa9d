"""Per-provider concurrency and the give-up rule, with calls in flight counted and cancelled.

A provider that fails ``give_up_after`` calls in a row is given up for the rest of the run: its
calls in flight are cancelled and every later call is skipped at once. So that calls already in
flight cannot overshoot the rule (four hung calls each waiting out its own timeout), a provider
on probation (no answer yet this run, or its last call failed) may have at most
``give_up_after - failures`` calls in flight; one that is answering gets ``concurrency``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from compression_layer.validation.errors import ProviderError

T = TypeVar("T")


@dataclass
class Ticket:
    """One call's passage through the gate: whether it got a slot (was sent)."""

    started: bool = False


class ProviderGate:
    """Slots and failure count of one provider for one run (one event loop)."""

    def __init__(self, provider: str, concurrency: int, give_up_after: int) -> None:
        self.provider = provider
        self.concurrency = concurrency
        self.give_up_after = give_up_after
        self.failures = 0
        self.proven = False
        self.dead = False
        self.last_error: ProviderError | None = None
        self.active = 0
        self._in_flight: set[asyncio.Task[object]] = set()
        self._waiters: list[asyncio.Future[None]] = []

    def allowed(self) -> int:
        """Calls that may be in flight now."""
        if self.proven and self.failures == 0:
            return self.concurrency
        return max(1, min(self.concurrency, self.give_up_after - self.failures))

    def skipped(self, model: str) -> ProviderError:
        """The error of a call the gate will not send (or cancelled) after giving up."""
        last = f"; last: {self.last_error.detail}" if self.last_error else ""
        return ProviderError(
            self.provider,
            model,
            f"skipped: {self.provider} was given up after {self.give_up_after} failed calls in "
            f"a row{last}",
            reason="skipped",
        )

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def succeeded(self) -> None:
        self.failures = 0
        self.proven = True
        self._wake()

    def failed(self, error: ProviderError) -> None:
        """Count a failed call; at ``give_up_after`` in a row, cancel the rest in flight."""
        if error.reason == "skipped" or self.dead:
            return
        self.failures += 1
        self.last_error = error
        if self.failures >= self.give_up_after:
            self.dead = True
            for task in list(self._in_flight):
                task.cancel()
        self._wake()

    async def _acquire(self, model: str) -> None:
        loop = asyncio.get_running_loop()
        while not self.dead and self.active >= self.allowed():
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                self._waiters.remove(waiter)
        if self.dead:
            raise self.skipped(model)
        self.active += 1

    async def run(self, model: str, attempt: Callable[[], Awaitable[T]], ticket: Ticket) -> T:
        """Run ``attempt`` in a slot; count its outcome; raise ``skipped`` once given up."""
        await self._acquire(model)
        ticket.started = True
        task: asyncio.Task[T] = asyncio.ensure_future(attempt())
        self._in_flight.add(task)  # type: ignore[arg-type]
        try:
            result = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            outer = current is not None and current.cancelling() > 0
            if task.cancelled() and self.dead and not outer:
                raise self.skipped(model) from None
            raise
        except ProviderError as exc:
            self.failed(exc)
            raise
        finally:
            self._in_flight.discard(task)  # type: ignore[arg-type]
            self.active -= 1
            self._wake()
        self.succeeded()
        return result
