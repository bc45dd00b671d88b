"""Opening listening sockets with errors that name the setting to change."""

import errno
import socket

from django.core.management.base import CommandError


def bind_tcp(host: str, port: int, variable: str) -> socket.socket:
    """A listening TCP socket on host:port, or a CommandError naming `variable` if the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CommandError(
                f"Port {port} on {host} is already in use. "
                f"Stop what holds it, or set {variable} to another port."
            ) from None
        raise CommandError(f"Cannot listen on {host}:{port} ({variable}): {exc.strerror}.") from None
    sock.listen(512)
    sock.set_inheritable(True)
    return sock
