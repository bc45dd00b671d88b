"""The plaintext password of a create or reset reaches no log line, at any level, from any logger."""

from typing import Any

from django.test import Client
from django.urls import reverse

from clients.models import MqttClient
from tests.support.log_capture import Collect
from workspaces.models import Organization


def test_create_and_reset_never_log_the_password(
    owner_client: Client,
    org: Organization,
    every_log_line: Collect,
    django_capture_on_commit_callbacks: Any,
) -> None:
    htmx = {"HX-Request": "true"}
    passwords = []
    with django_capture_on_commit_callbacks(execute=True):
        # The generated password the form offers, used as offered.
        offered = (
            owner_client.get(reverse("clients:create"), headers=htmx).context["form"]["password"].value()
        )
        passwords.append(offered)
        data = {"username": "agent-logged", "password": offered, "workspace": org.default_workspace.pk}
        # A mistake first: the form comes back with what was typed.
        owner_client.post(reverse("clients:create"), {**data, "username": "bad name"}, headers=htmx)
        response = owner_client.post(reverse("clients:create"), data, headers=htmx)
        assert offered in response.content.decode()
        client = MqttClient.objects.get(username="agent-logged")

        url = reverse("clients:reset-password", args=[client.pk])
        offered_again = owner_client.get(url).context["form"]["password"].value()
        passwords.append(offered_again)
        response = owner_client.post(url, {"password": offered_again})
        assert offered_again in response.content.decode()
        own = "an-admins-own-password-1"
        passwords.append(own)
        owner_client.post(url, {"password": own}, headers=htmx)
        client.refresh_from_db()
        assert client.check_password(own)
        # Not even the "too weak" path.
        passwords.append("weak-pw")
        owner_client.post(url, {"password": "weak-pw"}, headers=htmx)

    log = "\n".join(every_log_line.lines)
    assert "INSERT INTO" in log  # the capture saw the SQL
    assert "broker not reached" in log  # and the revocation hint
    for password in passwords:
        assert password not in log
