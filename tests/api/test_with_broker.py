"""The API against a real broker and paho devices: a client made through the API logs in, and a
disconnect or a delete through the API has ended its live session when the response arrives."""

from collections.abc import Callable

import pytest

from clients.models import LiveSession, MqttClient
from tests.api.conftest import Api
from tests.broker.devices import Device
from tests.support.waiting import wait_for

pytestmark = pytest.mark.broker


def test_disconnect_and_delete_through_the_api_end_the_live_session(
    api: Callable[..., Api], admin_key: str, device: Callable[..., Device]
) -> None:
    caller = api(admin_key)
    created = caller.call("POST", "/clients", {"username": "agent-api"})
    assert created.status_code == 201
    client_id, full_username, password = (created.json()[k] for k in ("id", "full_username", "password"))

    phone = device(full_username, password, "phone")
    assert phone.connect() == 0
    wait_for(lambda: LiveSession.objects.filter(client_id=client_id).exists(), timeout=10)
    assert [s["mqtt_client_id"] for s in caller.call("GET", f"/clients/{client_id}/sessions").json()] == [
        "phone"
    ]

    # Disconnect: a plain kick, the device may come back.
    response = caller.call("POST", f"/clients/{client_id}/disconnect")
    assert response.json() == {"sessions_ended": 1, "broker_reachable": True}
    assert phone.wait_disconnected(1.0)
    phone = device(full_username, password, "phone")
    assert phone.connect() == 0
    wait_for(lambda: LiveSession.objects.filter(client_id=client_id).exists(), timeout=10)

    # Delete: the broker has ended the session before it answered, and the answer counts it.
    response = caller.call("DELETE", f"/clients/{client_id}")
    assert response.json() == {"deleted": True, "sessions_ended": 1, "broker_reachable": True}
    assert phone.wait_disconnected(1.0)
    assert not MqttClient.objects.filter(pk=client_id).exists()
    assert device(full_username, password, "again").connect() != 0
