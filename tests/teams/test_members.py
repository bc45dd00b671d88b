"""Members: invitations (expiry, reuse, revocation), roles, removal, and the last owner."""

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.teams.conftest import signed_in
from workspaces import members
from workspaces.models import Invitation, Membership, Organization

PASSWORD = "a-long-new-member-password"
Invite = Callable[..., tuple[Invitation, str]]


def test_the_members_page_lists_role_joined_and_last_sign_in(owner_client: Client, viewer: User) -> None:
    html = owner_client.get(reverse("workspaces:members")).content.decode()
    assert "viewer@a.example" in html and "Viewer" in html
    assert "Joined" in html and "Last signed in" in html
    assert "Invite member" in html


def test_inviting_shows_the_link_once_and_stores_only_its_hash(
    owner_client: Client, org: Organization
) -> None:
    response = owner_client.post(
        reverse("workspaces:member-invite"), {"email": "New@A.example", "role": "viewer"}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    link = re.search(r'value="(http://testserver/invitations/[^"]+/)"', response.content.decode())
    assert link, "no link in the reveal"
    token = link.group(1).rstrip("/").rsplit("/", 1)[1]
    invitation = Invitation.objects.get(organization=org)
    assert invitation.email == "new@a.example" and invitation.role == "viewer"
    assert token not in invitation.token_hash
    # The members page, rendered next, does not show it again.
    assert token not in owner_client.get(reverse("workspaces:members")).content.decode()


def test_a_new_person_chooses_a_password_and_joins(invite: Invite, org: Organization) -> None:
    _, path = invite("new@a.example", "viewer")
    browser = Client()
    assert "Choose a password" in browser.get(path).content.decode()
    response = browser.post(path, {"password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("clients:list")
    user = User.objects.get(email="new@a.example")
    assert user.check_password(PASSWORD)
    assert Membership.objects.get(user=user, organization=org).role == "viewer"
    assert browser.get(reverse("clients:list")).status_code == 200


def test_an_existing_account_signs_in_to_join(
    invite: Invite, other_org: Organization, outsider: User
) -> None:
    outsider.set_password(PASSWORD)
    outsider.save()
    invitation, path = invite("outsider@b.example", "admin")
    browser = Client()
    assert "sign in to join" in browser.get(path).content.decode()
    wrong = browser.post(path, {"password": "not-the-password-at-all"})
    assert wrong.status_code == 200 and "not the password" in wrong.content.decode()
    assert not Membership.objects.filter(user=outsider, organization=invitation.organization).exists()
    assert browser.post(path, {"password": PASSWORD}).status_code == 302
    assert Membership.objects.get(user=outsider, organization=invitation.organization).role == "admin"


def test_an_invitation_works_once(invite: Invite) -> None:
    _, path = invite("new@a.example")
    assert Client().post(path, {"password": PASSWORD}).status_code == 302
    again = Client().post(path, {"password": "another-long-password-2"})
    assert again.status_code == 404
    assert User.objects.filter(email="new@a.example").count() == 1


def test_an_expired_invitation_does_not_work(invite: Invite) -> None:
    invitation, path = invite("new@a.example")
    Invitation.objects.filter(pk=invitation.pk).update(expires=timezone.now() - timedelta(seconds=1))
    response = Client().post(path, {"password": PASSWORD})
    assert response.status_code == 404 and "expired" in response.content.decode()
    assert not User.objects.filter(email="new@a.example").exists()


def test_invitations_expire_after_seven_days_by_default(invite: Invite) -> None:
    invitation, _ = invite("new@a.example")
    assert timedelta(days=6, hours=23) < invitation.expires - timezone.now() <= timedelta(days=7)


def test_a_revoked_invitation_does_not_work(invite: Invite, owner_client: Client) -> None:
    invitation, path = invite("new@a.example")
    response = owner_client.post(reverse("workspaces:invitation-revoke", kwargs={"pk": invitation.pk}))
    assert response.status_code == 302
    assert Client().post(path, {"password": PASSWORD}).status_code == 404
    assert not User.objects.filter(email="new@a.example").exists()


def test_admins_invite_admins_and_viewers_but_not_owners(admin_user: User, org: Organization) -> None:
    admin = signed_in(admin_user)
    form = admin.get(reverse("workspaces:member-invite")).content.decode()
    assert 'value="admin"' in form and 'value="owner"' not in form
    assert (
        admin.post(reverse("workspaces:member-invite"), {"email": "b@a.example", "role": "admin"}).status_code
        == 200
    )
    refused = admin.post(reverse("workspaces:member-invite"), {"email": "c@a.example", "role": "owner"})
    assert refused.status_code == 200 and 'aria-invalid="true"' in refused.content.decode()
    assert list(Invitation.objects.values_list("email", "role")) == [("b@a.example", "admin")]


def test_admins_do_not_change_roles_or_remove(admin_user: User, viewer: User, org: Organization) -> None:
    admin = signed_in(admin_user)
    target = Membership.objects.get(user=viewer)
    assert (
        admin.post(reverse("workspaces:member-role", kwargs={"pk": target.pk}), {"role": "admin"}).status_code
        == 403
    )
    assert admin.post(reverse("workspaces:member-remove", kwargs={"pk": target.pk})).status_code == 403
    target.refresh_from_db()
    assert target.role == "viewer"


def test_owners_change_roles(owner_client: Client, viewer: User) -> None:
    target = Membership.objects.get(user=viewer)
    response = owner_client.post(
        reverse("workspaces:member-role", kwargs={"pk": target.pk}), {"role": "admin"}
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.role == "admin"


def test_the_last_owner_can_be_neither_demoted_nor_removed(
    owner_client: Client, owner_membership: Membership
) -> None:
    demote = owner_client.post(
        reverse("workspaces:member-role", kwargs={"pk": owner_membership.pk}), {"role": "viewer"}
    )
    assert demote.status_code == 200 and "needs an owner" in demote.content.decode()
    remove = owner_client.post(reverse("workspaces:member-remove", kwargs={"pk": owner_membership.pk}))
    assert remove.status_code == 200 and "needs an owner" in remove.content.decode()
    owner_membership.refresh_from_db()
    assert owner_membership.role == "owner"


def test_with_a_second_owner_the_first_can_step_down(owner_membership: Membership, admin_user: User) -> None:
    second = Membership.objects.get(user=admin_user)
    members.change_role(second, "owner", by=owner_membership)
    members.change_role(owner_membership, "viewer", by=Membership.objects.get(pk=second.pk))
    with pytest.raises(members.LastOwnerError):
        members.remove(Membership.objects.get(pk=second.pk))


def test_removing_a_member_ends_their_session_at_once(
    owner_client: Client, viewer: User, viewer_client: Client
) -> None:
    """The removed member's very next request goes to the sign-in page, and their session row is gone."""
    assert viewer_client.get(reverse("clients:list")).status_code == 200
    target = Membership.objects.get(user=viewer)
    assert owner_client.post(reverse("workspaces:member-remove", kwargs={"pk": target.pk})).status_code == 302
    response = viewer_client.get(reverse("clients:list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    from django.contrib.sessions.models import Session

    assert not [s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(viewer.pk)]


def test_an_invitation_for_someone_else_is_refused_while_signed_in(
    invite: Invite, viewer_client: Client
) -> None:
    _, path = invite("new@a.example")
    response = viewer_client.post(path)
    assert response.status_code == 403
    assert not User.objects.filter(email="new@a.example").exists()


def test_changing_your_password_ends_your_other_sessions(owner: User, org: Organization) -> None:
    owner.set_password(PASSWORD)
    owner.save()
    here, elsewhere = signed_in(owner), signed_in(owner)
    response = here.post(
        reverse("account-password"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-long-password-9",
            "new_password2": "a-new-long-password-9",
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("account")
    assert here.get(reverse("account")).status_code == 200
    assert elsewhere.get(reverse("account"))["Location"].startswith(reverse("login"))


def test_a_wrong_current_password_changes_nothing(owner: User, org: Organization) -> None:
    owner.set_password(PASSWORD)
    owner.save()
    response = signed_in(owner).post(
        reverse("account-password"),
        {
            "old_password": "not-it-at-all",
            "new_password1": "a-new-long-password-9",
            "new_password2": "a-new-long-password-9",
        },
    )
    assert response.status_code == 200 and 'aria-invalid="true"' in response.content.decode()
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


def test_sign_out_everywhere_else_keeps_this_session(owner_client: Client, owner: User) -> None:
    elsewhere = signed_in(owner)
    assert owner_client.post(reverse("sign-out-others")).status_code == 302
    assert owner_client.get(reverse("account")).status_code == 200
    assert elsewhere.get(reverse("account"))["Location"].startswith(reverse("login"))


def test_the_account_page_lists_your_organizations(
    owner_client: Client, other_org: Organization, owner: User
) -> None:
    Membership.objects.create(user=owner, organization=other_org, role="viewer")
    html = owner_client.get(reverse("account")).content.decode()
    assert "Organization A" in html and "Organization B" in html and "Sign out everywhere else" in html
