"""The help pages the guide links to show this organization's real values (cloudsignal/views.py)."""

from typing import Any

from django.test import Client
from django.urls import reverse

from cloudsignal.broker.broker import WEBSOCKET_PATH
from cloudsignal.broker.tls import self_signed_paths
from workspaces.models import Organization


class TestHelp:
    def test_username_format_shows_the_real_organization_id(
        self, owner_client: Client, org: Organization
    ) -> None:
        page = owner_client.get(reverse("help-username-format")).content.decode()
        assert f"agent-research-01@{org.pk}" in page

    def test_first_connection_shows_host_ports_and_the_certificate(
        self, owner_client: Client, org: Organization, settings: Any
    ) -> None:
        settings.PUBLIC_HOST = "mqtt.example.net"
        settings.MQTTS_PORT = 18883
        settings.TLS_CERT = ""
        page = owner_client.get(reverse("help-first-connection")).content.decode().replace("<wbr>", "")
        assert f"agent-research-01@{org.pk}" in page
        assert "mqtts://mqtt.example.net:18883" in page
        assert str(self_signed_paths(settings.DATA_DIR)[0]) in page
        assert "--cafile ca.pem" in page and 'tls_set(ca_certs="ca.pem")' in page
        assert reverse("ca-certificate") in page
        assert f"ws://mqtt.example.net:{settings.WS_PORT}{WEBSOCKET_PATH}" in page
