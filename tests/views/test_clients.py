"""The Clients pages do what the guide "Create a client" says, step by step."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from clients import views
from clients.credentials import GENERATED_LENGTH
from clients.models import LiveSession, MqttClient
from workspaces.models import Organization, Workspace

HTMX = {"HX-Request": "true"}
MakeClient = Callable[..., tuple[MqttClient, str]]


def create(browser: Client, org: Organization, **fields: Any) -> Any:
    data = {"username": "agent-research-01", "password": "", "workspace": org.default_workspace.pk, **fields}
    return browser.post(reverse("clients:create"), data, headers=HTMX)


class TestList:
    def test_shows_the_organizations_clients_only(
        self, owner_client: Client, org: Organization, other_org: Organization, make_client: MakeClient
    ) -> None:
        make_client(org, "agent-mine")
        make_client(other_org, "agent-theirs")
        page = owner_client.get(reverse("clients:list")).content.decode()
        assert f"agent-mine@{org.pk}" in page
        assert "agent-theirs" not in page
        assert "Create Client" in page

    def test_empty_state_helps(self, owner_client: Client, org: Organization) -> None:
        page = owner_client.get(reverse("clients:list")).content.decode()
        assert "No clients yet" in page
        assert "Create your first client" in page

    def test_viewers_see_no_create_button(self, viewer_client: Client, org: Organization) -> None:
        assert "Create Client" not in viewer_client.get(reverse("clients:list")).content.decode()

    def test_search_and_workspace_filter(
        self, owner_client: Client, org: Organization, staging: Workspace, make_client: MakeClient
    ) -> None:
        make_client(org, "sensor-hall-1")
        make_client(org, "agent-alpha", workspace=staging)
        make_client(org, "agent-beta")
        found = owner_client.get(reverse("clients:list"), {"q": "AGENT"}).content.decode()
        assert "agent-alpha" in found and "agent-beta" in found and "sensor-hall-1" not in found
        found = owner_client.get(
            reverse("clients:list"), {"q": "agent", "workspace": str(staging.pk)}
        ).content.decode()
        assert "agent-alpha" in found and "agent-beta" not in found
        nothing = owner_client.get(reverse("clients:list"), {"q": "nobody"}).content.decode()
        assert "No clients match" in nothing

    def test_htmx_gets_the_table_alone(self, owner_client: Client, a_client: MqttClient) -> None:
        response = owner_client.get(reverse("clients:list"), {"q": "agent"}, headers=HTMX)
        body = response.content.decode()
        assert body.lstrip().startswith('<div id="client-table"')
        assert "agent-research-01" in body
        assert "HX-Request" in response["Vary"]

    def test_paginates(
        self,
        owner_client: Client,
        org: Organization,
        make_client: MakeClient,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(views, "CLIENTS_PER_PAGE", 2)
        for n in range(5):
            make_client(org, f"agent-{n}")
        first = owner_client.get(reverse("clients:list")).content.decode()
        assert "agent-0" in first and "agent-2" not in first and "Page 1 of 3" in first
        last = owner_client.get(reverse("clients:list"), {"page": 3}).content.decode()
        assert "agent-4" in last and "agent-0" not in last

    def test_online_status_counts_live_sessions(
        self, owner_client: Client, live_session: LiveSession, org: Organization, make_client: MakeClient
    ) -> None:
        make_client(org, "agent-offline")
        page = owner_client.get(reverse("clients:list")).content.decode()
        assert "Online · 1 session" in page
        assert "Never connected" in page

    def test_sessions_of_a_dead_broker_do_not_count(
        self, owner_client: Client, live_session: LiveSession
    ) -> None:
        live_session.node.heartbeat = live_session.node.heartbeat.replace(year=2000)
        live_session.node.save()
        assert "Online ·" not in owner_client.get(reverse("clients:list")).content.decode()


class TestCreate:
    def test_form_is_prefilled_with_a_strong_password_and_the_default_workspace(
        self, owner_client: Client, org: Organization, staging: Workspace
    ) -> None:
        response = owner_client.get(reverse("clients:create"))
        form = response.context["form"]
        assert len(form["password"].value()) >= 24
        assert len(form["password"].value()) == GENERATED_LENGTH
        assert form["workspace"].value() == org.default_workspace.pk
        page = response.content.decode()
        assert "agent-research-01" in page  # the naming hint
        assert "Generate" in page
        assert "no-store" in response["Cache-Control"]

    def test_htmx_gets_a_dialog(self, owner_client: Client, org: Organization) -> None:
        body = owner_client.get(reverse("clients:create"), headers=HTMX).content.decode()
        assert body.lstrip().startswith("<dialog data-open")
        assert 'id="client-create"' in body

    def test_a_refused_form_replaces_only_itself_inside_its_dialog(
        self, owner_client: Client, org: Organization
    ) -> None:
        """The dialog's form posts back into its own element (hx-target): the answer is that element alone,
        with the error beside the field, never a second <dialog> inside the first."""
        data = {"username": "bad name", "password": "", "workspace": org.default_workspace.pk}
        headers = {**HTMX, "HX-Target": "client-create"}
        response = owner_client.post(reverse("clients:create"), data, headers=headers)
        body = response.content.decode()
        assert response.status_code == 200
        assert body.lstrip().startswith('<section id="client-create"') and "<dialog" not in body
        assert "no @, spaces or dots" in body
        assert not MqttClient.objects.exists()

    def test_generate_gives_a_new_password_each_time(self, owner_client: Client, org: Organization) -> None:
        first = owner_client.get(reverse("clients:generate-password"), headers=HTMX)
        second = owner_client.get(reverse("clients:generate-password"), headers=HTMX)
        assert 'id="id_password"' in first.content.decode()
        assert first.content != second.content
        assert "no-store" in first["Cache-Control"]

    def test_create_reveals_the_password_once(self, owner_client: Client, org: Organization) -> None:
        response = create(owner_client, org, password="my-own-password-42")
        body = response.content.decode()
        client = MqttClient.objects.get(username="agent-research-01")
        assert response.status_code == 200
        assert client.check_password("my-own-password-42")
        assert client.organization == org and client.workspace == org.default_workspace
        assert f"agent-research-01@{org.pk}" in body
        assert 'value="my-own-password-42"' in body
        assert "Copy the password now. It won't be shown again." in body
        assert 'hx-history="false"' in body
        assert "no-store" in response["Cache-Control"]
        assert "clientCreated" in response["HX-Trigger"]
        for example in (
            "mqtt.connect(",
            "paho.mqtt.client",
            "mosquitto_pub -h localhost -p 8883 --cafile ca.pem",
        ):
            assert example in body
        assert "YOUR_PASSWORD" in body

    def test_create_without_javascript_renders_the_whole_page(
        self, owner_client: Client, org: Organization
    ) -> None:
        response = owner_client.post(
            reverse("clients:create"),
            {"username": "agent-1", "password": "my-own-password-42", "workspace": org.default_workspace.pk},
        )
        assert response.status_code == 200
        assert "<html" in response.content.decode() and "my-own-password-42" in response.content.decode()

    @pytest.mark.parametrize(
        ("username", "message"),
        [
            ("agent@research", "no @, spaces or dots"),
            ("agent research", "no @, spaces or dots"),
            ("a" * 65, "at most 64 characters"),
            ("-agent", "starting and ending with a letter or digit"),
        ],
    )
    def test_bad_usernames_are_refused_beside_the_field(
        self, owner_client: Client, org: Organization, username: str, message: str
    ) -> None:
        response = create(
            owner_client, org, username=username, password="my-own-password-42", description="kept"
        )
        body = response.content.decode()
        assert response.status_code == 200
        assert message in body
        assert 'aria-invalid="true"' in body
        assert 'value="my-own-password-42"' in body and 'value="kept"' in body
        assert not MqttClient.objects.exists()

    def test_duplicate_username_is_refused_regardless_of_case(
        self, owner_client: Client, org: Organization, a_client: MqttClient
    ) -> None:
        body = create(
            owner_client, org, username="Agent-Research-01", password="my-own-password-42"
        ).content.decode()
        assert "already exists in this organization" in body
        assert MqttClient.objects.count() == 1

    def test_the_same_username_in_another_organization_is_fine(
        self, owner_client: Client, org: Organization, other_org: Organization, make_client: MakeClient
    ) -> None:
        make_client(other_org, "agent-research-01")
        assert create(owner_client, org, password="my-own-password-42").status_code == 200
        assert MqttClient.objects.in_org(org).filter(username="agent-research-01").exists()

    @pytest.mark.parametrize("password", ["short-pw", "aaaaaaaaaaaaaaaa", " padded-password-1 "])
    def test_weak_own_passwords_are_refused(
        self, owner_client: Client, org: Organization, password: str
    ) -> None:
        response = create(owner_client, org, password=password)
        assert response.context["form"].errors["password"]
        assert not MqttClient.objects.exists()

    def test_guessable_own_passwords_are_refused_with_a_hint_to_generate(
        self, owner_client: Client, org: Organization
    ) -> None:
        """The passwords a 25-word list found in 0.35 s: common ones, common ones dressed up with digits
        or symbols, keyboard and digit runs, repeats, and too little variety for their length."""
        guessable = [
            "password1234",
            "123456789012",
            "qwertyuiop12",
            "iloveyou2024",
            "letmein12345",
            "Summer2024!!!",
            "monkey123456",
            "dragon2020!!",
            "p@ssw0rd1234",
            "abcdefgh1234",
            "zaq12wsxcde3",
            "trustno1trustno1",
            "mysecretpass",
            "football1234",
            "sunshine2025",
            "welcome12345",
            "1q2w3e4r5t6y",
            "asdfghjkl123",
            "qazwsxedcrfv",
            "baseball!!!!",
            "shadow123456",
            "princess2024",
            "administrator",
            "changeme1234",
            "Passw0rd2024",
        ]
        for password in guessable:
            response = create(owner_client, org, password=password)
            [error] = response.context["form"].errors["password"]
            assert "Generate one instead" in error, password
        assert not MqttClient.objects.exists()

    def test_another_organizations_workspace_is_refused(
        self, owner_client: Client, org: Organization, other_org: Organization
    ) -> None:
        response = create(
            owner_client, org, password="my-own-password-42", workspace=other_org.default_workspace.pk
        )
        assert "workspace" in response.context["form"].errors
        assert not MqttClient.objects.exists()

    def test_the_password_is_in_no_later_page(self, owner_client: Client, org: Organization) -> None:
        """After the one response, the password is nowhere: not in a page, the session or a message."""
        create(owner_client, org, password="my-own-password-42")
        client = MqttClient.objects.get()
        for path in (reverse("clients:list"), reverse("clients:detail", args=[client.pk])):
            assert "my-own-password-42" not in owner_client.get(path).content.decode()
        assert "my-own-password-42" not in str(dict(owner_client.session.items()))
        assert "my-own-password-42" not in str(owner_client.cookies)


class TestDetail:
    def test_shows_the_client(
        self, owner_client: Client, a_client: MqttClient, live_session: LiveSession
    ) -> None:
        # Without the <wbr> break hints of long names.
        page = owner_client.get(reverse("clients:detail", args=[a_client.pk])).content.decode()
        page = page.replace("<wbr>", "")
        for text in (
            a_client.full_username,
            "Default",
            "Enabled",
            "Edit",
            "Reset Password",
            "Delete",
            "192.0.2.7",
        ):
            assert text in page

    def test_live_sessions_refresh_by_polling(self, owner_client: Client, a_client: MqttClient) -> None:
        url = reverse("clients:detail-sessions", args=[a_client.pk])
        assert "No live sessions" in owner_client.get(url, headers=HTMX).content.decode()
        page = owner_client.get(reverse("clients:detail", args=[a_client.pk])).content.decode()
        assert f'hx-get="{url}" hx-trigger="every 3s"' in page

    def test_edit_renames_moves_and_disables(
        self, owner_client: Client, org: Organization, a_client: MqttClient, staging: Workspace
    ) -> None:
        form = owner_client.get(reverse("clients:edit", args=[a_client.pk])).content.decode()
        assert "Changing the username changes the full username" in form
        response = owner_client.post(
            reverse("clients:edit", args=[a_client.pk]),
            {"username": "agent-renamed", "workspace": staging.pk, "description": "moved"},
            headers=HTMX,
        )
        assert response.status_code == 200 and "clientChanged" in response["HX-Trigger"]
        a_client.refresh_from_db()
        assert (a_client.username, a_client.workspace, a_client.enabled, a_client.description) == (
            "agent-renamed",
            staging,
            False,
            "moved",
        )
        assert a_client.credential_version > 1

    def test_edit_refuses_a_taken_username(
        self, owner_client: Client, org: Organization, a_client: MqttClient, make_client: MakeClient
    ) -> None:
        make_client(org, "agent-other")
        response = owner_client.post(
            reverse("clients:edit", args=[a_client.pk]),
            {"username": "AGENT-OTHER", "workspace": org.default_workspace.pk, "enabled": "on"},
            headers=HTMX,
        )
        assert "already exists" in response.content.decode()
        a_client.refresh_from_db()
        assert a_client.username == "agent-research-01"

    def test_reset_password_reveals_a_new_one(self, owner_client: Client, a_client: MqttClient) -> None:
        url = reverse("clients:reset-password", args=[a_client.pk])
        form = owner_client.get(url)
        assert len(form.context["form"]["password"].value()) == GENERATED_LENGTH
        response = owner_client.post(url, {"password": "another-own-password-7"}, headers=HTMX)
        body = response.content.decode()
        assert "Copy the password now. It won't be shown again." in body
        assert 'value="another-own-password-7"' in body
        assert "no-store" in response["Cache-Control"] and "passwordReset" in response["HX-Trigger"]
        a_client.refresh_from_db()
        assert a_client.check_password("another-own-password-7")

    def test_reset_password_refuses_a_weak_one(self, owner_client: Client, a_client: MqttClient) -> None:
        old_hash = a_client.password_hash
        response = owner_client.post(
            reverse("clients:reset-password", args=[a_client.pk]), {"password": "short"}
        )
        assert response.context["form"].errors["password"]
        a_client.refresh_from_db()
        assert a_client.password_hash == old_hash

    def test_delete_confirms_then_deletes(self, owner_client: Client, a_client: MqttClient) -> None:
        confirm = owner_client.get(reverse("clients:delete", args=[a_client.pk])).content.decode()
        assert a_client.full_username in confirm
        assert "live sessions will be disconnected" in confirm
        response = owner_client.post(reverse("clients:delete", args=[a_client.pk]), headers=HTMX)
        assert response["HX-Redirect"] == reverse("clients:list")
        assert not MqttClient.objects.filter(pk=a_client.pk).exists()
        assert (
            f"Deleted {a_client.full_username}." in owner_client.get(reverse("clients:list")).content.decode()
        )
