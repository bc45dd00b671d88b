"""The dashboard against a real broker: what it creates logs in, what it revokes ends, and it says so."""

import re
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from clients.models import LiveSession, MqttClient
from tests.broker.devices import Device
from tests.support.waiting import wait_for
from workspaces.models import Organization

pytestmark = pytest.mark.broker

HTMX = {"HX-Request": "true"}
MakeDevice = Callable[..., Device]


def revealed_password(body: str) -> str:
    found = re.search(r'id="new-password" class="mono" value="([^"]+)"', body)
    assert found, "no password in the reveal"
    return found.group(1)


def test_create_disconnect_reset_and_delete_reach_the_broker(
    owner_client: Client, org: Organization, device: MakeDevice
) -> None:
    """A client made in the dashboard connects; Disconnect, Reset Password and Delete end its live
    sessions at once and the dashboard says how many ended."""
    data = {"username": "agent-live", "password": "", "workspace": org.default_workspace.pk}
    data["password"] = owner_client.get(reverse("clients:create")).context["form"]["password"].value()
    password = revealed_password(
        owner_client.post(reverse("clients:create"), data, headers=HTMX).content.decode()
    )
    client = MqttClient.objects.get(username="agent-live")

    phone = device(client.full_username, password, "phone")
    assert phone.connect() == 0
    wait_for(lambda: LiveSession.objects.filter(client=client).exists(), timeout=10)
    assert "Online · 1 session" in owner_client.get(reverse("clients:list")).content.decode()
    sessions = owner_client.get(reverse("clients:detail-sessions", args=[client.pk]), headers=HTMX)
    assert "phone" in sessions.content.decode()

    # Disconnect: a plain kick; the device may come back.
    row = LiveSession.objects.get(client=client)
    response = owner_client.post(reverse("clients:session-disconnect", args=[row.pk]), headers=HTMX)
    assert "1 live session was disconnected." in response["HX-Trigger"]  # the status line
    assert phone.wait_disconnected(2.0)
    phone = device(client.full_username, password, "phone")
    assert phone.connect() == 0
    wait_for(lambda: LiveSession.objects.filter(client=client).exists(), timeout=10)

    # Reset Password: the session ends and the old password no longer logs in.
    response = owner_client.post(
        reverse("clients:reset-password", args=[client.pk]),
        {"password": "a-brand-new-password-9"},
        headers=HTMX,
    )
    assert "1 live session was disconnected." in response.content.decode()
    assert phone.wait_disconnected(2.0)
    assert device(client.full_username, password, "old").connect() == 4
    tablet = device(client.full_username, "a-brand-new-password-9", "tablet")
    assert tablet.connect() == 0
    wait_for(lambda: LiveSession.objects.filter(client=client).exists(), timeout=10)

    # Delete: gone, disconnected, and the list says so.
    owner_client.post(reverse("clients:delete", args=[client.pk]), headers=HTMX)
    assert tablet.wait_disconnected(2.0)
    page = owner_client.get(reverse("clients:list")).content.decode()
    assert f"Deleted {client.full_username}. 1 live session was disconnected." in page
