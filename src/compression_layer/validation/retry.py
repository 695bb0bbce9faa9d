"""One retry policy for every provider, so the three SDKs behave alike.

The SDK clients are built with their own retries off (google-genai's ignore Retry-After, and none
of them knows the run's deadline). Here a failed attempt is retried when its error says another
try may help (429, 5xx, a timeout, a cut-off body): after the server's Retry-After when it sent
one, else after ``initial_delay_s * 2**n``. A Retry-After longer than ``retry_after_max_s``, or a
wait that would pass the deadline, ends the call at once with a message that says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from compression_layer.settings import ValidationSettings
from compression_layer.validation.errors import ProviderError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a retryable failure."""

    max_retries: int = 3
    initial_delay_s: float = 1.0
    retry_after_max_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: ValidationSettings) -> RetryPolicy:
        return cls(settings.max_retries, settings.retry_initial_delay_s, settings.retry_after_max_s)

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry`` (0-based) when the server named none."""
        return float(min(self.initial_delay_s * 2**retry, self.retry_after_max_s))


async def with_retries(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    deadline: float | None = None,
    errors: list[ProviderError] | None = None,
) -> T:
    """``await attempt()``, retried per ``policy``; ``deadline`` is in event-loop time.

    Every failed attempt is appended to ``errors`` (so a caller cut off by a deadline can say what
    the last attempt ran into). The error raised is the last attempt's, saying how many were made.
    """
    loop = asyncio.get_running_loop()
    retry = 0
    while True:
        try:
            return await attempt()
        except ProviderError as exc:
            if errors is not None:
                errors.append(exc)
            tries = "" if retry == 0 else f" (after {retry + 1} attempts)"
            if not exc.retryable:
                raise exc.with_detail(exc.detail + tries) from None
            if retry >= policy.max_retries:
                raise exc.with_detail(exc.detail + tries, retryable=False) from None
            asked = exc.retry_after
            if asked is not None and asked > policy.retry_after_max_s:
                raise exc.with_detail(
                    f"{exc.detail}{tries}; not retried: the server asked to wait {asked:g} s, "
                    f"longer than retry_after_max_s ({policy.retry_after_max_s:g} s)",
                    retryable=False,
                ) from None
            wait = asked if asked is not None else policy.backoff(retry)
            if deadline is not None and loop.time() + wait > deadline:
                raise exc.with_detail(
                    f"{exc.detail}{tries}; not retried: waiting {wait:g} s would pass the deadline",
                    retryable=False,
                ) from None
            await asyncio.sleep(wait)
            retry += 1
