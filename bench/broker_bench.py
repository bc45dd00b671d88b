"""`make bench`: our broker against stock amqtt 0.12.1 (no authentication) and Mosquitto, in one run.

    .venv/bin/python bench/broker_bench.py [--quick] [--rounds N] [--json PATH] [--py-spy DIR]
    make bench                 # full run, about 12 minutes on a 2-core machine (bench/RESULTS.md)
    make bench BENCH_ARGS=--quick   # about 5

Starts three brokers on free loopback ports: ours (`manage.py runbroker` on a throwaway test
database, with isolation and a workspace of 20 ACL rules), stock amqtt (bench/stock_amqtt.py) and
Mosquitto (Debian's /usr/sbin/mosquitto with a temporary config; skipped, and said so, when it is
not installed). All load comes from bench/mqtt_load.py, one separate process per measurement, the
same code for every broker; rounds alternate between brokers so drift on a busy machine hits all
alike. Prints one markdown table of medians with our ratio to stock, and writes every figure as
JSON (to a temporary file unless --json). With --py-spy DIR (py-spy on PATH or given), our broker is
sampled during each scenario and the top functions by own time are printed.
"""

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MOSQUITTO = "/usr/sbin/mosquitto"
IDLE_TARGET = 10_000

# Every broker below holds 10,000 sockets, and the load process as many: raise the soft limit
# (children inherit it) before anything starts.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (_hard, _hard))
os.environ.setdefault("CLOUDSIGNAL_MQTT_MAX_CONNECTIONS", str(3 * IDLE_TARGET))
# All load comes from one loopback address standing in for a fleet: lift the caps that keep one
# address from flooding logins (cloudsignal/broker/admission.py), or the cold reconnect would mostly
# measure refusals (before this, 184 of 200 were refused with "login queue full").
os.environ.setdefault("CLOUDSIGNAL_BROKER_LOGINS_PER_ADDRESS", "100000")
os.environ.setdefault("CLOUDSIGNAL_BROKER_LOGIN_QUEUE", "100000")
os.environ.setdefault("CLOUDSIGNAL_MQTT_UNAUTHENTICATED_PER_ADDRESS", "1000000")
os.environ.setdefault("LOG_LEVEL", "ERROR")

from broker_common import OtherProcess, connection, database_label  # noqa: E402
from broker_revocation import measure as measure_revocation  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on port {port} after {seconds}s")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class Running:
    name: str
    port: int
    pid: int
    stop: Callable[[], None]
    # Credentials the load uses; stock amqtt and Mosquitto accept any.
    creds: dict[str, Any] = field(default_factory=dict)


def start_ours(creds: dict[str, Any], base_dir: Path | None = None) -> Running:
    broker = OtherProcess(base_dir)
    name = "ours" if base_dir is None else "baseline"
    return Running(name, broker.port, broker.process.pid, broker.stop, creds)


def start_stock(creds: dict[str, Any]) -> Running:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(HERE / "stock_amqtt.py"), str(port)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        process.kill()
        raise SystemExit("stock amqtt did not start")

    def stop() -> None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()

    return Running("stock amqtt", port, process.pid, stop, creds)


def start_mosquitto(creds: dict[str, Any]) -> Running | None:
    if not Path(MOSQUITTO).exists():
        return None
    port = free_port()
    conf_dir = Path(tempfile.mkdtemp(prefix="bench-mosquitto-"))
    conf = conf_dir / "mosquitto.conf"
    # Debian's defaults otherwise (max_queued_messages 1000, max_inflight_messages 20).
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n")
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wait_listening(port)

    def stop() -> None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(conf_dir, ignore_errors=True)

    return Running("mosquitto", port, process.pid, stop, creds)


def mosquitto_version() -> str:
    if not Path(MOSQUITTO).exists():
        return "not installed"
    out = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True).stdout
    return out.splitlines()[0].strip() if out else "?"


