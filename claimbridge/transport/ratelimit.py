"""A client-side token bucket, so we stay under a vendor's published rate limit.

Hitting a vendor's limit costs a 429 and a ``Retry-After`` wait; spacing our own requests is
cheaper. The bucket is shared by every thread that uses one client, so it is locked; the sleep
happens outside the lock so a waiting thread does not block others from reserving their turn.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """Allow ``rate`` acquisitions per second on average, with bursts of up to ``burst``.

    ``acquire()`` reserves a token at once (the balance may go negative) and then sleeps until
    that token would have been earned. Reserving first keeps callers in arrival order.
    ``clock`` and ``sleep`` are injectable so tests can run on a fake clock.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError("rate must be a positive number of requests per second")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = float(rate)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = clock()

    def acquire(self) -> float:
        """Take one token, sleeping until it is available. Returns the seconds waited."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
            self._updated = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait
