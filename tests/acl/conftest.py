"""Fixtures of the ACL tests: workspaces and rules. (The listener for the broker's hints, `control`, is
the plugin tests/support/hint_fixtures.py.)"""

from collections.abc import Callable

import pytest

from acl.language import RuleSpec
from clients.models import AclRule
from workspaces.models import Organization, Workspace


@pytest.fixture
def workspace(org: Organization) -> Workspace:
    return org.default_workspace


@pytest.fixture
def other_workspace(other_org: Organization) -> Workspace:
    return other_org.default_workspace


@pytest.fixture
def add_rule() -> Callable[..., AclRule]:
    def add(
        workspace: Workspace, topic: str, *, client: str = "*", action: str = "all", permission: str = "allow"
    ) -> AclRule:
        return AclRule.objects.append(workspace, RuleSpec(client, action, topic, permission))

    return add
