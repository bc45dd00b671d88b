from typing import Any

from django import forms
from django.contrib.auth import password_validation

from workspaces import members
from workspaces.models import Membership


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email")
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices, initial=Membership.Role.VIEWER)

    def __init__(self, *args: Any, granter: Membership | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the roles this member may grant are offered (admins: admin and viewer).
        self.fields["role"].choices = [  # type: ignore[attr-defined]
            (value, label) for value, label in Membership.Role.choices if members.may_grant(granter, value)
        ]


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices)


class NewPasswordForm(forms.Form):
    """Choose a password (joining by invitation as a new person)."""

    password = forms.CharField(
        label="Choose a password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
    )

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        password_validation.validate_password(password)
        return password


class ExistingPasswordForm(forms.Form):
    """Your password (joining by invitation with an account you already have)."""

    password = forms.CharField(
        label="Your password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        strip=False,
    )
