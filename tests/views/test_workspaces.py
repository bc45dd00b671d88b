"""Workspaces, Settings → Organization and the Sessions page."""

import re
from collections.abc import Callable
from typing import Any

from django.test import Client
from django.urls import reverse

from clients.models import LiveSession, MqttClient
from workspaces.models import Organization, Workspace

HTMX = {"HX-Request": "true"}


class TestWorkspaces:
    def test_list_counts_clients(
        self, owner_client: Client, org: Organization, staging: Workspace, make_client: Callable[..., Any]
    ) -> None:
        make_client(org, "agent-1", workspace=staging)
        make_client(org, "agent-2", workspace=staging)
        page = owner_client.get(reverse("workspaces:list")).content.decode()
        assert "staging" in page and "2 clients" in page and "Default" in page

    def test_create_and_rename(self, owner_client: Client, org: Organization) -> None:
        response = owner_client.post(reverse("workspaces:create"), {"name": " production "}, headers=HTMX)
        assert "workspaceCreated" in response["HX-Trigger"]
        workspace = Workspace.objects.in_org(org).get(name="production")
        owner_client.post(reverse("workspaces:rename", args=[workspace.pk]), {"name": "prod"})
        workspace.refresh_from_db()
        assert workspace.name == "prod"

    def test_client_ids_are_bound_unless_an_admin_unbinds_them(
        self, owner_client: Client, org: Organization
    ) -> None:
        """New workspaces bind client ids to their credential; the edit dialog shows and changes it."""
        owner_client.post(reverse("workspaces:create"), {"name": "production"})
        workspace = Workspace.objects.in_org(org).get(name="production")
        assert workspace.bind_client_ids
        page = owner_client.get(reverse("workspaces:rename", args=[workspace.pk])).content.decode()
        assert re.search(r'<input type="checkbox" name="bind_client_ids"[^>]* checked', page)
        owner_client.post(reverse("workspaces:rename", args=[workspace.pk]), {"name": "production"})
        workspace.refresh_from_db()
        assert not workspace.bind_client_ids
        owner_client.post(
            reverse("workspaces:rename", args=[workspace.pk]), {"name": "production", "bind_client_ids": "on"}
        )
        workspace.refresh_from_db()
        assert workspace.bind_client_ids

    def test_names_are_unique_regardless_of_case(
        self, owner_client: Client, org: Organization, staging: Workspace
    ) -> None:
        response = owner_client.post(reverse("workspaces:create"), {"name": "STAGING"}, headers=HTMX)
        assert "already exists" in response.content.decode()
        assert Workspace.objects.in_org(org).count() == 2

    def test_the_default_workspace_is_never_deleted(self, owner_client: Client, org: Organization) -> None:
        default = org.default_workspace
        page = owner_client.get(reverse("workspaces:list")).content.decode()
        assert reverse("workspaces:delete", args=[default.pk]) not in page
        response = owner_client.post(reverse("workspaces:delete", args=[default.pk]))
        assert "cannot be deleted" in response.content.decode()
        assert Workspace.objects.filter(pk=default.pk).exists()

    def test_deleting_a_workspace_with_clients_names_them_first(
        self, owner_client: Client, org: Organization, staging: Workspace, make_client: Callable[..., Any]
    ) -> None:
        client, _ = make_client(org, "agent-doomed", workspace=staging)
        kept, _ = make_client(org, "agent-kept")
        confirm = owner_client.get(reverse("workspaces:delete", args=[staging.pk])).content.decode()
        assert client.full_username in confirm
        assert "Delete workspace and 1 client" in confirm
        assert "live sessions will be disconnected" in confirm
        owner_client.post(reverse("workspaces:delete", args=[staging.pk]))
        assert not Workspace.objects.filter(pk=staging.pk).exists()
        assert list(MqttClient.objects.all()) == [kept]


class TestOrganizationSettings:
    def test_shows_the_organization_id(self, viewer_client: Client, org: Organization) -> None:
        page = viewer_client.get(reverse("workspaces:organization")).content.decode()
        assert "Organization ID" in page and str(org.pk) in page
        assert "Only owners can rename" in page

    def test_owner_renames(self, owner_client: Client, org: Organization) -> None:
        response = owner_client.post(reverse("workspaces:organization"), {"name": "  Acme  "})
        assert response.status_code == 302
        org.refresh_from_db()
        assert org.name == "Acme"

    def test_empty_name_is_refused(self, owner_client: Client, org: Organization) -> None:
        response = owner_client.post(reverse("workspaces:organization"), {"name": "   "})
        assert response.status_code == 200 and response.context["form"].errors
        org.refresh_from_db()
        assert org.name == "Organization A"


class TestSessions:
    def test_lists_live_sessions_of_the_organization(
        self, owner_client: Client, outsider_client: Client, live_session: LiveSession
    ) -> None:
        page = owner_client.get(reverse("clients:sessions")).content.decode()
        assert live_session.client.full_username in page and "192.0.2.7" in page and "Disconnect" in page
        assert "No live sessions" in outsider_client.get(reverse("clients:sessions")).content.decode()

    def test_viewers_see_no_disconnect(self, viewer_client: Client, live_session: LiveSession) -> None:
        page = viewer_client.get(reverse("clients:sessions")).content.decode()
        assert "agent-research-01" in page and ">Disconnect<" not in page

    def test_disconnect_says_the_client_may_reconnect(
        self, owner_client: Client, live_session: LiveSession
    ) -> None:
        url = reverse("clients:session-disconnect", args=[live_session.pk])
        assert "may reconnect" in owner_client.get(url).content.decode()
        response = owner_client.post(url, headers=HTMX)
        assert "sessionDisconnected" in response["HX-Trigger"]
        # Without a broker the row stays until the broker's own cleanup; the message says why.
        assert "broker is not running" in response["HX-Trigger"]
