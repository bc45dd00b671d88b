"""What ACL rules cost the broker: QoS 0 throughput with 20 rules per workspace against no rules.

    .venv/bin/python bench/acl_throughput.py [--messages 20000] [--rounds 5] [--unique-topics] [--wildcard]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/acl_throughput.py

One run, one broker (the embedded one, in this process, on a free loopback port, with workspace
isolation as always), a throwaway test database, and two workspaces of one organization:

- "open": no rules, default allow;
- "ruled": 20 rules, default deny, where only the 20th allows the benchmark's topic, so every check
  walks past 19 rules that do not apply (other clients, other topics, placeholders, deny rules).

Each round, a load process (a paho publisher and a paho subscriber in one workspace, outside this
process so they do not share its GIL) publishes --messages QoS 0 messages as fast as paho sends them,
and the subscriber counts them; throughput is messages received per second between the first and the
last. Rounds alternate between the workspaces so drift hits both alike. Prints the median of each and
the cost of the rules (target: under 10%), then what one Policy.check costs in isolation.

With --wildcard the subscribers subscribe to `#` instead of `bench/#`, and the ruled workspace's rules
start with "deny subscribe test/nosubscribe" (the Paho interoperability suite's rule): the
subscription is granted, and every delivery is checked against the subscriber's rules for its topic.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TOPIC = "bench/data"


def load(
    port: int,
    workspace_tag: str,
    publisher: tuple[str, str],
    subscriber: tuple[str, str],
    n: int,
    unique: bool,
    topic_filter: str = "bench/#",
) -> None:
    """The load process: subscribe, publish n messages, report what arrived as JSON on stdout."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    received = 0
    first = last = 0.0
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(client: object, userdata: object, msg: object) -> None:
        nonlocal received, first, last
        now = time.perf_counter()
        if received == 0:
            first = now
        received += 1
        last = now
        if received >= n:
            done.set()

    def connected(username: str, password: str, client_id: str) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        client.username_pw_set(username, password)
        ready = threading.Event()
        client.on_connect = lambda *a: ready.set()
        client.connect("127.0.0.1", port)
        client.loop_start()
        if not ready.wait(30):
            raise SystemExit(f"{username} did not connect")
        return client

    sub = connected(*subscriber, f"sub-{workspace_tag}")
    sub.on_message = on_message
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.subscribe(topic_filter, 0)
    if not subscribed.wait(30):
        raise SystemExit("no SUBACK")
    pub = connected(*publisher, f"pub-{workspace_tag}")
    payload = b"x" * 64
    started = time.perf_counter()
    for i in range(n):
        pub.publish(f"{TOPIC}/{i}" if unique else TOPIC, payload, 0)
    done.wait(max(30.0, n / 500))
    pub.disconnect()
    sub.disconnect()
    pub.loop_stop()
    sub.loop_stop()
    elapsed = (last - first) if received > 1 else 0.0
    rate = (received - 1) / elapsed if elapsed else 0.0
    print(json.dumps({"received": received, "rate": rate, "wall": time.perf_counter() - started}))


