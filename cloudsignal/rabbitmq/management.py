"""RabbitMQ's management API, as CloudSignal uses it. Every node answers for the whole cluster, so a
call goes to the first node that answers (the one that answered last is tried first).

Two kinds of answers, with different freshness:
- per username (`/api/connections/username/...`) comes from RabbitMQ's connection tracking, current
  on every node: what revocation counts and closes;
- the full connection listing comes from the statistics database, up to a few seconds late: good
  enough for the Sessions page, never for revocation.
"""

import base64
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 2.0


class Unreachable(Exception):
    """No node of the cluster answered."""


class Management:
    def __init__(self, urls: Sequence[str], user: str, password: str) -> None:
        if not urls:
            raise ValueError("at least one management URL is needed")
        self._urls = [u.rstrip("/") for u in urls]
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {pair}", "Content-Type": "application/json"}
        self._lock = threading.Lock()

    def call(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """(status, decoded JSON or None) from the first node that answers; Unreachable if none."""
        data = None if body is None else json.dumps(body).encode()
        with self._lock:
            urls = list(self._urls)
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"not an HTTP URL: {url}")
            # Checked just above: http(s) only.
            request = urllib.request.Request(url + path, data=data, method=method, headers=self._headers)  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
                    status, text = response.status, response.read()
            except urllib.error.HTTPError as exc:
                status, text = exc.code, b""
                if status >= 500:  # a node shutting down or not yet booted: ask another one
                    log.debug("RabbitMQ at %s answered %s for %s %s", url, status, method, path)
                    continue
            except (OSError, urllib.error.URLError) as exc:
                log.debug("RabbitMQ at %s not reached for %s %s (%s)", url, method, path, exc)
                continue
            with self._lock:
                self._urls.remove(url)
                self._urls.insert(0, url)
            return status, json.loads(text) if text else None
        raise Unreachable(f"no RabbitMQ node answered {method} {path}")

    def close_user(self, username: str) -> int:
        """Close every connection of `username` on every node; how many there were."""
        path = "/api/connections/username/" + quote(username)
        _, found = self.call("GET", path)
        count = len(found) if isinstance(found, list) else 0
        self.call("DELETE", path)
        return count

    def connections(self) -> list[dict[str, Any]]:
        """Every connection in the cluster (the statistics: a few seconds late)."""
        columns = "name,user,vhost,node,peer_host,peer_port,connected_at,protocol,ssl,client_properties"
        _, found = self.call("GET", f"/api/connections?columns={columns}")
        return found if isinstance(found, list) else []

    def close_connection(self, name: str) -> bool:
        status, _ = self.call("DELETE", "/api/connections/" + quote(name))
        return status in (200, 204)

    def vhosts(self) -> list[str]:
        _, found = self.call("GET", "/api/vhosts?columns=name")
        return [v["name"] for v in found] if isinstance(found, list) else []

    def add_vhost(self, name: str) -> None:
        self.call("PUT", "/api/vhosts/" + quote(name), {})

    def delete_vhost(self, name: str) -> None:
        self.call("DELETE", "/api/vhosts/" + quote(name))


def quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")
