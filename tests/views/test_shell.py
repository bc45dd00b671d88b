"""The shell around every page: the sidebar in the guide's order, and the organization switcher."""

import re

from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from workspaces.models import Membership, Organization


def test_sidebar_sections_in_order(owner_client: Client, org: Organization) -> None:
    page = owner_client.get(reverse("clients:list")).content.decode()
    nav = page[page.index("<nav>") : page.index("</nav>")]
    labels = re.findall(r">([A-Za-z ]+)</(?:a|h2)>", nav)
    assert labels[:7] == [
        "Connections",
        "Clients",
        "Sessions",
        "Throttled",
        "ACL Rules",
        "Workspaces",
        "Settings",
    ]
    assert 'aria-current="page">Clients</a>' in nav


def test_no_switcher_with_one_organization(owner_client: Client, org: Organization) -> None:
    assert 'name="organization"' not in owner_client.get(reverse("clients:list")).content.decode()


def test_switcher_moves_between_organizations(
    owner: User, owner_client: Client, org: Organization, other_org: Organization
) -> None:
    Membership.objects.create(user=owner, organization=other_org, role=Membership.Role.VIEWER)
    page = owner_client.get(reverse("workspaces:organization")).content.decode()
    assert 'id="organization-switch"' in page and "Organization B" in page
    assert str(org.pk) in page
    response = owner_client.post(reverse("switch-organization"), {"organization": str(other_org.pk)})
    assert response.status_code == 302
    page = owner_client.get(reverse("workspaces:organization")).content.decode()
    assert f'value="{other_org.pk}"' in page
    assert "Only owners can rename" in page  # a viewer there


def test_an_organization_the_user_is_not_in_cannot_be_switched_to(
    owner_client: Client, org: Organization, other_org: Organization
) -> None:
    owner_client.post(reverse("switch-organization"), {"organization": str(other_org.pk)})
    page = owner_client.get(reverse("workspaces:organization")).content.decode()
    assert str(other_org.pk) not in page and str(org.pk) in page
