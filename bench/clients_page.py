"""How fast the Clients page renders with many clients, and that its query count does not grow.

    .venv/bin/python bench/clients_page.py [--clients 10000] [--runs 30]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/clients_page.py

Builds a throwaway test database (never touches your data), one organization with 100 clients and
then with --clients clients (some disabled, some online, spread over three workspaces), and renders
the Clients page through the whole Django stack (middleware, session, auth, template) with the test
client. Prints the median server-side time and the query count per variant. Target: median <= 100 ms
with 10,000 clients; the query count the same at 100 and at 10,000.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudsignal.settings")
os.environ.setdefault("CLOUDSIGNAL_DATA_DIR", tempfile.mkdtemp(prefix="cloudsignal-bench-"))

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

from clients import credentials  # noqa: E402
from clients.models import BrokerNode, LiveSession, MqttClient  # noqa: E402
from workspaces.models import Organization, Workspace  # noqa: E402
from workspaces.onboarding import create_organization, find_or_create_user  # noqa: E402


def grow(organization: Organization, workspaces: list[Workspace], node: BrokerNode, upto: int) -> None:
    """Add clients until the organization has `upto`; every 7th is disabled, every 10th online."""
    start = MqttClient.objects.in_org(organization).count()
    password_hash = credentials.hash_password(credentials.generate_password())  # one hash: speed
    batch = [
        MqttClient(
            organization=organization,
            workspace=workspaces[n % len(workspaces)],
            username=f"agent-{n:06d}",
            password_hash=password_hash,
            enabled=n % 7 != 0,
        )
        for n in range(start, upto)
    ]
    MqttClient.objects.bulk_create(batch, batch_size=1000)
    online = MqttClient.objects.in_org(organization).filter(
        username__in=[f"agent-{n:06d}" for n in range(start, upto, 10)]
    )
    LiveSession.objects.bulk_create(
        [
            LiveSession(node=node, client=c, mqtt_client_id=c.username, remote_address="192.0.2.1:1")
            for c in online
        ],
        batch_size=1000,
    )


def measure(browser: Client, url: str, runs: int) -> tuple[float, int, int]:
    browser.get(url)  # warm: template loading, first queries
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = browser.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        browser.get(url)
    return statistics.median(timings), len(queries), len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=30)
    options = parser.parse_args()

    setup_test_environment()
    test_db = connection.creation.create_test_db(verbosity=0)
    try:
        owner = find_or_create_user("bench@example.com", "bench-password-123")
        organization = create_organization(owner=owner, name="Bench")
        workspaces = [organization.default_workspace]
        workspaces += [
            Workspace.objects.create(organization=organization, name=n) for n in ("staging", "production")
        ]
        node = BrokerNode.objects.create(pid=os.getpid())
        browser = Client()
        browser.force_login(owner, backend="workspaces.backends.EmailBackend")
        variants = [
            ("first page", "/clients/"),
            ("page 100", "/clients/?page=100"),
            ("search 'agent-0000'", "/clients/?q=agent-0000"),
            ("workspace filter", f"/clients/?workspace={workspaces[2].pk}"),
            ("htmx table swap", "/clients/?q=agent"),
        ]
        rows = []
        for size in (100, options.clients):
            grow(organization, workspaces, node, size)
            node.heartbeat = django.utils.timezone.now()
            node.save(update_fields=["heartbeat"])
            for name, url in variants:
                if size == 100 and url.endswith("page=100"):
                    url = "/clients/?page=2"
                headers = {"HX-Request": "true"} if name.startswith("htmx") else {}
                browser.defaults.update(
                    {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
                )
                median, queries, size_bytes = measure(browser, url, options.runs)
                for k in headers:
                    browser.defaults.pop(f"HTTP_{k.upper().replace('-', '_')}")
                rows.append((size, name, median, queries, size_bytes))
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)

    print(
        f"Clients page, {connection.vendor}, median of {options.runs} runs (server side, full Django stack)"
    )
    print(f"{'clients':>8}  {'variant':<22} {'median ms':>10} {'queries':>8} {'bytes':>8}")
    for size, name, median, queries, size_bytes in rows:
        print(f"{size:>8}  {name:<22} {median:>10.1f} {queries:>8} {size_bytes:>8}")
    small = {name: q for size, name, _, q, _ in rows if size == 100}
    large = {name: q for size, name, _, q, _ in rows if size == options.clients}
    worst = max(m for size, _, m, _, _ in rows if size == options.clients)
    print(
        f"query count independent of size: {'yes' if small == large else 'NO'}; "
        f"slowest median at {options.clients}: {worst:.1f} ms (target <= 100 ms)"
    )


if __name__ == "__main__":
    main()
