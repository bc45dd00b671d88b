"""`manage.py runbroker`: the MQTT broker alone, until SIGTERM or Ctrl-C.

It prints one line per listener, then a line `broker ready mqtt=PORT mqtts=PORT ws=PORT` that
scripts (and tests starting it with ports 0) can wait for.
"""

import asyncio
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from cloudsignal.broker.broker import WEBSOCKET_PATH
from cloudsignal.broker.config import options_from_settings
from cloudsignal.broker.runner import event_loop_name, run, start_broker


class Command(BaseCommand):
    help = "Run the MQTT broker (TCP, TLS and WebSocket listeners) until SIGTERM or Ctrl-C."

    def handle(self, *args: Any, **options: Any) -> None:
        run(self._serve())

    async def _serve(self) -> None:
        options = options_from_settings()
        broker = await start_broker(options)
        if not (settings.TLS_CERT and settings.TLS_KEY):
            self.stdout.write(
                f"TLS: self-signed certificate {options.tls_cert} (devices use it as their CA file)"
            )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        ports = broker.ports
        for listener in options.listeners:
            path = WEBSOCKET_PATH if listener.websocket else ""
            self.stdout.write(
                f"MQTT broker listening on {listener.name}://{listener.host}:{ports[listener.name]}{path}"
            )
        self.stdout.write(f"Event loop: {event_loop_name()}")
        self.stdout.write("broker ready " + " ".join(f"{name}={port}" for name, port in ports.items()))
        self.stdout.flush()
        try:
            await stop.wait()
        finally:
            self.stdout.write("Stopping the broker...")
            self.stdout.flush()
            await broker.shutdown()
