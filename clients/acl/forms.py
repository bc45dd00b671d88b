"""Forms of the ACL pages. Validation comes from acl.language, so the dashboard, the command line and
the broker refuse the same things with the same words."""

from typing import Any

from django import forms

from acl import language as acl
from clients import engine
from clients.models import AclRule, MqttClient
from workspaces.models import Workspace

CLIENT_HELP = "A username, a prefix ending in * (such as agent-*), or * for every client of this workspace."
TOPIC_HELP = (
    "An MQTT filter: + stands for one level, # for everything below. ${username} and ${clientid} "
    "stand for the connecting client's own values, each as a whole level (devices/${clientid}/#)."
)


def _exact_text(**kwargs: Any) -> forms.CharField:
    """A text field kept exactly as typed: topics may contain spaces, and a NUL gets our message."""
    field = forms.CharField(strip=False, **kwargs)
    field.validators = []  # CharField's own NUL check would preempt acl's clearer message
    return field


class RuleForm(forms.Form):
    client = forms.CharField(
        label="Client",
        help_text=CLIENT_HELP,
        initial="*",
        widget=forms.TextInput(
            attrs={"list": "acl-client-names", "autocomplete": "off", "spellcheck": "false"}
        ),
        error_messages={"required": "Name a client: a username, a prefix ending in *, or * for all clients."},
    )
    action = forms.ChoiceField(label="Action", choices=acl.ACTION_CHOICES, initial=acl.ALL)
    topic = _exact_text(
        label="Topic filter",
        help_text=TOPIC_HELP,
        widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": "A topic filter cannot be empty."},
    )
    permission = forms.ChoiceField(
        label="Permission",
        choices=acl.PERMISSION_CHOICES,
        initial=acl.ALLOW,
        widget=forms.RadioSelect,
    )

    # Ids of their own: the rule dialog opens over the page's simulator, which has a "client" too.
    def __init__(self, data: Any = None, **kwargs: Any) -> None:
        super().__init__(data, auto_id="rule_%s", **kwargs)

    @classmethod
    def for_rule(cls, rule: AclRule, data: Any = None) -> "RuleForm":
        initial = {
            "client": rule.client,
            "action": rule.action,
            "topic": rule.topic,
            "permission": rule.permission,
        }
        return cls(data, initial=initial)

    def clean_client(self) -> str:
        client: str = self.cleaned_data["client"]
        if problem := acl.validate_client(client):
            raise forms.ValidationError(problem)
        return client

    def clean_topic(self) -> str:
        topic: str = self.cleaned_data["topic"]
        if problem := acl.validate_rule_topic(topic):
            raise forms.ValidationError(problem)
        # What the running broker engine cannot enforce (a `.` in a topic, with RabbitMQ).
        anywhere = acl.RuleSpec(client="*", action=acl.ALL, topic=topic, permission=acl.ALLOW)
        if problem := engine.current().rule_problems(anywhere).get("topic"):
            raise forms.ValidationError(problem)
        return topic

    def spec(self) -> acl.RuleSpec:
        data = self.cleaned_data
        return acl.RuleSpec(
            client=data["client"], action=data["action"], topic=data["topic"], permission=data["permission"]
        )


class DefaultForm(forms.Form):
    default = forms.ChoiceField(
        label="When no rule applies",
        choices=acl.PERMISSION_CHOICES,
        widget=forms.RadioSelect,
        help_text="New workspaces allow, so a first connection just works.",
    )


# Up to this many clients, the simulator offers them in a list; beyond, the username is typed.
PICKABLE_CLIENTS = 200


class ClientChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: MqttClient) -> str:
        return obj.username  # the simulator asks for the bare username


class SimulatorForm(forms.Form):
    client = ClientChoiceField(
        label="Client",
        queryset=MqttClient.objects.none(),
        required=False,
        empty_label="Type a username instead",
    )
    username = forms.CharField(
        label="Username",
        required=False,
        help_text="Without the @organization part. Leave empty when a client is picked.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    client_id = _exact_text(
        label="Client id",
        required=False,
        help_text="The client id the device sends in CONNECT; empty means the same as the username.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    # A check is of one action: "all" is only for rules.
    action = forms.ChoiceField(
        label="Action", choices=[c for c in acl.ACTION_CHOICES if c[0] != acl.ALL], initial=acl.PUBLISH
    )
    topic = _exact_text(
        label="Topic",
        help_text="A topic to publish to, or a filter to subscribe to.",
        widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": "Type a topic to test."},
    )

    def __init__(self, data: Any = None, *, workspace: Workspace) -> None:
        super().__init__(data, auto_id="sim_%s")
        clients = MqttClient.objects.filter(workspace=workspace)
        if clients[: PICKABLE_CLIENTS + 1].count() > PICKABLE_CLIENTS:
            # Thousands of options make the page heavy and the list useless: the username is typed.
            del self.fields["client"]
            self.fields["username"].help_text = "Without the @organization part."
        else:
            self.fields["client"].queryset = clients  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        picked: MqttClient | None = data.get("client")
        typed: str = data.get("username", "")
        if "@" in typed:
            self.add_error("username", "Type the username without the @organization part.")
        elif picked and typed and typed.lower() != picked.username.lower():
            self.add_error(
                "username", f"Leave this empty, or type {picked.username} to match the picked client."
            )
        elif not picked and not typed:
            self.add_error("username", "Pick a client or type a username.")
        else:
            data["username"] = picked.username if picked else typed
            data["client_id"] = data.get("client_id") or data["username"]
        topic = data.get("topic")
        if topic is not None:
            if data.get("action") == acl.PUBLISH:
                problem = acl.validate_topic_name(topic)
            else:
                problem = acl.validate_filter(topic)
            if problem:
                self.add_error("topic", problem)
        return data
