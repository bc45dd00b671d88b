"""What an admin does to a credential is true on the wire at once: live sessions end, old logins fail."""

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import transaction

from clients import hints
from clients.engine import SessionsEnded
from clients.models import BrokerNode, ConnectionRecord, LiveSession, MqttClient
from clients.provisioning import reset_password
from cloudsignal.broker.auth import Login, Refusal
from cloudsignal.broker.runner import BrokerThread
from tests.broker.devices import Device
from tests.support.waiting import wait_for
from workspaces.models import Organization, Workspace

MakeClient = Callable[..., tuple[MqttClient, str]]
MakeDevice = Callable[..., Device]


def _other_workspace(org: Organization) -> Workspace:
    return Workspace.objects.create(organization=org, name="production")


REVOCATIONS: dict[str, Callable[[MqttClient], object]] = {
    "delete": lambda c: c.delete(),
    "disable": lambda c: c.disable(),
    "reset": lambda c: reset_password(c),
    "rename": lambda c: c.update(username="sensor-renamed"),
    "move": lambda c: c.update(workspace=_other_workspace(c.organization)),
}


@pytest.mark.parametrize("change", REVOCATIONS)
def test_a_revoking_change_ends_live_sessions_within_a_second(
    change: str, org: Organization, make_client: MakeClient, device: MakeDevice, broker: BrokerThread
) -> None:
    """Delete, disable, reset, rename and move each end every live session of the client within a
    second of commit and tell the admin how many ended; the old credentials never log in again (a
    moved client logs in to its new workspace)."""
    client, password = make_client(org, "sensor-1")
    old_username = client.full_username
    first = device(old_username, password, "a")
    second = device(old_username, password, "b", clean_session=False)
    assert first.connect() == 0
    assert second.connect() == 0
    bystander_client, bystander_password = make_client(org, "bystander")
    bystander = device(bystander_client.full_username, bystander_password, "c")
    assert bystander.connect() == 0
    # The dashboard would list them by now. (Deleting a client while the broker inserts its
    # LiveSession row can fail the delete on PostgreSQL: see the broker's report to the lead.)
    wait_for(lambda: LiveSession.objects.filter(client=client).count() == 2)

    started = time.monotonic()
    outcome = REVOCATIONS[change](client)
    assert first.wait_disconnected(1.0)
    assert second.wait_disconnected(1.0 - (time.monotonic() - started) + 0.01)
    ended = outcome[1] if isinstance(outcome, tuple) else outcome
    assert isinstance(ended, SessionsEnded)
    assert (ended.broker_reachable, ended.count) == (True, 2)
    assert "2 live sessions were disconnected" in ended.describe()

    again = device(old_username, password, "a")
    if change == "move":
        # Same credential, new home: it logs in again, into the other workspace's namespace.
        client.refresh_from_db()
        assert again.connect() == 0
        assert broker.broker is not None
        assert f"{client.workspace_id}:a" in broker.broker.sessions
    else:
        # Only a disabled client holding its own password is told why (CONNACK 5).
        assert again.connect() == (5 if change == "disable" else 4)
    if change != "delete":  # a deleted client's history goes with it
        why = {"disable": "disabled", "reset": "password-reset", "rename": "renamed", "move": "moved"}[change]

        def history() -> list[tuple[str, str]]:
            records = ConnectionRecord.objects.filter(client=client, accepted=True)
            return sorted(records.values_list("mqtt_client_id", "end_reason"))

        wait_for(lambda: history() == [("a", why), ("b", why)])
    # Nobody else was touched.
    assert not bystander.disconnected.is_set()
    assert bystander.flush() == []


def test_a_kicked_clients_will_is_not_published_and_its_stored_session_is_purged(
    org: Organization, make_client: MakeClient, device: MakeDevice, broker: BrokerThread
) -> None:
    client, password = make_client(org, "sensor-1")
    watcher_client, watcher_password = make_client(org, "watcher")
    watcher = device(watcher_client.full_username, watcher_password, "watcher")
    assert watcher.connect() == 0
    assert watcher.subscribe("status/#", 1) == 1

    victim = device(
        client.full_username,
        password,
        "persistent",
        clean_session=False,
        will=("status/x", b"gone", 1, False),
    )
    assert victim.connect() == 0
    assert victim.subscribe("jobs/#", 1) == 1
    assert broker.broker is not None
    key = next(k for k in broker.broker.sessions if k.endswith(":persistent"))

    client.disable()
    assert victim.wait_disconnected(1.0)
    assert watcher.flush() == []  # no will
    assert key not in broker.broker.sessions
    assert not any(key == s.client_id for subs in broker.broker.subscriptions.values() for s, _ in subs)

    # Messages for it are not queued any more, and re-enabling does not bring the session back.
    watcher.publish("jobs/1", b"work", qos=1)
    client.enable()
    again = device(client.full_username, password, "persistent", clean_session=False)
    assert again.connect() == 0
    assert again.session_present is False
    assert again.flush() == []


