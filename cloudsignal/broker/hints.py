"""Receiving hints: the broker's end of clients/hints.py, a unix socket in the data dir, one JSON line
each way. What a hint sets off is in revocation.py.

Requests, and the answers the sender waits up to 2 s for:

    {"op": "credentials-changed", "ids": [client pks]}   -> {"ended": n}
    {"op": "disconnect-session", "session": LiveSession pk} -> {"ended": 0 or 1}
    {"op": "rules-changed", "workspaces": [workspace pks]}  -> {"ended": 0}
    {"op": "throttles", "organization": uuid, "username": name or null}
        -> {"throttles": [{"username": name or null, "address": ..., "failures": n, "seconds_left": s}]}
    {"op": "clear-throttle", "organization": uuid, "username": name or null, "address": ... or null}
        -> {"cleared": n}

Anything else gets {"error": "..."}. The socket is 0600: only the service's own user (the dashboard
and `manage.py` commands) can reach it.
"""

import asyncio
import dataclasses
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from cloudsignal.broker.revocation import Revoker
from cloudsignal.broker.throttle import Throttle

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1024 * 1024
READ_TIMEOUT_SECONDS = 5


class HintReceiver:
    def __init__(
        self,
        path: Path,
        revoker: Revoker,
        rules_changed: Callable[[list[int]], Awaitable[None]],
        throttle: Throttle,
    ) -> None:
        self.path = path
        self.revoker = revoker
        self.rules_changed = rules_changed
        self.throttle = throttle
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        _claim(self.path)
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=MAX_REQUEST_BYTES
            )
        finally:
            os.umask(old_umask)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self.path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_SECONDS)
            reply = await self.handle(json.loads(line))
        except (ValueError, TypeError, KeyError) as exc:
            reply = {"error": f"bad request: {exc}"}
        except Exception as exc:
            log.warning("control request failed", exc_info=True)
            reply = {"error": str(exc)}
        try:
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        except OSError:
            pass

    async def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        if op == "credentials-changed":
            ended = await self.revoker.credentials_changed(int(i) for i in message["ids"])
            return {"ended": ended}
        if op == "disconnect-session":
            return {"ended": await self.revoker.disconnect(int(message["session"]))}
        if op == "rules-changed":
            await self.rules_changed([int(w) for w in message["workspaces"]])
            return {"ended": 0}
        if op == "throttles":
            entries = self.throttle.entries(uuid.UUID(message["organization"]), message.get("username"))
            return {"throttles": [dataclasses.asdict(e) for e in entries]}
        if op == "clear-throttle":
            cleared = self.throttle.clear(
                uuid.UUID(message["organization"]),
                name=message.get("username"),
                address=message.get("address"),
            )
            return {"cleared": cleared}
        return {"error": f"unknown op {op!r}"}


def _claim(path: Path) -> None:
    """Remove a socket file left by a broker that died, refusing if a live broker still answers there."""
    if not path.exists():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink(missing_ok=True)
        return
    finally:
        probe.close()
    raise CommandError(
        f"Another broker is already running with control socket {path}. Stop it first, or give this one "
        "its own data dir (CLOUDSIGNAL_DATA_DIR) or socket (CLOUDSIGNAL_BROKER_SOCKET)."
    )
