"""Starting and stopping the broker: in this event loop (`runbroker`) or in a thread (tests, benchmarks)."""

import asyncio
import concurrent.futures
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from cloudsignal.broker import tls
from cloudsignal.broker.broker import CloudSignalBroker
from cloudsignal.broker.config import BrokerOptions
from cloudsignal.listen import bind_tcp

T = TypeVar("T")


def run[R](main: Coroutine[Any, Any, R]) -> R:
    """Run the broker's event loop: uvloop where it is installed (a dependency on Linux and macOS;
    in the benchmark it roughly halves the loop's own overhead per message), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def event_loop_name() -> str:
    """What `run` runs on, for the start-up log."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


async def start_broker(options: BrokerOptions) -> CloudSignalBroker:
    """A started broker. Raises CommandError naming the variable when a port is taken."""
    sockets: dict[str, socket.socket] = {}
    try:
        for listener in options.listeners:
            sockets[listener.name] = bind_tcp(listener.host, listener.port, listener.port_variable)
        broker = CloudSignalBroker(options, sockets, tls.context_for(options))
        await broker.start()
    except BaseException:
        for sock in sockets.values():
            sock.close()
        raise
    return broker


class BrokerThread:
    """A broker running in its own thread and event loop, for tests and benchmarks.

    with BrokerThread(options) as broker:
        port = broker.ports["mqtt"]
    """

    def __init__(self, options: BrokerOptions) -> None:
        self.options = options
        self.broker: CloudSignalBroker | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="broker", daemon=True)

    @property
    def ports(self) -> dict[str, int]:
        assert self.broker is not None
        return self.broker.ports

    def start(self, timeout: float = 30) -> "BrokerThread":
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the broker did not start")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout: float = 30) -> None:
        # Idempotent: a test may stop the broker itself before its fixture does.
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the broker's loop and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> "concurrent.futures.Future[T]":
        """Start a coroutine on the broker's loop without waiting for it."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def __enter__(self) -> "BrokerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            self.broker = await start_broker(self.options)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await self.broker.shutdown()
