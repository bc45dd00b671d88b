from django import forms

from workspaces.models import ApiKey


class ApiKeyForm(forms.Form):
    """A new API key: the command line (`manage.py apikeys create`) checks the same things."""

    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What uses it, such as deploy-pipeline or provisioning-script.",
    )
    role = forms.ChoiceField(
        label="Role",
        choices=ApiKey.Role.choices,
        initial=ApiKey.Role.VIEWER,
        help_text="Admin keys create, change and delete; viewer keys only read.",
    )
    expires_days = forms.IntegerField(
        label="Expires after (days)",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Leave empty for a key that works until it is revoked.",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the key a name.")
        return name
