"""What admins expect of a list of credentials (issue 13): sorting, bulk actions through the model
verbs, CSV export without secrets, the client's own ACL rules, rules left behind by deleted clients,
overlong input refused, changes that close their dialog, and error pages inside the dashboard."""

import csv
import io
from collections.abc import Callable
from typing import Any

from django.test import Client
from django.urls import reverse

from clients.models import AclRule, LiveSession, MqttClient
from tests.support.hint_fixtures import ControlListener
from workspaces.models import Organization, Workspace

HTMX = {"HX-Request": "true"}
MakeClient = Callable[..., tuple[MqttClient, str]]


def names_in_order(page: str, *names: str) -> list[str]:
    return sorted(names, key=page.index)


class TestSorting:
    def test_usernames_sort_regardless_of_case_and_reverse(
        self, owner_client: Client, org: Organization, make_client: MakeClient
    ) -> None:
        for name in ("Beta-1", "alpha-1", "gamma-1"):
            make_client(org, name)
        page = owner_client.get(reverse("clients:list")).content.decode()
        assert names_in_order(page, ">Beta-1<", ">alpha-1<", ">gamma-1<") == [
            ">alpha-1<",
            ">Beta-1<",
            ">gamma-1<",
        ]
        page = owner_client.get(reverse("clients:list"), {"sort": "-username"}).content.decode()
        assert names_in_order(page, ">Beta-1<", ">alpha-1<", ">gamma-1<") == [
            ">gamma-1<",
            ">Beta-1<",
            ">alpha-1<",
        ]
        assert 'aria-sort="descending"' in page

    def test_by_status_and_an_unknown_sort_falls_back(
        self, owner_client: Client, org: Organization, make_client: MakeClient
    ) -> None:
        off, _ = make_client(org, "aaa-off")
        off.disable()
        make_client(org, "zzz-on")
        page = owner_client.get(reverse("clients:list"), {"sort": "-status"}).content.decode()
        assert names_in_order(page, ">aaa-off<", ">zzz-on<") == [">zzz-on<", ">aaa-off<"]
        assert owner_client.get(reverse("clients:list"), {"sort": "password_hash"}).status_code == 200

    def test_workspace_lists_sort_regardless_of_case(self, owner_client: Client, org: Organization) -> None:
        for name in ("Zeta", "beta", "Alpha"):
            Workspace.objects.create(organization=org, name=name)
        page = owner_client.get(reverse("workspaces:list")).content.decode()
        assert names_in_order(page, "Zeta", "beta", "Alpha") == ["Alpha", "beta", "Zeta"]


class TestExport:
    def test_csv_of_the_filtered_list_without_secrets(
        self, owner_client: Client, org: Organization, staging: Workspace, make_client: MakeClient
    ) -> None:
        make_client(org, "agent-one", workspace=staging, description="=HYPERLINK(1)")
        make_client(org, "sensor-two")
        response = owner_client.get(reverse("clients:export"), {"q": "agent", "sort": "-username"})
        assert response["Content-Type"].startswith("text/csv")
        assert "attachment" in response["Content-Disposition"]
        body = response.content.decode()
        rows = list(csv.DictReader(io.StringIO(body)))
        assert [r["username"] for r in rows] == ["agent-one"]
        assert rows[0]["full_username"] == f"agent-one@{org.pk}"
        assert rows[0]["workspace"] == "staging"
        # A spreadsheet must not run what an admin typed as a description.
        assert rows[0]["description"] == "'=HYPERLINK(1)"
        client = MqttClient.objects.get(username="agent-one")
        assert "password" not in ",".join(rows[0]).replace("password_changed", "")
        assert client.password_hash not in body and "argon2" not in body


