from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.db import transaction

from workspaces import audit
from workspaces.models import Organization, Workspace


class LengthCheckedForm(forms.Form):
    """A form whose inputs carry no maxlength attribute: the browser would cut longer input silently
    (a 65-character username saved as 64), where the server refuses it and says the limit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.pop("maxlength", None)


class SetupForm(LengthCheckedForm):
    organization_name = forms.CharField(label="Organization name", max_length=100)
    email = forms.EmailField(label="Email")
    password = forms.CharField(
        label="Password", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), strip=False
    )

    def clean_organization_name(self) -> str:
        name = self.cleaned_data["organization_name"].strip()
        if not name:
            raise forms.ValidationError("Give your organization a name.")
        return name

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        password_validation.validate_password(password)
        return password


class EmailLoginForm(AuthenticationForm):
    username = forms.EmailField(label="Email", widget=forms.EmailInput(attrs={"autofocus": True}))


class OrganizationForm(LengthCheckedForm):
    name = forms.CharField(label="Organization name", max_length=100)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give your organization a name.")
        return name


class WorkspaceForm(LengthCheckedForm):
    """A workspace's name, unique in its organization regardless of case. The command line uses it too."""

    name = forms.CharField(
        label="Name",
        max_length=64,
        help_text="Such as development or production. Each workspace keeps its own clients and rules.",
    )

    def __init__(
        self, *args: Any, organization: Organization, workspace: Workspace | None = None, **kwargs: Any
    ) -> None:
        if workspace is not None:
            kwargs.setdefault(
                "initial", {"name": workspace.name, "bind_client_ids": workspace.bind_client_ids}
            )
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.workspace = workspace
        if workspace is not None:
            # Offered when editing; a new workspace starts bound (the model's default), so a form
            # posted without the box (the command line) never unbinds one by omission.
            self.fields["bind_client_ids"] = forms.BooleanField(
                label="Bind client ids to their client",
                required=False,
                help_text="A client id in use by one client cannot be taken by another client of this "
                "workspace (the broker refuses it). The same client reconnecting still takes over.",
            )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the workspace a name.")
        taken = Workspace.objects.in_org(self.organization).filter(name__iexact=name)
        if self.workspace is not None:
            taken = taken.exclude(pk=self.workspace.pk)
        if existing := taken.first():
            raise forms.ValidationError(f"A workspace named {existing.name} already exists.")
        return name

    @transaction.atomic
    def save(self) -> Workspace:
        name = self.cleaned_data["name"]
        if self.workspace is None:
            workspace = Workspace.objects.create(organization=self.organization, name=name)
            audit.record(self.organization, "workspace.created", workspace)
            return workspace
        bind = self.cleaned_data["bind_client_ids"]
        changes: dict[str, list[object]] = {}
        if name != self.workspace.name:
            changes["name"] = [self.workspace.name, name]
        if bind != self.workspace.bind_client_ids:
            changes["bind_client_ids"] = [self.workspace.bind_client_ids, bind]
        audit.record(self.organization, "workspace.changed", self.workspace, details=changes)
        self.workspace.name = name
        self.workspace.bind_client_ids = bind
        self.workspace.save(update_fields=["name", "bind_client_ids"])
        return self.workspace
