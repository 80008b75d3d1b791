"""One parameter-server exchange at a time, run on a background thread while the
worker's next local steps train (``exchange_overlap``, docs/design.md "Training
modes").

The worker's connection carries one request at a time: the loop starts an exchange
here, trains, then takes its result before it touches the connection again. The
wait for it is bounded by the client timeout (each socket wait inside has that
deadline too). An exchange's error is raised in the loop's thread when it takes the
result, so a server failure fails the task as a blocking exchange would. The thread
is a daemon: a task that fails while one is in flight ends without waiting for it
(the worker process is discarded after an ERROR).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from loxodon.ps_client import PSClient, PSError


class Background:
    """At most one exchange in flight on ``ps``, on a daemon thread.

    ``ps.wait_seconds`` then counts what the loop's thread waited for (joining the
    exchange), not the exchange's own socket time, which ran beside the steps; that
    time is kept in :attr:`io_seconds`."""

    def __init__(self, ps: PSClient, timeout: float) -> None:
        self._ps = ps
        self._timeout = timeout
        self._thread: threading.Thread | None = None
        self._result: Any = None
        self._error: BaseException | None = None
        self._io = 0.0
        self.io_seconds = 0.0

    @property
    def pending(self) -> bool:
        return self._thread is not None

    def start(self, exchange: Callable[[], Any]) -> None:
        if self._thread is not None:
            raise RuntimeError("an exchange is already in flight on this connection")
        self._result, self._error = None, None

        def run() -> None:
            before = self._ps.wait_seconds
            try:
                self._result = exchange()
            except BaseException as exc:  # re-raised in the loop's thread by result()
                self._error = exc
            finally:
                self._io = self._ps.wait_seconds - before

        self._thread = threading.Thread(target=run, name="loxodon-exchange", daemon=True)
        self._thread.start()

    def settle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the exchange in flight to finish, leaving its
        result to :meth:`result`; whether none is running now."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    def result(self) -> Any:
        """The exchange's result, waiting at most the client timeout for it."""
        thread = self._thread
        if thread is None:
            raise RuntimeError("no exchange in flight")
        started = time.perf_counter()
        thread.join(self._timeout)
        if thread.is_alive():
            raise PSError(f"an overlapped exchange did not finish within {self._timeout:g} s")
        blocked = time.perf_counter() - started
        self._thread = None
        # The thread's socket time ran beside the steps: count only the loop's wait.
        self._ps.wait_seconds += blocked - self._io
        self.io_seconds += self._io
        if self._error is not None:
            raise self._error
        return self._result