def twenty_rules(wildcard: bool = False) -> list[tuple[str, str, str, str]]:
    rules: list[tuple[str, str, str, str]] = []
    if wildcard:
        rules.append(("*", "subscribe", "test/nosubscribe", "deny"))
    for i in range(19):
        kind = i % 4
        if kind == 0:
            rules.append((f"sensor-{i}", "publish", f"sensors/{i}/#", "allow"))
        elif kind == 1:
            rules.append(("agent-*", "all", "agents/${clientid}/#", "allow"))
        elif kind == 2:
            rules.append(("*", "publish", f"other/{i}/+/x", "deny"))
        else:
            rules.append(("*", "subscribe", f"users/${{username}}/{i}/#", "allow"))
    rules.append(("*", "all", "bench/#", "allow"))
    return rules


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--unique-topics",
        action="store_true",
        help="publish every message to a topic of its own, so no decision is ever cached (worst case)",
    )
    parser.add_argument(
        "--wildcard",
        action="store_true",
        help="subscribe to # in a workspace whose first rule denies subscribing to test/nosubscribe",
    )
    parser.add_argument("--load", nargs=9, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.load:
        port, tag, pu, pp, su, sp, n, unique, topic_filter = options.load
        load(int(port), tag, (pu, pp), (su, sp), int(n), unique == "unique", topic_filter)
        return

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloudsignal.settings")
    os.environ.setdefault("CLOUDSIGNAL_DATA_DIR", tempfile.mkdtemp(prefix="cloudsignal-bench-"))
    import logging

    import django

    django.setup()
    logging.disable(logging.WARNING)

    from django.db import connection
    from django.test.utils import setup_test_environment

    from acl.language import RuleSpec, compile_policy
    from clients.models import AclRule
    from clients.provisioning import create_client
    from cloudsignal.broker.config import BrokerOptions, loopback_listeners
    from cloudsignal.broker.runner import BrokerThread
    from workspaces.models import Workspace
    from workspaces.onboarding import create_organization, find_or_create_user

    setup_test_environment()
    test_db = connection.creation.create_test_db(verbosity=0)
    results: dict[str, list[float]] = {"open": [], "ruled": []}
    cpu: dict[str, list[float]] = {"open": [], "ruled": []}
    losses: dict[str, int] = {"open": 0, "ruled": 0}
    try:
        owner = find_or_create_user("bench@example.com")
        organization = create_organization(owner=owner, name="Bench")
        open_ws = organization.default_workspace
        ruled_ws = Workspace.objects.create(organization=organization, name="ruled")
        specs = [RuleSpec(*r) for r in twenty_rules(options.wildcard)]
        AclRule.objects.replace_policy(ruled_ws, "deny", specs)
        logins: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {}
        for tag, workspace in (("open", open_ws), ("ruled", ruled_ws)):
            pair = []
            for role in ("pub", "sub"):
                client, password = create_client(
                    organization=organization, username=f"{role}-{tag}", workspace=workspace
                )
                pair.append((client.full_username, password))
            logins[tag] = (pair[0], pair[1])

        socket_dir = Path(tempfile.mkdtemp(prefix="cs-bench-"))
        broker_options = BrokerOptions(listeners=loopback_listeners(), control_socket=socket_dir / "b.sock")
        with BrokerThread(broker_options) as broker:
            port = broker.ports["mqtt"]
            for _ in range(options.rounds):
                for tag in ("open", "ruled"):
                    (pu, pp), (su, sp) = logins[tag]
                    unique = "unique" if options.unique_topics else "same"
                    topic_filter = "#" if options.wildcard else "bench/#"
                    args = [str(port), tag, pu, pp, su, sp, str(options.messages), unique, topic_filter]
                    cpu_before = time.process_time()
                    out = subprocess.run(
                        [sys.executable, __file__, "--load", *args],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                    result = json.loads(out)
                    results[tag].append(result["rate"])
                    # This process is the broker (the load runs in its own process): its CPU time per
                    # message is the broker's work, and far less noisy than throughput on a busy machine.
                    cpu[tag].append((time.process_time() - cpu_before) / max(result["received"], 1) * 1e6)
                    losses[tag] += options.messages - result["received"]
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)

    open_rate, ruled_rate = statistics.median(results["open"]), statistics.median(results["ruled"])
    cost = (open_rate - ruled_rate) / open_rate * 100
    open_cpu, ruled_cpu = statistics.median(cpu["open"]), statistics.median(cpu["ruled"])
    cpu_cost = (ruled_cpu - open_cpu) / open_cpu * 100
    print(
        f"ACL cost on QoS 0 throughput, {connection.vendor}, {options.rounds} rounds of "
        f"{options.messages} messages each to {'a topic each' if options.unique_topics else 'one topic'} "
        "(publish and delivery both checked)"
        + (", subscribers on # over a deny rule" if options.wildcard else "")
    )
    print(
        f"{'workspace':<28} {'median msg/s':>13} {'min':>9} {'max':>9} {'lost':>6} {'broker CPU µs/msg':>18}"
    )
    ruled_label = f"{len(specs)} rules, the last decides"
    for tag, label in (("open", "no rules, default allow"), ("ruled", ruled_label)):
        rates = results[tag]
        print(
            f"{label:<28} {statistics.median(rates):>13.0f} {min(rates):>9.0f} {max(rates):>9.0f} "
            f"{losses[tag]:>6} {statistics.median(cpu[tag]):>18.1f}"
        )
    print(
        f"cost of {len(specs)} rules: {cost:.1f}% of throughput, "
        f"{cpu_cost:.1f}% of broker CPU per message (target < 10%)"
    )

    # One check in isolation: a cached decision (the broker's steady state), and a first decision.
    policy = compile_policy("deny", [RuleSpec(*r) for r in twenty_rules()])
    n = 200_000
    started = time.perf_counter()
    for _ in range(n):
        policy.check(username="pub-ruled", client_id="pub-ruled", action="publish", topic=TOPIC)
    cached = (time.perf_counter() - started) / n * 1e6
    topics = [f"bench/{i}/data" for i in range(5_000)]
    started = time.perf_counter()
    for topic in topics:
        policy.check(username="pub-ruled", client_id="pub-ruled", action="publish", topic=topic)
    uncached = (time.perf_counter() - started) / len(topics) * 1e6
    print(f"Policy.check with 20 rules: {cached:.2f} µs cached, {uncached:.1f} µs first time per topic")


if __name__ == "__main__":
    main()
