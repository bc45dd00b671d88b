"""Who is online: the broker's node row, its heartbeat, and no stale "online" after a crash."""

from collections.abc import Callable
from datetime import timedelta

from django.utils import timezone

from clients.models import BROKER_STALE_AFTER_SECONDS, BrokerNode, LiveSession, MqttClient
from cloudsignal.broker.config import BrokerOptions
from cloudsignal.broker.runner import BrokerThread
from tests.broker.devices import Device
from tests.support.waiting import wait_for
from workspaces.models import Organization

MakeClient = Callable[..., tuple[MqttClient, str]]


def test_a_crashed_brokers_sessions_are_not_shown_and_are_removed_at_the_next_start(
    org: Organization,
    make_client: MakeClient,
    start_broker: Callable[[BrokerOptions], BrokerThread],
    broker_options: BrokerOptions,
) -> None:
    client, _password = make_client(org, "sensor-1")
    long_ago = timezone.now() - timedelta(seconds=BROKER_STALE_AFTER_SECONDS + 5)
    crashed = BrokerNode.objects.create(pid=1, heartbeat=long_ago)
    LiveSession.objects.create(node=crashed, client=client, mqtt_client_id="ghost")
    assert not LiveSession.objects.alive().exists()

    broker = start_broker(broker_options)
    assert not BrokerNode.objects.filter(pk=crashed.pk).exists()
    assert not LiveSession.objects.exists()
    assert broker.broker is not None
    assert BrokerNode.objects.filter(pk=broker.broker.presence.node_id).exists()


def test_a_live_session_is_listed_while_connected(
    org: Organization, make_client: MakeClient, device: Callable[..., Device], broker: BrokerThread
) -> None:
    client, password = make_client(org, "sensor-1")
    d = device(client.full_username, password, "probe")
    assert d.connect() == 0
    listed = LiveSession.objects.alive().filter(client=client, mqtt_client_id="probe")
    wait_for(listed.exists)
    d.close()
    wait_for(lambda: not LiveSession.objects.filter(client=client).exists())


def test_a_broker_whose_node_row_vanished_registers_again_with_its_sessions(
    org: Organization, make_client: MakeClient, device: Callable[..., Device], broker: BrokerThread
) -> None:
    """If another broker took this one for dead (it was paused too long), the next heartbeat puts
    its node and sessions back."""
    client, password = make_client(org, "sensor-1")
    d = device(client.full_username, password, "probe")
    assert d.connect() == 0
    wait_for(lambda: LiveSession.objects.filter(client=client).exists())
    BrokerNode.objects.all().delete()
    wait_for(lambda: LiveSession.objects.alive().filter(client=client).exists(), timeout=10)
