"""Forms of the Clients pages. The command line validates through the same rules (clients.provisioning)."""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from acl import language as acl
from clients import credentials
from clients.models import USERNAME_HELP, USERNAME_MAX_LENGTH, MqttClient, validate_username
from workspaces.forms import LengthCheckedForm
from workspaces.models import Organization, Workspace

PASSWORD_HELP = (
    f"A strong password is generated for you. You may type your own instead "
    f"(at least {credentials.MIN_OWN_PASSWORD_LENGTH} characters, and not a common or guessable one)."
)


def password_field() -> forms.CharField:
    # A visible text input: the admin has to read and copy a generated password, and a password
    # manager must not offer to save it as the admin's own login.
    return forms.CharField(
        label="Password",
        strip=False,
        max_length=credentials.MAX_PASSWORD_LENGTH,
        help_text=PASSWORD_HELP,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off", "class": "mono"}
        ),
    )


def username_field() -> forms.CharField:
    return forms.CharField(
        label="Username",
        max_length=USERNAME_MAX_LENGTH,
        validators=[validate_username],
        help_text=USERNAME_HELP,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "spellcheck": "false",
                "autocapitalize": "off",
                "placeholder": "agent-research-01",
            }
        ),
    )


class WorkspaceChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        # "Default (default)" says nothing twice: only a renamed default workspace is marked.
        if obj.is_default and obj.name.lower() != "default":
            return f"{obj.name} (default)"
        return str(obj.name)


def workspace_field(organization: Organization) -> WorkspaceChoiceField:
    return WorkspaceChoiceField(
        label="Workspace",
        queryset=Workspace.objects.in_org(organization),
        empty_label=None,
        initial=organization.default_workspace,
    )


def check_password(password: str) -> str:
    if problem := credentials.password_problem(password):
        raise ValidationError(problem)
    return password


class ClientCreateForm(LengthCheckedForm):
    username = username_field()
    password = password_field()
    description = forms.CharField(label="Description", max_length=500, required=False)

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"password": credentials.generate_password()})
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.fields["username"].widget.attrs["data-preview"] = "#username-preview"
        self.fields["workspace"] = workspace_field(organization)
        self.order_fields(["username", "password", "workspace", "description"])

    def clean_username(self) -> str:
        return str(self.cleaned_data["username"]).strip()

    def clean_password(self) -> str:
        return check_password(self.cleaned_data["password"])


class PasswordResetForm(LengthCheckedForm):
    password = password_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"password": credentials.generate_password()})
        super().__init__(*args, **kwargs)

    def clean_password(self) -> str:
        return check_password(self.cleaned_data["password"])


class ClientEditForm(LengthCheckedForm):
    username = username_field()
    description = forms.CharField(label="Description", max_length=500, required=False)
    enabled = forms.BooleanField(
        label="Enabled", required=False, help_text="A disabled client cannot connect; its live sessions end."
    )

    def __init__(self, *args: Any, client: MqttClient, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "username": client.username,
                "description": client.description,
                "enabled": client.enabled,
                "workspace": client.workspace_id,
            },
        )
        super().__init__(*args, **kwargs)
        self.client = client
        self.fields["username"].help_text = (
            f"Changing the username changes the full username ({client.full_username}): devices using the "
            "old one can no longer connect, and its live sessions end. " + USERNAME_HELP
        )
        self.fields["workspace"] = workspace_field(client.organization)
        self.fields["workspace"].initial = client.workspace_id
        self.fields["workspace"].help_text = "Moving a client to another workspace ends its live sessions."
        self.order_fields(["username", "workspace", "description", "enabled"])

    def clean_username(self) -> str:
        # Uniqueness is checked by MqttClient.update(), as for every other way of renaming.
        return str(self.cleaned_data["username"]).strip()

    def changes(self) -> dict[str, Any]:
        """Only the fields that differ from the client, so an unchanged save revokes nothing."""
        return {
            name: value for name, value in self.cleaned_data.items() if getattr(self.client, name) != value
        }


class AccessCheckForm(forms.Form):
    """The client page's "which rule decides?": an action and a topic, for this client."""

    action = forms.ChoiceField(
        label="Action", choices=[c for c in acl.ACTION_CHOICES if c[0] != acl.ALL], initial=acl.PUBLISH
    )
    topic = forms.CharField(
        label="Topic",
        strip=False,
        widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": "Type a topic to check."},
    )
    client_id = forms.CharField(
        label="Client id",
        required=False,
        help_text="Empty means the same as the username.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "check_%s")
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        topic = data.get("topic")
        if topic is not None:
            check = acl.validate_topic_name if data.get("action") == acl.PUBLISH else acl.validate_filter
            if problem := check(topic):
                self.add_error("topic", problem)
        return data