class TestBulk:
    def test_confirmation_counts_the_live_sessions_that_will_end(
        self,
        owner_client: Client,
        a_client: MqttClient,
        live_session: LiveSession,
        org: Organization,
        make_client: MakeClient,
    ) -> None:
        other, _ = make_client(org, "agent-two")
        response = owner_client.get(
            reverse("clients:bulk-disable"), {"ids": [a_client.pk, other.pk]}, headers=HTMX
        )
        body = response.content.decode()
        assert "Disable 2 clients?" in body
        assert "1 live session will end." in body
        assert "<dialog" in body

    def test_disable_then_enable_go_through_the_model_verbs(
        self,
        owner_client: Client,
        a_client: MqttClient,
        org: Organization,
        control: ControlListener,
        make_client: MakeClient,
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        other, _ = make_client(org, "agent-two")
        ids = [a_client.pk, other.pk]
        version = a_client.credential_version
        with django_capture_on_commit_callbacks(execute=True):
            response = owner_client.post(reverse("clients:bulk-disable"), {"ids": ids}, headers=HTMX)
        assert response["HX-Reswap"] == "none"
        assert "Disabled 2 clients." in response["HX-Trigger"]
        a_client.refresh_from_db()
        assert not a_client.enabled and a_client.credential_version == version + 1
        # The broker heard about both, as when each is disabled alone.
        changed = {i for m in control.messages if m["op"] == "credentials-changed" for i in m["ids"]}  # type: ignore[attr-defined]
        assert changed == set(ids)
        owner_client.post(reverse("clients:bulk-enable"), {"ids": ids})
        assert MqttClient.objects.filter(pk__in=ids, enabled=True).count() == 2

    def test_delete_and_another_organizations_ids_are_ignored(
        self, owner_client: Client, a_client: MqttClient, other_org: Organization, make_client: MakeClient
    ) -> None:
        theirs, _ = make_client(other_org, "agent-theirs")
        response = owner_client.post(reverse("clients:bulk-delete"), {"ids": [a_client.pk, theirs.pk]})
        assert response.status_code == 302
        assert not MqttClient.objects.filter(pk=a_client.pk).exists()
        assert MqttClient.objects.filter(pk=theirs.pk).exists()

    def test_nothing_selected_says_so(self, owner_client: Client, org: Organization) -> None:
        response = owner_client.post(reverse("clients:bulk-delete"), {"ids": ["x", "987654"]})
        assert response.status_code == 200
        assert "No clients selected" in response.content.decode()


class TestClientRules:
    def test_client_page_lists_its_rules_in_order_and_the_deciding_one(
        self, owner_client: Client, a_client: MqttClient
    ) -> None:
        workspace = a_client.workspace
        AclRule.objects.create(workspace=workspace, position=0, client="sensor-*", topic="x/#")
        first = AclRule.objects.create(
            workspace=workspace, position=1, client="agent-*", topic="a/#", permission="deny"
        )
        AclRule.objects.create(workspace=workspace, position=2, client="*", topic="b/#")
        AclRule.objects.create(workspace=workspace, position=3, client="AGENT-RESEARCH-01", topic="c/#")
        page = owner_client.get(reverse("clients:detail", args=[a_client.pk])).content.decode()
        section = page[page.index('id="client-rules"') :]
        # Topics break after each / (<wbr>); the sensor-* rule is for other clients.
        assert "x/<wbr>#" not in section
        assert section.index("a/<wbr>#") < section.index("b/<wbr>#") < section.index("c/<wbr>#")
        response = owner_client.get(
            reverse("clients:detail", args=[a_client.pk]),
            {"action": "publish", "topic": "a/1"},
            headers={**HTMX, "HX-Target": "client-rules"},
        )
        body = response.content.decode()
        assert "<html" not in body and 'id="client-decision"' in body
        assert "Denied" in body and "rule 2:" in body
        decides = body[body.index('class="decides"') :]
        assert decides.index("a/<wbr>#") < decides.index("</tr>")
        assert f"{first.pk}" and "decides</span>" in decides


class TestRulesOfMissingClients:
    def test_deleting_a_client_offers_to_remove_the_rules_naming_it(
        self, owner_client: Client, a_client: MqttClient
    ) -> None:
        workspace = a_client.workspace
        AclRule.objects.create(workspace=workspace, position=0, client="agent-research-01", topic="mine/#")
        AclRule.objects.create(workspace=workspace, position=1, client="agent-*", topic="prefix/#")
        page = owner_client.get(reverse("clients:delete", args=[a_client.pk])).content.decode()
        assert "Also remove the 1 ACL rule naming" in page
        response = owner_client.post(reverse("clients:delete", args=[a_client.pk]), {"remove_rules": "1"})
        assert response.status_code == 302
        assert list(AclRule.objects.in_workspace(workspace).values_list("topic", "position")) == [
            ("prefix/#", 0)
        ]

    def test_without_the_box_the_rules_stay_and_are_flagged(
        self,
        owner_client: Client,
        a_client: MqttClient,
        control: ControlListener,
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        workspace = a_client.workspace
        AclRule.objects.create(workspace=workspace, position=0, client="agent-research-01", topic="mine/#")
        AclRule.objects.create(workspace=workspace, position=1, client="*", topic="all/#")
        owner_client.post(reverse("clients:delete", args=[a_client.pk]))
        page = owner_client.get(reverse("acl:rules")).content.decode()
        assert "1 rule names a client that does not exist" in page and "no such client" in page
        dialog = owner_client.get(reverse("acl:remove-missing", args=[workspace.pk]), headers=HTMX)
        assert "Remove 1 rule" in dialog.content.decode()
        with django_capture_on_commit_callbacks(execute=True):
            response = owner_client.post(reverse("acl:remove-missing", args=[workspace.pk]), headers=HTMX)
        assert "Removed 1 rule naming missing clients." in response["HX-Trigger"]
        assert list(AclRule.objects.in_workspace(workspace).values_list("topic", "position")) == [
            ("all/#", 0)
        ]
        assert [workspace.pk] in control.rules_changed()

    def test_the_tester_warns_about_a_client_that_does_not_exist(
        self, owner_client: Client, org: Organization
    ) -> None:
        workspace = org.default_workspace
        data = {"username": "agent-001", "action": "publish", "topic": "a/b"}
        body = owner_client.post(reverse("acl:simulate", args=[workspace.pk]), data).content.decode()
        assert 'id="decision"' in body
        assert "No client of Default is named" in body


class TestForms:
    def test_overlong_input_is_refused_with_the_limit_not_cut(
        self, owner_client: Client, org: Organization
    ) -> None:
        data = {"username": "a" * 65, "password": "", "workspace": org.default_workspace.pk}
        body = owner_client.post(reverse("clients:create"), data, headers=HTMX).content.decode()
        assert "at most 64 characters (it has 65)" in body
        assert not MqttClient.objects.exists()
        body = owner_client.post(
            reverse("workspaces:create"), {"name": "w" * 200}, headers=HTMX
        ).content.decode()
        assert "at most 64 characters (it has 200)" in body
        # No maxlength in the page: the browser would cut the input silently.
        assert "maxlength" not in owner_client.get(reverse("clients:create")).content.decode()

    def test_a_duplicate_workspace_names_the_existing_one(
        self, owner_client: Client, staging: Workspace
    ) -> None:
        body = owner_client.post(reverse("workspaces:create"), {"name": "STAGING"}).content.decode()
        assert "A workspace named staging already exists." in body

    def test_the_default_workspace_is_not_named_twice(self, owner_client: Client, org: Organization) -> None:
        assert "Default (default)" not in owner_client.get(reverse("clients:create")).content.decode()

    def test_a_change_closes_its_dialog_and_says_what_happened(
        self, owner_client: Client, a_client: MqttClient
    ) -> None:
        data = {"username": "agent-research-01", "workspace": a_client.workspace_id, "description": "x"}
        response = owner_client.post(reverse("clients:edit", args=[a_client.pk]), data, headers=HTMX)
        assert response.content == b"" and response["HX-Reswap"] == "none"
        assert '"changeDone": {"message": "Client saved.' in response["HX-Trigger"]
        assert "clientChanged" in response["HX-Trigger"]


class TestErrorPages:
    def test_404_and_403_inside_the_dashboard_with_the_way_back(
        self, owner_client: Client, viewer_client: Client, org: Organization
    ) -> None:
        missing = owner_client.get("/clients/987654/")
        assert missing.status_code == 404
        body = missing.content.decode()
        assert "Page not found" in body and "Back to Clients" in body and 'class="sidebar"' in body
        refused = viewer_client.get(reverse("clients:create"))
        assert refused.status_code == 403
        assert "You can't do that here" in refused.content.decode()

    def test_500_renders_without_a_request(self) -> None:
        from django.template.loader import render_to_string

        assert "Something went wrong" in render_to_string("500.html")


class TestCaCertificate:
    def test_serves_the_self_signed_certificate(
        self, owner_client: Client, settings: object, tmp_path: object
    ) -> None:
        from pathlib import Path

        from cloudsignal.broker.tls import self_signed_paths

        data_dir = Path(str(tmp_path))
        settings.DATA_DIR = data_dir  # type: ignore[attr-defined]
        settings.TLS_CERT = ""  # type: ignore[attr-defined]
        assert owner_client.get(reverse("ca-certificate")).status_code == 404
        self_signed_paths(data_dir)[0].write_text("-----BEGIN CERTIFICATE-----\nabc\n")
        self_signed_paths(data_dir)[1].write_text("-----BEGIN PRIVATE KEY-----\nsecret\n")
        response = owner_client.get(reverse("ca-certificate"))
        body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
        assert body.startswith("-----BEGIN CERTIFICATE-----") and "PRIVATE KEY" not in body
        assert 'filename="ca.pem"' in response["Content-Disposition"]


def test_a_bulk_action_reports_the_sessions_of_all_its_changes_together() -> None:
    from clients.engine import SessionsEnded

    answered = [
        SessionsEnded(1, broker_reachable=True, sent=True),
        SessionsEnded(2, broker_reachable=True, sent=True),
    ]
    assert (
        SessionsEnded.total([*answered, SessionsEnded()]).describe() == "3 live sessions were disconnected."
    )
    unreachable = SessionsEnded(None, broker_reachable=False, sent=True)
    assert "broker is not running" in SessionsEnded.total([*answered, unreachable]).describe()
    assert SessionsEnded.total([]).describe() == ""
