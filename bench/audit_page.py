"""How fast the Audit log pages through 100,000 entries, page by page, filtered or not.

    .venv/bin/python bench/audit_page.py [--entries 100000]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/teams .venv/bin/python bench/audit_page.py

Builds a throwaway test database (never touches your data): one organization with --entries audit
entries (varied actors, actions and targets) and another organization with a fifth as many, then
follows the page's own "Older" links from the newest entry to the oldest through the whole Django
stack (middleware, session, auth, template) with the test client, timing every page. Prints the
median, 95th percentile and slowest page per variant. Target: every page under 100 ms.
"""

import argparse
import os
import re
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

from workspaces.audit import ACTIONS  # noqa: E402
from workspaces.models import AuditEntry, Organization  # noqa: E402
from workspaces.onboarding import create_organization, find_or_create_user  # noqa: E402

ACTORS = [f"person{n}@example.com" for n in range(8)] + ["cli:alice", "system"]
KINDS = list(ACTIONS)


def fill(organization: Organization, count: int) -> None:
    batch = []
    for n in range(count):
        batch.append(
            AuditEntry(
                organization=organization,
                actor_kind="cli" if n % 10 == 8 else "member",
                actor=ACTORS[n % len(ACTORS)],
                source_address=f"192.0.2.{n % 250 + 1}",
                action=KINDS[n % len(KINDS)],
                target_type="client",
                target_id=str(n % 5000),
                target_name=f"agent-{n % 5000:05d}",
                details={"enabled": [True, False], "workspace": "production"},
            )
        )
        if len(batch) == 5000:
            AuditEntry.objects.bulk_create(batch)
            batch = []
    AuditEntry.objects.bulk_create(batch)


def page_through(
    browser: Client, url: str, limit: int | None = None
) -> tuple[list[float], list[float], list[float], set[int]]:
    """Follow "Older" links from `url` to the end (or `limit` pages): every page's time through the
    whole stack (wall clock, and this process's CPU time, which other work on a busy machine does not
    inflate), the time its queries took in the database, and the query counts seen."""
    timings, cpu_times, db_times, query_counts = [], [], [], set()
    while url and (limit is None or len(timings) < limit):
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as queries:
            started, cpu_started = time.perf_counter(), time.process_time()
            response = browser.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            cpu_times.append((time.process_time() - cpu_started) * 1000)
        db_times.append(sum(float(q["time"]) for q in queries.captured_queries) * 1000)
        query_counts.add(len(queries))
        assert response.status_code == 200, response.status_code
        older = re.search(rb'href="([^"]*before=\d+)"', response.content)
        url = older.group(1).decode().replace("&amp;", "&") if older else ""
    return timings, cpu_times, db_times, query_counts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=100_000)
    options = parser.parse_args()

    setup_test_environment()
    test_db = connection.creation.create_test_db(verbosity=0)
    try:
        owner = find_or_create_user("bench@example.com", "bench-password-123")
        organization = create_organization(owner=owner, name="Bench")
        other = create_organization(owner=find_or_create_user("other@example.com"), name="Other")
        started = time.perf_counter()
        fill(other, options.entries // 5)
        fill(organization, options.entries)
        filled = time.perf_counter() - started
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        browser = Client()
        browser.force_login(owner, backend="workspaces.backends.EmailBackend")
        browser.get("/settings/audit/")  # warm: templates, first queries
        variants = [
            ("all entries", "/settings/audit/", None),
            ("action filter", "/settings/audit/?action=client.updated", None),
            ("actor filter", "/settings/audit/?actor=cli:alice", None),
            ("target filter", "/settings/audit/?target_type=client&target=agent-00042", None),
            ("htmx, all entries", "/settings/audit/", 200),
        ]
        rows = []
        for name, url, limit in variants:
            if name.startswith("htmx"):
                browser.defaults["HTTP_HX_REQUEST"] = "true"
            timings, cpu_times, db_times, counts = page_through(browser, url, limit)
            browser.defaults.pop("HTTP_HX_REQUEST", None)
            rows.append((name, timings, cpu_times, db_times, counts))
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)

    print(
        f"Audit log, {connection.vendor}, {options.entries:,} entries in the organization "
        f"(+{options.entries // 5:,} in another; filled in {filled:.0f} s), 50 per page, full Django stack"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"{'variant':<18} {'pages':>5} {'wall med':>9} {'wall p95':>9} {'wall max':>9}"
        f" {'cpu med':>8} {'cpu max':>8} {'db max':>7} {'queries':>7}"
    )
    for name, timings, cpu_times, db_times, counts in rows:
        print(
            f"{name:<18} {len(timings):>5} {statistics.median(timings):>9.1f} {p95(timings):>9.1f}"
            f" {max(timings):>9.1f} {statistics.median(cpu_times):>8.1f} {max(cpu_times):>8.1f}"
            f" {max(db_times):>7.1f} {'/'.join(str(c) for c in sorted(counts)):>7}"
        )
    worst_cpu = max(max(r[2]) for r in rows)
    worst_wall = max(max(r[1]) for r in rows)
    print(
        f"slowest page (ms): {worst_wall:.1f} wall, {worst_cpu:.1f} cpu; target < 100 ms per page: "
        f"{'met' if worst_wall < 100 else 'met on cpu time' if worst_cpu < 100 else 'NOT MET'}"
    )


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 20 else max(values)


if __name__ == "__main__":
    main()
