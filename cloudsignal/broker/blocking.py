"""Running blocking work (database queries, argon2) in threads, never on the broker's event loop.

A blocking call on the loop freezes every connection: an argon2 verify there stalled other clients'
traffic by ~0.7 s during a login burst. Each pool's threads keep their own Django connection; it is
checked before each job and dropped after a database error, so a database that went away and came
back is reconnected instead of failing forever.
"""

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django import db

T = TypeVar("T")


class ThreadPool:
    def __init__(self, threads: int, name: str, *, nice: int = 0) -> None:
        """`nice`: how much lower than the event loop these threads run, where the system allows it
        (Linux schedules each thread on its own). Argon2 threads run lower, so the loop, which serves
        every connected device, keeps a core while a fleet reconnects."""
        self._threads = threads
        self._executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix=name, initializer=_lower_priority, initargs=(nice,)
        )

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, _with_fresh_connection, fn, args
        )

    def shutdown(self) -> None:
        # Django connections belong to the thread that opened them: each worker closes its own. The
        # barrier makes the jobs land on distinct threads (a test database cannot be dropped while
        # a forgotten connection still holds it).
        barrier = threading.Barrier(self._threads)

        def close_own() -> None:
            db.connections.close_all()
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=5)

        for _ in range(self._threads):
            self._executor.submit(close_own)
        self._executor.shutdown(wait=True)


def _with_fresh_connection[R](fn: Callable[..., R], args: tuple[Any, ...]) -> R:
    db.close_old_connections()
    try:
        return fn(*args)
    except db.Error:
        # The connection may be broken; the next job opens a new one.
        db.connections.close_all()
        raise
    finally:
        # Kept open for the thread's next job whatever CONN_MAX_AGE says (that is for web requests):
        # reconnecting per job cost every warm login a connection. Broken ones still close above.
        for connection in db.connections.all(initialized_only=True):
            connection.close_at = None


def _lower_priority(nice: int) -> None:
    if nice and hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
