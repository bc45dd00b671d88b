"""`manage.py cluster` (`make cluster`): a two-node RabbitMQ cluster on loopback and the dashboard in
`rabbitmq` mode answering its logins. Prints the MQTT nodes and the dashboard URL; Ctrl-C or SIGTERM
stops everything, leaving no node running."""

import os
import secrets
import signal
import subprocess
import sys
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cloudsignal.rabbitmq import vhosts
from cloudsignal.rabbitmq.cluster import Cluster, ClusterError, free_port, install_rabbitmq, mqtt_addresses


class Command(BaseCommand):
    help = "Run a RabbitMQ cluster on loopback with the dashboard governing it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--nodes", type=int, default=2, choices=range(1, 6), metavar="N")

    def handle(self, *args: Any, **options: Any) -> None:
        if not install_rabbitmq():
            raise CommandError("rabbitmq-server is not installed: apt-get install rabbitmq-server (as root).")
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        port = int(os.environ.get("CLOUDSIGNAL_HTTP_PORT") or free_port())
        secret = secrets.token_urlsafe(24)
        cluster = Cluster(auth_url=f"http://127.0.0.1:{port}/rabbitmq-auth/{secret}/", size=options["nodes"])
        env = {
            **os.environ,
            "CLOUDSIGNAL_BROKER": "rabbitmq",
            "CLOUDSIGNAL_RABBITMQ_MANAGEMENT_URLS": ",".join(n.management_url for n in cluster.nodes),
            "CLOUDSIGNAL_RABBITMQ_USER": cluster.admin_user,
            "CLOUDSIGNAL_RABBITMQ_PASSWORD": cluster.admin_password,
            "CLOUDSIGNAL_RABBITMQ_AUTH_SECRET": secret,
            "CLOUDSIGNAL_HTTP_HOST": "127.0.0.1",
            "CLOUDSIGNAL_HTTP_PORT": str(port),
            # What the dashboard's connection examples show.
            "CLOUDSIGNAL_PUBLIC_HOST": "127.0.0.1",
            "CLOUDSIGNAL_MQTT_PORT": str(cluster.nodes[0].mqtt_port),
        }
        dashboard = subprocess.Popen([sys.executable, "manage.py", "serve"], env=env)
        try:
            self.stdout.write(f"Starting {len(cluster.nodes)} RabbitMQ nodes (20-40 s)...")
            try:
                cluster.start()
            except ClusterError as exc:
                raise CommandError(str(exc)) from None
            vhosts.sync(cluster.management())
            self.stdout.write(f"MQTT nodes: {mqtt_addresses(cluster.nodes)}")
            self.stdout.write(f"Dashboard: http://127.0.0.1:{port}/")
            self.stdout.write(f"Management: {cluster.nodes[0].management_url}/ (user {cluster.admin_user})")
            self.stdout.flush()
            while not stop.wait(0.5):
                if dashboard.poll() is not None:
                    raise CommandError("The dashboard stopped; stopping the cluster.")
        finally:
            if dashboard.poll() is None:
                dashboard.send_signal(signal.SIGTERM)
                try:
                    dashboard.wait(10)
                except subprocess.TimeoutExpired:
                    dashboard.kill()
            cluster.stop()
            self.stdout.write("Cluster stopped.")