class Profiler:
    """py-spy sampling our broker process during one scenario (raw collapsed stacks)."""

    def __init__(self, binary: str | None, out_dir: Path | None) -> None:
        self.binary = binary
        self.out_dir = out_dir
        self.summaries: dict[str, list[tuple[str, float]]] = {}

    def start(self, pid: int, label: str) -> subprocess.Popen[bytes] | None:
        if not self.binary or self.out_dir is None:
            return None
        out = self.out_dir / f"{label}.txt"
        command = [self.binary, "record", "--pid", str(pid), "--rate", "250", "--format", "raw"]
        return subprocess.Popen(
            [*command, "--nonblocking", "--output", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self, process: subprocess.Popen[bytes] | None, label: str) -> None:
        if process is None or self.out_dir is None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        self.summaries[label] = top_functions(self.out_dir / f"{label}.txt")


def top_functions(path: Path, n: int = 12) -> list[tuple[str, float]]:
    """Share of samples spent in each function itself (the leaf of each stack), busiest first.
    py-spy leaves out idle samples (the loop waiting in epoll), so this is where the work goes."""
    own: Counter[str] = Counter()
    if not path.exists():
        return []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = stack.split(";")[-1]
        # `function (path/file.py:line)` -> `function (file.py)`: one entry per function.
        name, _, where = leaf.partition(" (")
        own[f"{name} ({where.rsplit('/', 1)[-1].split(':')[0]})"] += int(count)
    total = sum(own.values()) or 1
    return [(name, 100 * c / total) for name, c in own.most_common(n)]


class Bench:
    def __init__(self, brokers: list[Running], quick: bool, rounds: int, profiler: Profiler) -> None:
        self.brokers = brokers
        self.quick = quick
        self.rounds = rounds
        self.profiler = profiler
        self.results: dict[str, dict[str, Any]] = {b.name: {} for b in brokers}

    def load(
        self, broker: Running, spec: dict[str, Any], on_event: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        spec = {"port": broker.port, **spec}
        label = f"{spec['scenario']}-{spec.get('label', '')}".rstrip("-")
        spy = self.profiler.start(broker.pid, label) if broker.name == "ours" else None
        process = subprocess.Popen(
            [sys.executable, str(HERE / "mqtt_load.py"), json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None and process.stdin is not None
        result: dict[str, Any] | None = None
        try:
            for line in process.stdout:
                message = json.loads(line)
                if message.get("event") == "result":
                    result = message
                elif on_event is not None:
                    on_event(message)
                    if message["event"] in ("holding", "published"):
                        process.stdin.write("\n")
                        process.stdin.flush()
            process.wait(60)
        finally:
            if process.poll() is None:
                process.kill()
            if spy is not None:
                self.profiler.stop(spy, label)
        if result is None:
            raise SystemExit(f"the load for {spec['scenario']} on {broker.name} gave no result")
        return result

    def record(self, broker: Running, key: str, value: Any) -> None:
        self.results[broker.name][key] = value

    # Scenarios -------------------------------------------------------------------------------

    def cold(self) -> None:
        for broker in self.brokers:
            c = broker.creds
            out = self.load(
                broker,
                {
                    "scenario": "cold",
                    "credentials": c["fleet"],
                    "pinger": c["pinger"],
                    "concurrency": 100,
                    "label": "cold",
                },
            )
            self.record(broker, "cold", out)

    def warm_logins(self) -> None:
        for broker in self.brokers:
            c = broker.creds
            n = 300 if self.quick else 1000
            creds = (c["fleet"] * (n // len(c["fleet"]) + 1))[:n]
            out = self.load(
                broker,
                {
                    "scenario": "logins",
                    "credentials": creds,
                    "concurrency": 16,
                    "rounds": self.rounds,
                    "label": "warm",
                },
            )
            self.record(broker, "warm_logins", out)

    def one_to_one(self, qos: int) -> None:
        runs: dict[str, list[dict[str, Any]]] = {b.name: [] for b in self.brokers}
        n = (5_000 if self.quick else 20_000) if qos == 0 else (2_000 if self.quick else 10_000)
        for _ in range(self.rounds):
            for broker in self.brokers:
                c = broker.creds
                out = self.load(
                    broker,
                    {
                        "scenario": "throughput",
                        "qos": qos,
                        "messages": n,
                        "window": 50,
                        "rounds": 1,
                        "topic": "bench/data",
                        "filter": "bench/#",
                        "publisher": c["pub"],
                        "subscriber": c["sub"],
                        "label": f"qos{qos}",
                    },
                )
                runs[broker.name] += out["rounds"]
        for broker in self.brokers:
            self.record(broker, f"qos{qos}", runs[broker.name])

    def fanout(self) -> None:
        runs: dict[str, list[dict[str, Any]]] = {b.name: [] for b in self.brokers}
        for _ in range(self.rounds):
            for broker in self.brokers:
                c = broker.creds
                out = self.load(
                    broker,
                    {
                        "scenario": "fanout",
                        "subscribers": 100,
                        "messages": 100 if self.quick else 400,
                        "rounds": 1,
                        "topic": "bench/fan",
                        "filter": "bench/fan",
                        "publisher": c["pub"],
                        "subscriber": c["sub"],
                        "label": "fanout",
                    },
                )
                runs[broker.name] += out["rounds"]
        for broker in self.brokers:
            self.record(broker, "fanout", runs[broker.name])

    def idle_subscribers(self) -> None:
        for broker in self.brokers:
            c = broker.creds
            out = self.load(
                broker,
                {
                    "scenario": "throughput",
                    "qos": 0,
                    # Fewer than the 1->1 figure: stock amqtt slows to a few hundred per second here.
                    "messages": 3_000 if self.quick else 5_000,
                    "window": 50,
                    "rounds": self.rounds,
                    "topic": "bench/data",
                    "filter": "bench/#",
                    "publisher": c["pub"],
                    "subscriber": c["sub"],
                    "idle": 1000,
                    "idle_credentials": c["fleet"],
                    "label": "idle1000",
                },
            )
            self.record(broker, "idle_subscribers", out)

    def sustained(self) -> None:
        for broker in self.brokers:
            c = broker.creds
            out = self.load(
                broker,
                {
                    "scenario": "sustained",
                    "rate": 1000,
                    "seconds": 10 if self.quick else 60,
                    "topic": "bench/steady",
                    "filter": "bench/steady",
                    "publisher": c["pub"],
                    "subscriber": c["sub"],
                    "label": "sustained",
                },
            )
            self.record(broker, "sustained", out)

    def idle_connections(self) -> None:
        n = 3_000 if self.quick else IDLE_TARGET
        for broker in self.brokers:
            before = rss_kib(broker.pid)
            holding: dict[str, Any] = {}

            def on_event(
                message: dict[str, Any], pid: int = broker.pid, holding: dict[str, Any] = holding
            ) -> None:
                if message["event"] == "holding":
                    time.sleep(1)  # let the broker settle its per-connection work
                    holding.update(message, rss=rss_kib(pid))

            out = self.load(
                broker,
                {
                    "scenario": "idle",
                    "connections": n,
                    "credentials": broker.creds["fleet"],
                    "concurrency": 64,
                    "label": "idle",
                },
                on_event,
            )
            connected = max(out["connected"], 1)
            self.record(
                broker,
                "idle_connections",
                {
                    **out,
                    "rss_before_kib": before,
                    "rss_holding_kib": holding.get("rss", 0),
                    "kib_per_connection": (holding.get("rss", 0) - before) / connected,
                    "connect_seconds": holding.get("seconds"),
                },
            )

    def slow_subscriber(self) -> None:
        for broker in self.brokers:
            c = broker.creds
            before = rss_kib(broker.pid)
            peak = [before]

            def on_event(message: dict[str, Any], pid: int = broker.pid, peak: list[int] = peak) -> None:
                if message["event"] == "published":
                    # Give the broker a moment to take in what the publisher sent, then read once more.
                    for _ in range(10):
                        peak[0] = max(peak[0], rss_kib(pid))
                        time.sleep(0.2)

            out = self.load(
                broker,
                {
                    "scenario": "slow",
                    "seconds": 5 if self.quick else 10,
                    "qos": 0,
                    "topic": "bench/slow",
                    "filter": "bench/slow",
                    "publisher": c["pub"],
                    "subscriber": c["sub"],
                    "label": "slow",
                },
                on_event,
            )
            self.record(broker, "slow_subscriber", {**out, "rss_growth_kib": peak[0] - before})

    def revocation(self) -> None:
        ours = next((b for b in self.brokers if b.name == "ours"), None)
        if ours is None:
            return
        latencies, wrong = measure_revocation(ours, 10 if self.quick else 30)  # type: ignore[arg-type]
        self.record(
            ours,
            "revocation",
            {
                "p50_ms": percentile(latencies, 50) * 1000,
                "p99_ms": percentile(latencies, 99) * 1000,
                "max_ms": max(latencies) * 1000,
                "rounds": len(latencies),
                "miscounted": wrong,
            },
        )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def median_of(runs: list[dict[str, Any]], key: str = "rate") -> float:
    return statistics.median(r[key] for r in runs) if runs else float("nan")


# Fixtures in our database ----------------------------------------------------------------------


def make_fixtures(fleet_size: int) -> dict[str, Any]:
    """Credentials for the load: a publisher and subscriber in a workspace of 20 ACL rules, a pinger
    in the default workspace, and a fleet of known clients spread over 10 other workspaces (one
    argon2 hash shared, so setting up 1,000 costs one hash; each login still verifies it)."""
    from acl_throughput import twenty_rules

    from acl.language import RuleSpec
    from clients import credentials
    from clients.models import AclRule, MqttClient
    from clients.provisioning import create_client
    from workspaces.models import Workspace
    from workspaces.onboarding import create_organization, find_or_create_user

    owner = find_or_create_user("speed-bench@example.com")
    org = create_organization(owner=owner, name="Speed bench")
    ruled = Workspace.objects.create(organization=org, name="ruled")
    AclRule.objects.replace_policy(ruled, "deny", [RuleSpec(*r) for r in twenty_rules()])
    pub, pub_pw = create_client(organization=org, username="pub", workspace=ruled)
    sub, sub_pw = create_client(organization=org, username="sub", workspace=ruled)
    pinger, pinger_pw = create_client(organization=org, username="pinger")
    fleet_workspaces = [Workspace.objects.create(organization=org, name=f"fleet {i}") for i in range(10)]
    password = credentials.generate_password()
    password_hash = credentials.hash_password(password)
    fleet = MqttClient.objects.bulk_create(
        MqttClient(
            organization=org,
            workspace=fleet_workspaces[n % 10],
            username=f"device-{n:05d}",
            password_hash=password_hash,
        )
        for n in range(fleet_size)
    )
    return {
        "pub": (pub.full_username, pub_pw),
        "sub": (sub.full_username, sub_pw),
        "pinger": (pinger.full_username, pinger_pw),
        "fleet": [(f"{c.username}@{org.id}", password) for c in fleet],
    }


# The table -------------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:,.{digits}f}"


def ratio(ours: float | None, stock: float | None) -> str:
    if not ours or not stock or ours != ours or stock != stock:
        return "-"
    return f"{ours / stock:.2f}x"


def table(results: dict[str, dict[str, Any]], quick: bool, baseline: bool = False) -> list[list[str]]:
    def get(name: str, fn: Callable[[dict[str, Any]], float]) -> float | None:
        try:
            return fn(results[name])
        except (KeyError, TypeError, ValueError, statistics.StatisticsError):
            return None

    rows: list[list[str]] = []

    def row(
        figure: str,
        fn: Callable[[dict[str, Any]], float],
        target: str,
        digits: int = 0,
    ) -> None:
        o, s, m = get("ours", fn), get("stock amqtt", fn), get("mosquitto", fn)
        cells = [figure, fmt(o, digits), fmt(s, digits), fmt(m, digits), ratio(o, s), target]
        if baseline:
            cells[1:1] = [fmt(get("baseline", fn), digits)]
        rows.append(cells)

    row("warm logins/s", lambda r: statistics.median(r["warm_logins"]["rates"]), "≥ 1.0x (aim 2x)")
    row("cold reconnect of the fleet: logins/s", lambda r: r["cold"]["logins_per_s"], "-")
    row(
        "  meanwhile a connected client's RTT p99 (ms)",
        lambda r: r["cold"]["rtt_p99_ms"],
        "< 50 ms",
        1,
    )
    row("QoS 0 1→1 msg/s (isolation, 20 ACL rules)", lambda r: median_of(r["qos0"]), "≥ 1.5x (aim 2x)")
    row("QoS 1 1→1 msg/s (isolation, 20 ACL rules)", lambda r: median_of(r["qos1"]), "≥ 1.5x (aim 2x)")
    row("fan-out 1→100 deliveries/s", lambda r: median_of(r["fanout"]), "≥ 1.5x")
    row(
        "QoS 0 msg/s, 1,000 idle subscribers elsewhere",
        lambda r: median_of(r["idle_subscribers"]["idle_rounds"]),
        "-",
    )
    row(
        "  kept of the same run without them (%)",
        lambda r: (
            100 * median_of(r["idle_subscribers"]["idle_rounds"]) / median_of(r["idle_subscribers"]["rounds"])
        ),
        "≥ 80%",
        0,
    )
    seconds = 10 if quick else 60
    row(
        f"QoS 1 at 1,000 msg/s for {seconds} s: p99 latency (ms)",
        lambda r: r["sustained"]["p99_ms"],
        "< 50 ms",
        1,
    )
    row("  messages lost", lambda r: r["sustained"]["lost"], "0")
    row(
        f"idle connections held (of {3_000 if quick else IDLE_TARGET:,})",
        lambda r: r["idle_connections"]["connected"],
        f"{IDLE_TARGET:,}",
    )
    row(
        "  memory per idle connection (KiB)",
        lambda r: r["idle_connections"]["kib_per_connection"],
        "≤ stock",
        1,
    )
    row(
        "slow subscriber: broker memory growth (MiB)",
        lambda r: r["slow_subscriber"]["rss_growth_kib"] / 1024,
        "bounded",
        1,
    )
    row(
        "  slow subscriber disconnected",
        lambda r: float(r["slow_subscriber"]["slow_disconnected"]),
        "yes (1)",
    )
    row("revocation commit → close p50 (ms)", lambda r: r["revocation"]["p50_ms"], "not worse", 1)
    row("revocation commit → close p99 (ms)", lambda r: r["revocation"]["p99_ms"], "not worse", 1)
    return rows


def print_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        lines.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    text = "\n".join(lines)
    print(text)
    return text


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    from importlib.metadata import version

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "amqtt": version("amqtt"),
        "mosquitto": mosquitto_version(),
        "event_loop_available": loop,
        "database": database_label(),
        "load_average_start": os.getloadavg(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, 10 s instead of 60 s (~5 min)")
    parser.add_argument("--rounds", type=int, help="rounds per throughput figure (default 5, quick 3)")
    parser.add_argument("--json", type=Path, help="where to write the figures (default: a temporary file)")
    parser.add_argument("--py-spy", type=Path, metavar="DIR", help="profile our broker with py-spy into DIR")
    parser.add_argument(
        "--only",
        nargs="*",
        help="run only these scenarios (cold warm qos0 qos1 fanout idle1000 sustained revocation idle slow)",
    )
    parser.add_argument(
        "--fleet", type=int, help="known clients that reconnect cold (default 1,000, quick 200)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="also measure the broker of another checkout (e.g. `git archive main | tar -x -C DIR`)",
    )
    parser.add_argument("--without", nargs="*", default=[], help="leave out these brokers (stock, mosquitto)")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 5)
    started = time.monotonic()

    from django.test.utils import setup_test_environment

    setup_test_environment()
    info = machine()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = args.json or Path(tempfile.gettempdir()) / f"cloudsignal-bench-{stamp}.json"
    test_db = connection.creation.create_test_db(verbosity=0)
    brokers: list[Running] = []
    try:
        creds = make_fixtures(args.fleet or (200 if args.quick else 1000))
        if args.baseline:
            brokers.append(start_ours(creds, args.baseline))
        # Started last of ours: the revocation hints go to its control socket.
        brokers.insert(0, start_ours(creds))
        if "stock" not in args.without:
            brokers.append(start_stock(creds))
        if "mosquitto" not in args.without:
            mosquitto = start_mosquitto(creds)
            if mosquitto is None:
                print(
                    f"Mosquitto is not installed ({MOSQUITTO}): its column is left empty. "
                    "`apt-get install mosquitto` adds it."
                )
            else:
                brokers.append(mosquitto)
        spy_binary = shutil.which("py-spy")
        if args.py_spy:
            args.py_spy.mkdir(parents=True, exist_ok=True)
            if spy_binary is None:
                print("py-spy not found: no profiles (pip install py-spy)")
        profiler = Profiler(spy_binary if args.py_spy else None, args.py_spy)
        bench = Bench(brokers, args.quick, rounds, profiler)
        steps: list[tuple[str, Callable[[], None]]] = [
            ("cold", bench.cold),  # first: our broker has just started, nothing verified yet
            ("warm", bench.warm_logins),
            ("qos0", lambda: bench.one_to_one(0)),
            ("qos1", lambda: bench.one_to_one(1)),
            ("fanout", bench.fanout),
            ("idle1000", bench.idle_subscribers),
            ("sustained", bench.sustained),
            ("revocation", bench.revocation),
            ("idle", bench.idle_connections),
            ("slow", bench.slow_subscriber),
        ]
        for name, step in steps:
            if args.only and name not in args.only:
                continue
            step_started = time.monotonic()
            print(f"… {name}", file=sys.stderr, flush=True)
            step()
            print(f"  {name} took {time.monotonic() - step_started:.0f}s", file=sys.stderr, flush=True)
            # Written after every step, so an interrupted run keeps what it measured.
            out.write_text(json.dumps({"machine": info, "results": bench.results}, indent=2, default=str))
        results = bench.results
    finally:
        for broker in brokers:
            broker.stop()
        connection.creation.destroy_test_db(test_db, verbosity=0)

    info["load_average_end"] = os.getloadavg()
    info["seconds"] = round(time.monotonic() - started)
    mode = "quick" if args.quick else "full"
    print(
        f"\nBroker benchmark ({mode}, {rounds} rounds, medians; {info['database']}; {info['cores']} cores, "
        f"load average {info['load_average_start'][0]:.1f} → {info['load_average_end'][0]:.1f})\n"
    )
    headers = ["figure", "ours", "stock amqtt 0.12.1", "Mosquitto", "ours / stock", "target"]
    if args.baseline:
        headers[1:1] = ["baseline"]
    print_table(headers, table(results, args.quick, baseline=bool(args.baseline)))
    if profiler.summaries:
        print("\nWhere our broker's event loop spends its time (py-spy, own time per function):")
        for label, top in profiler.summaries.items():
            print(f"\n{label}:")
            for name, share in top:
                print(f"  {share:5.1f}%  {name}")
    out.write_text(
        json.dumps(
            {
                "machine": info,
                "mode": mode,
                "rounds": rounds,
                "results": results,
                "profiles": profiler.summaries,
            },
            indent=2,
            default=str,
        )
    )
    print(f"\nAll figures: {out} ({info['seconds']} s)")


if __name__ == "__main__":
    main()
