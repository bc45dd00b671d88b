"""The dashboard's view of abuse, against a real broker: a throttled client's page says so and an admin
clears it; the organization's throttled list; a client's recent connections and why each ended."""

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from clients.models import ConnectionRecord, MqttClient
from cloudsignal.broker.runner import BrokerThread
from tests.broker.devices import Device, raw_login
from tests.support.waiting import wait_for
from workspaces.models import Organization

pytestmark = pytest.mark.broker

HTMX = {"HX-Request": "true"}
MakeClient = Callable[..., tuple[MqttClient, str]]
MakeDevice = Callable[..., Device]


def test_a_throttled_client_is_shown_and_an_admin_clears_it(
    owner_client: Client,
    viewer_client: Client,
    org: Organization,
    make_client: MakeClient,
    broker: BrokerThread,
) -> None:
    client, password = make_client(org, "sensor-1")
    assert broker.broker is not None
    broker.broker.throttle.base_backoff = 60.0
    port = broker.ports["mqtt"]
    for _ in range(broker.broker.throttle.free_failures + 1):
        assert raw_login(port, client.full_username, "wrong-password") == 4
    assert raw_login(port, client.full_username, password) == 3

    page = owner_client.get(reverse("clients:detail", args=[client.pk])).content.decode()
    assert "<code>127.0.0.1</code>" in page and "Clear throttle" in page
    listing = owner_client.get(reverse("clients:throttled")).content.decode()
    assert f'href="{reverse("clients:detail", args=[client.pk])}">sensor-1</a>' in listing
    assert (
        "Clear throttle"
        not in viewer_client.get(reverse("clients:detail", args=[client.pk])).content.decode()
    )

    response = owner_client.post(reverse("clients:throttle-clear"), {"username": "sensor-1"}, headers=HTMX)
    # The dialog closes and the page's status line says it (workspaces.http.done: "changeDone").
    assert "Cleared the throttle on sensor-1." in response.headers["HX-Trigger"]
    assert response["HX-Trigger"].startswith('{"throttleCleared"')
    assert raw_login(port, client.full_username, password) == 0
    panel = owner_client.get(reverse("clients:detail-throttle", args=[client.pk]), headers=HTMX)
    assert "Not throttled." in panel.content.decode()
    # The refused-while-throttled episode stays in the history.
    wait_for(lambda: ConnectionRecord.objects.filter(client=client, end_reason="throttled").exists())
    history = owner_client.get(reverse("clients:detail-history", args=[client.pk]), headers=HTMX)
    assert "Throttled" in history.content.decode()


def test_the_client_page_lists_recent_connections_and_why_they_ended(
    owner_client: Client, org: Organization, make_client: MakeClient, device: MakeDevice
) -> None:
    client, password = make_client(org, "sensor-1")
    d = device(client.full_username, password, "kitchen")
    assert d.connect() == 0
    d.close()
    client.disable()
    assert device(client.full_username, password, "kitchen").connect() == 5
    wait_for(lambda: ConnectionRecord.objects.filter(client=client).count() == 2)
    page = owner_client.get(reverse("clients:detail", args=[client.pk])).content.decode()
    assert "Recent connections" in page
    assert page.count("<code>kitchen</code>") == 2
    assert "Normal disconnect" in page and "Client disabled" in page and "refused" in page
