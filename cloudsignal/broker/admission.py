"""Keeping floods from starving logins: caps per source address, and a bounded login queue.

Stock amqtt (and our first version) verified every CONNECT in an unbounded queue, even for clients
that had hung up: 1,600 CONNECT-then-close made a valid login from another address wait 8 s. Here:

- `Unauthenticated`: sockets from one address that have not finished logging in (no CONNECT yet, or
  waiting for their verdict) are capped, so idle or slow sockets from one address cannot take every
  connection slot. A socket over the cap is closed at once, before it takes a slot.
- `LoginQueue`: at most `max_waiting` logins wait for an argon2 thread, at most `per_address` of them
  from one address; a login over either cap is refused at once (CONNACK 3, "server unavailable").
  Addresses take turns, so a valid login waits for the logins already running, not for a flood.
  When a login's turn comes and its client has already hung up, it is dropped without any work.
"""

import asyncio
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from typing import Any, TypeVar

from amqtt.adapters import ReaderAdapter, WriterAdapter
from websockets.protocol import State

from cloudsignal.broker.blocking import ThreadPool

T = TypeVar("T")


class Unauthenticated:
    """Sockets per source address that have not logged in yet."""

    def __init__(self, per_address: int) -> None:
        self.per_address = per_address
        self.counts: Counter[str] = Counter()

    def enter(self, address: str) -> "Ticket | None":
        """A ticket to hold until the login is decided, or None when the address is at its cap."""
        if self.counts[address] >= self.per_address:
            return None
        self.counts[address] += 1
        return Ticket(self, address)

    def _leave(self, address: str) -> None:
        self.counts[address] -= 1
        if self.counts[address] <= 0:
            del self.counts[address]


class Ticket:
    def __init__(self, owner: Unauthenticated, address: str) -> None:
        self._owner: Unauthenticated | None = owner
        self.address = address

    def leave(self) -> None:
        """Logged in, refused or gone: no longer counts. Idempotent."""
        if self._owner is not None:
            self._owner._leave(self.address)
            self._owner = None


class QueueFull(Exception):
    pass


class HungUp(Exception):
    pass


class LoginQueue:
    """Logins waiting for an argon2 thread, served in turn by source address (round robin), so a
    flood from one address delays a login from another by at most the logins already running."""

    def __init__(self, pool: ThreadPool, threads: int, *, max_waiting: int, per_address: int) -> None:
        self._pool = pool
        self._free = threads
        self._turns: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()
        self.max_waiting = max_waiting
        self.per_address = per_address
        self.waiting: Counter[str] = Counter()
        # Logins run, and dropped because their client had gone (for tests and the benchmark).
        self.ran = 0
        self.dropped = 0

    async def run(self, address: str, gone: Callable[[], bool], fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` in the pool when this address's turn comes. Raises QueueFull at once when the queue
        or this address's share of it is full, and HungUp if the client went before its turn."""
        if self.waiting.total() >= self.max_waiting or self.waiting[address] >= self.per_address:
            raise QueueFull
        self.waiting[address] += 1
        try:
            await self._turn(address)
            try:
                if gone():
                    self.dropped += 1
                    raise HungUp
                self.ran += 1
                return await self._pool.run(fn, *args)
            finally:
                self._release()
        finally:
            self.waiting[address] -= 1
            if self.waiting[address] <= 0:
                del self.waiting[address]

    async def _turn(self, address: str) -> None:
        if self._free > 0 and not self._turns:
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._turns.setdefault(address, deque()).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # handed a thread just as it was cancelled: pass it on
            elif (queue := self._turns.get(address)) is not None and turn in queue:
                queue.remove(turn)
                if not queue:
                    del self._turns[address]
            raise

    def _release(self) -> None:
        """A thread is free: give it to the first waiting address, which then goes to the back."""
        while self._turns:
            address, queue = next(iter(self._turns.items()))
            turn = queue.popleft()
            if queue:
                self._turns.move_to_end(address)
            else:
                del self._turns[address]
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1


def hung_up(reader: ReaderAdapter, writer: WriterAdapter) -> bool:
    """Has the peer closed its side? (Reads amqtt's adapter internals: see docs/amqtt-seam.md.)"""
    stream = getattr(reader, "_reader", None)
    if isinstance(stream, asyncio.StreamReader) and stream.at_eof():
        return True
    transport = getattr(getattr(writer, "_writer", None), "transport", None)
    if transport is not None and transport.is_closing():
        return True
    protocol = getattr(reader, "_protocol", None)
    return protocol is not None and getattr(protocol, "state", None) in (State.CLOSING, State.CLOSED)
