"""AclRule.objects.load_policies: what the broker calls to read the rules, once per workspace, in two
queries."""

from collections.abc import Callable
from typing import Any

from clients.models import AclRule
from workspaces.models import Organization, Workspace


def test_two_queries_for_any_number_of_workspaces(
    org: Organization, add_rule: Callable[..., AclRule], django_assert_num_queries: Any
) -> None:
    workspaces = [org.default_workspace] + [
        Workspace.objects.create(organization=org, name=f"w{i}", default_permission="deny") for i in range(3)
    ]
    for n, workspace in enumerate(workspaces):
        for i in range(n + 1):
            add_rule(workspace, f"t{i}/#", permission="deny")
    with django_assert_num_queries(2):
        policies = AclRule.objects.load_policies(w.pk for w in workspaces)
    assert [len(policies[w.pk]) for w in workspaces] == [1, 2, 3, 4]
    assert [policies[w.pk].default for w in workspaces] == ["allow", "deny", "deny", "deny"]


def test_rules_load_in_their_order_and_report_their_ids(
    org: Organization, add_rule: Callable[..., AclRule]
) -> None:
    workspace = org.default_workspace
    first = add_rule(workspace, "a/#", permission="deny")
    second = add_rule(workspace, "#")
    second.move(-1)
    policy = AclRule.objects.load_policies([workspace.pk])[workspace.pk]
    decision = policy.check(username="u", client_id="c", action="publish", topic="a/b")
    assert (decision.allowed, decision.rule_id, decision.reason) == (
        True,
        second.pk,
        'rule 1: allow publish and subscribe "#" for all clients',
    )
    assert first.pk != second.pk


def test_a_workspace_that_is_gone_denies_everything(
    org: Organization, django_assert_num_queries: Any
) -> None:
    policies = AclRule.objects.load_policies([987_654])
    decision = policies[987_654].check(username="u", client_id="c", action="publish", topic="a")
    assert not decision.allowed


def test_a_row_made_invalid_in_the_database_is_skipped_not_fatal(
    org: Organization, add_rule: Callable[..., AclRule]
) -> None:
    """A row edited by hand into an invalid filter must not take the workspace's policy down; the
    others still apply, numbered as the dashboard shows them."""
    workspace = org.default_workspace
    broken = add_rule(workspace, "x/#", permission="deny")
    add_rule(workspace, "y/#", permission="deny")
    AclRule.objects.filter(pk=broken.pk).update(topic="x/#/bad")
    policy = AclRule.objects.load_policies([workspace.pk])[workspace.pk]
    assert policy.check(username="u", client_id="c", action="publish", topic="x/#/bad").allowed is False
    assert policy.check(username="u", client_id="c", action="publish", topic="x/1").allowed  # default allow
    decision = policy.check(username="u", client_id="c", action="publish", topic="y/1")
    assert decision.reason.startswith("rule 2: deny publish")


def test_nothing_to_load(db: None) -> None:
    assert AclRule.objects.load_policies([]) == {}
