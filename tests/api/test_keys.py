"""API keys: shown once, then never again. The key exists in one HTTP response (the POST that made
it, no-store, out of htmx history) or one command's output; never in the database in clear, a log
line, or any later response."""

import json
import re
from io import StringIO
from typing import Any

from django.apps import apps
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from tests.api.conftest import Api
from tests.support.log_capture import Collect
from workspaces import apikeys
from workspaces.models import ApiKey, AuditEntry, Organization

HTMX = {"HX-Request": "true"}


def revealed_key(body: str) -> str:
    found = re.search(r'id="new-api-key" class="mono" value="([^"]+)"', body)
    assert found, "no key in the reveal"
    return found.group(1)


def every_stored_value() -> str:
    """Every row of every table, as text."""
    return "\n".join(
        repr(list(model._default_manager.values_list())) for model in apps.get_models() if model._meta.managed
    )


def test_a_key_is_shown_once_and_found_nowhere_after(
    owner_client: Client, org: Organization, api: Any, every_log_line: Collect, capsys: Any
) -> None:
    response = owner_client.post(
        reverse("workspaces:apikey-create"),
        {"name": "deploy", "role": "admin", "expires_days": "30"},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert 'hx-history="false"' in body
    key = revealed_key(body)
    assert apikeys.KEY_PATTERN.fullmatch(key)
    stored = ApiKey.objects.get()
    assert stored.created_by is not None
    assert (stored.name, stored.role, stored.created_by.email, stored.prefix) == (
        "deploy",
        "admin",
        "owner@a.example",
        key[:12],
    )
    assert stored.key_hash == apikeys.key_hash(key)

    # The key at work, including the ways it can be refused, with DEBUG's SQL logging on.
    caller: Api = api(key)
    later = [
        caller.call("GET", "/key"),
        caller.call("POST", "/clients", {"username": "agent-made-by-key"}),
        caller.call("GET", "/audit"),
        api(key, scheme="Token").call("GET", "/clients"),
        api(key + "x").call("GET", "/clients"),
        owner_client.get(reverse("workspaces:apikeys")),
        owner_client.get(reverse("workspaces:audit")),
    ]
    assert [r.status_code for r in later] == [200, 201, 200, 401, 401, 200, 200]
    call_command("apikeys", "list", "--org", str(org.pk), "--json")
    owner_client.post(reverse("workspaces:apikey-revoke", args=[stored.pk]))
    assert caller.call("GET", "/key").status_code == 401
    later.append(owner_client.get(reverse("workspaces:apikeys")))

    assert key[:12] in later[5].content.decode()  # the list shows the prefix
    for response in later:
        assert key not in response.content.decode()
    assert key not in capsys.readouterr().out
    assert key not in every_stored_value()
    log = "\n".join(every_log_line.lines)
    assert "INSERT INTO" in log and "Unauthorized: /api/v1/clients" in log  # the capture saw them
    assert key not in log
    assert key[12:] not in log
    # The audit trail names the key by its name and prefix.
    assert AuditEntry.objects.filter(action="client.created", actor=f"apikey:deploy ({key[:12]})").exists()
    assert AuditEntry.objects.filter(action="apikey.revoked", actor="owner@a.example").exists()


def test_the_command_line_prints_a_key_once(org: Organization, api: Any) -> None:
    out = StringIO()
    call_command(
        "apikeys",
        "create",
        "--org",
        str(org.pk),
        "--name",
        "ci",
        "--role",
        "viewer",
        "--expires-days",
        "7",
        "--json",
        stdout=out,
    )
    made = json.loads(out.getvalue())
    key = made.pop("key")
    assert (made["name"], made["role"], made["state"]) == ("ci", "viewer", "active")
    assert made["created_by"].startswith("cli:")
    assert made["expires"] is not None
    assert api(key).call("GET", "/key").json()["role"] == "viewer"

    out = StringIO()
    call_command("apikeys", "list", "--org", str(org.pk), "--json", stdout=out)
    listed = json.loads(out.getvalue())
    assert [k["prefix"] for k in listed] == [key[:12]]
    assert listed[0]["last_used"] is not None
    assert key not in out.getvalue()

    out = StringIO()
    call_command("apikeys", "revoke", "--org", str(org.pk), key[:12], "--json", stdout=out)
    assert json.loads(out.getvalue())["state"] == "revoked"
    assert api(key).call("GET", "/key").status_code == 401


def test_viewers_see_keys_but_cannot_make_or_revoke_them(viewer_client: Client, org: Organization) -> None:
    stored, _ = apikeys.create(organization=org, name="deploy", role="admin")
    assert viewer_client.get(reverse("workspaces:apikeys")).status_code == 200
    assert (
        viewer_client.post(reverse("workspaces:apikey-create"), {"name": "x", "role": "admin"}).status_code
        == 403
    )
    assert viewer_client.post(reverse("workspaces:apikey-revoke", args=[stored.pk])).status_code == 403
    assert ApiKey.objects.count() == 1
    assert ApiKey.objects.get().revoked is None
