"""`manage.py serve`: the dashboard on uvicorn (static files through WhiteNoise) and, beside it, the
broker as a child process. Ctrl-C or SIGTERM stops both."""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import uvicorn
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, connections

from cloudsignal.listen import bind_tcp
from cloudsignal.rabbitmq import reconcile
from workspaces import audit
from workspaces.onboarding import setup_token

log = logging.getLogger(__name__)
PRUNE_EVERY_SECONDS = 24 * 3600


def prune_audit_daily() -> None:
    """Audit entries older than CLOUDSIGNAL_AUDIT_RETENTION_DAYS go at start-up and once a day."""
    while True:
        try:
            audit.prune()
        except DatabaseError:
            log.exception("Pruning the audit log failed; trying again tomorrow.")
        finally:
            connections.close_all()
        time.sleep(PRUNE_EVERY_SECONDS)


class Command(BaseCommand):
    help = "Serve the dashboard and run the MQTT broker beside it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-broker", action="store_true", help="Serve the dashboard only.")

    def handle(self, *args: Any, **options: Any) -> None:
        sock = bind_tcp(settings.HTTP_HOST, settings.HTTP_PORT, "CLOUDSIGNAL_HTTP_PORT")
        host, port = sock.getsockname()[:2]
        self.broker_failed = False
        # With RabbitMQ the cluster is the broker; this process answers its auth questions.
        embedded = settings.BROKER == "embedded"
        broker = None if options["no_broker"] or not embedded else self._start_broker()
        config = uvicorn.Config(
            "cloudsignal.asgi:application",
            lifespan="off",
            log_level=settings.LOG_LEVEL.lower(),
            access_log=False,
            proxy_headers=settings.HTTPS,
            server_header=False,
        )
        server = uvicorn.Server(config)
        if broker is not None:
            # If the broker dies, the whole service stops: a dashboard whose revocations reach
            # nothing must not look healthy.
            threading.Thread(target=self._watch_broker, args=(broker, server), daemon=True).start()
        threading.Thread(target=prune_audit_daily, daemon=True).start()
        if not embedded:
            threading.Thread(target=reconcile.keep_in_step, daemon=True).start()
        self.stdout.write(f"CloudSignal dashboard on http://{host}:{port}/", ending="\n")
        if not get_user_model().objects.exists():
            # The first run's only way in: whoever can read this console (or `docker compose logs`).
            shown_host = settings.PUBLIC_HOST if host in ("0.0.0.0", "::") else host
            url = f"http://{shown_host}:{port}/setup/?token={setup_token()}"
            self.stdout.write(f"Finish setting up CloudSignal at {url}", ending="\n")
        self.stdout.flush()
        # uvicorn handles SIGINT/SIGTERM itself, then re-raises the signal under the handler that
        # was installed before it: make that a no-op so we go on to stop the broker and exit 0.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: None)
        try:
            server.run(sockets=[sock])
        finally:
            if broker is not None and broker.poll() is None:
                broker.send_signal(signal.SIGTERM)
                try:
                    broker.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    broker.kill()
        if self.broker_failed:
            sys.exit(1)

    def _start_broker(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, os.path.join(settings.BASE_DIR, "manage.py"), "runbroker"],
            # Own process group: Ctrl-C in the terminal reaches serve, which stops the broker in order.
            start_new_session=True,
        )

    def _watch_broker(self, broker: subprocess.Popen[bytes], server: uvicorn.Server) -> None:
        code = broker.wait()
        if not server.should_exit:
            self.stderr.write(f"The broker exited (code {code}); stopping the dashboard.")
            self.broker_failed = True
            server.should_exit = True