def test_an_offline_persistent_session_of_a_revoked_client_is_purged(
    org: Organization, make_client: MakeClient, device: MakeDevice, broker: BrokerThread
) -> None:
    client, password = make_client(org, "sensor-1")
    sleeper = device(client.full_username, password, "sleeper", clean_session=False)
    assert sleeper.connect() == 0
    assert sleeper.subscribe("jobs/#", 1) == 1
    sleeper.close()
    assert broker.broker is not None
    key = next(k for k in broker.broker.sessions if k.endswith(":sleeper"))
    reset_password(client)
    assert key not in broker.broker.sessions


def test_a_rolled_back_change_kicks_nobody(
    org: Organization, make_client: MakeClient, device: MakeDevice, broker: BrokerThread
) -> None:
    client, password = make_client(org, "sensor-1")
    d = device(client.full_username, password, "a")
    assert d.connect() == 0
    with pytest.raises(RuntimeError), transaction.atomic():
        client.disable()
        raise RuntimeError("changed my mind")
    client.refresh_from_db()
    assert client.enabled
    # Past a full reconciliation round, still connected.
    assert broker.broker is not None
    assert broker.call(broker.broker.reconcile()) == 0
    assert not d.disconnected.is_set()
    assert d.flush() == []


def test_a_change_whose_hint_was_lost_is_caught_by_reconciliation(
    org: Organization,
    make_client: MakeClient,
    device: MakeDevice,
    broker: BrokerThread,
    control_socket: Path,
    settings: object,
) -> None:
    """The database is the truth: a change made while the broker could not be told still ends the
    session within the reconcile interval (1 s here), and the credential it had verified (kept in
    memory for warm logins) is forgotten by then too."""
    client, password = make_client(org, "sensor-1")
    d = device(client.full_username, password, "a")
    assert d.connect() == 0
    assert broker.broker is not None
    assert broker.broker.authenticator.verified.client_pks() == [client.pk]
    # Lost: neither the configured socket nor the one the broker registered answers.
    settings.BROKER_CONTROL_SOCKET = control_socket.with_name("nobody-listens.sock")  # type: ignore[attr-defined]
    BrokerNode.objects.update(control_socket="")
    outcome = client.disable()
    assert outcome.broker_reachable is False
    assert d.wait_disconnected(3)
    assert broker.broker.authenticator.verified.client_pks() == []
    assert device(client.full_username, password, "a").connect() == 5  # disabled, right password


def test_a_login_that_raced_a_revocation_is_refused(
    org: Organization, make_client: MakeClient, device: MakeDevice, broker: BrokerThread
) -> None:
    """A revocation that commits after the password was verified (and whose hint found no session)
    is caught before the CONNACK: the login is refused, no session opens."""
    client, password = make_client(org, "sensor-1")
    assert broker.broker is not None
    auth = broker.broker.authenticator
    real_check = auth.check

    def check_then_lose_the_race(username: str | None, secret: str | None) -> Login | Refusal:
        outcome = real_check(username, secret)
        client.disable()
        return outcome

    auth.check = check_then_lose_the_race  # type: ignore[method-assign,assignment]
    assert device(client.full_username, password, "a").connect() == 4
    assert broker.broker.sessions == {}


def test_disconnect_session_is_a_plain_kick(
    org: Organization, make_client: MakeClient, device: MakeDevice, broker: BrokerThread
) -> None:
    """The dashboard's Disconnect closes that one connection; the device may log in again."""
    client, password = make_client(org, "sensor-1")
    a = device(client.full_username, password, "a")
    b = device(client.full_username, password, "b")
    assert a.connect() == 0
    assert b.connect() == 0
    wait_for(lambda: LiveSession.objects.filter(client=client).count() == 2)
    row = LiveSession.objects.get(client=client, mqtt_client_id="a")
    outcome = hints.disconnect_session(row.pk)
    assert (outcome.broker_reachable, outcome.count) == (True, 1)
    assert a.wait_disconnected(1.0)
    assert not b.disconnected.is_set()
    assert device(client.full_username, password, "a").connect() == 0
