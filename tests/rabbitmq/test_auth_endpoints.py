"""The endpoints RabbitMQ's auth_http backend asks, called as RabbitMQ calls them (form POSTs), without
a cluster: who logs in to which vhost, what a topic check answers, and that they fail closed."""

from collections.abc import Callable

import pytest
from django.db import OperationalError
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from acl.language import ALLOW, DENY, PUBLISH, SUBSCRIBE, InvalidRule, RuleSpec, compile_policy
from clients.models import AclRule, MqttClient, MqttClientQuerySet
from cloudsignal.rabbitmq.auth_views import mqtt_topic
from cloudsignal.rabbitmq.engine import vhost_of
from workspaces.models import Organization, Workspace

SECRET = "s3cret-for-tests"
PASSWORD = "correct-horse-battery-9"


@pytest.fixture
def rabbit_settings(settings: SettingsWrapper) -> None:
    settings.BROKER = "rabbitmq"
    settings.BROKER_ENGINE = settings.BROKER_ENGINES["rabbitmq"]
    # Nothing listens there: these tests never reach a node.
    settings.RABBITMQ_MANAGEMENT_URLS = ["http://127.0.0.1:9"]
    settings.RABBITMQ_PASSWORD = "unused"
    settings.RABBITMQ_AUTH_SECRET = SECRET


@pytest.fixture
def sensor(
    rabbit_settings: None, org: Organization, make_client: Callable[..., tuple[MqttClient, str]]
) -> MqttClient:
    client, _ = make_client(org, "sensor-1", password=PASSWORD)
    return client


def ask(question: str, secret: str = SECRET, **fields: str) -> str:
    response = Client().post(f"/rabbitmq-auth/{secret}/{question}", fields)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_a_device_logs_in_to_its_own_workspace_only(sensor: MqttClient, org: Organization) -> None:
    """The right password allows only the vhost of the credential's workspace, with the username
    spelled exactly as stored."""
    own = vhost_of(sensor.workspace_id)
    other = vhost_of(Workspace.objects.create(organization=org, name="Other").pk)
    username = sensor.full_username
    assert ask("user", username=username, password=PASSWORD, vhost=own, client_id="c") == "allow"
    assert ask("user", username=username, password="wrong-password-1", vhost=own) == "deny"
    assert ask("user", username=username, password=PASSWORD, vhost=other) == "deny"
    assert ask("user", username=username, password=PASSWORD, vhost="/") == "deny"
    assert ask("user", username=username.upper(), password=PASSWORD, vhost=own) == "deny"
    assert ask("vhost", username=username, vhost=own) == "allow"
    assert ask("vhost", username=username, vhost=other) == "deny"
    assert ask("resource", username=username, vhost=own, resource="exchange", name="amq.topic") == "allow"
    sensor.disable()
    assert ask("user", username=username, password=PASSWORD, vhost=own) == "deny"
    assert ask("vhost", username=username, vhost=own) == "deny"


def test_topic_checks_follow_the_workspace_rules(sensor: MqttClient) -> None:
    """A routing key is the MQTT topic with `/` as `.` and `+` as `*`; publish is `write`."""
    AclRule.objects.append(sensor.workspace, RuleSpec("*", PUBLISH, "alarms/#", DENY))
    AclRule.objects.append(sensor.workspace, RuleSpec("*", SUBSCRIBE, "secrets/#", DENY))
    base = {"username": sensor.full_username, "vhost": vhost_of(sensor.workspace_id), "resource": "topic"}
    base["variable_map.client_id"] = "c"
    assert ask("topic", **base, permission="write", routing_key="sensors.t") == "allow"
    assert ask("topic", **base, permission="write", routing_key="alarms.fire") == "deny"
    assert ask("topic", **base, permission="read", routing_key="sensors.*") == "allow"
    assert ask("topic", **base, permission="read", routing_key="secrets.a") == "deny"
    # A wildcard with a denied topic inside: RabbitMQ would deliver it unchecked, so it is refused.
    assert ask("topic", **base, permission="read", routing_key="#") == "deny"
    assert ask("topic", **{**base, "vhost": "ws-0"}, permission="write", routing_key="sensors.t") == "deny"


def test_the_endpoints_answer_deny_when_the_database_is_down(
    sensor: MqttClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails closed: a database error is a refusal, never an error RabbitMQ might retry or skip."""

    def down(*args: object, **kwargs: object) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(MqttClientQuerySet, "by_username", down)
    own = vhost_of(sensor.workspace_id)
    assert ask("user", username=sensor.full_username, password=PASSWORD, vhost=own) == "deny"
    assert ask("vhost", username=sensor.full_username, vhost=own) == "deny"
    fields = {"username": sensor.full_username, "vhost": own, "permission": "write", "routing_key": "a"}
    assert ask("topic", **fields) == "deny"


def test_without_the_secret_there_is_nothing_to_ask(sensor: MqttClient) -> None:
    """A wrong secret or question is a 404, a GET a 405; nothing says whether the secret was close."""
    fields = {"username": sensor.full_username, "password": PASSWORD}
    assert Client().post("/rabbitmq-auth/wrong/user", fields).status_code == 404
    assert Client().post(f"/rabbitmq-auth/{SECRET}/everything", fields).status_code == 404
    assert Client().get(f"/rabbitmq-auth/{SECRET}/user").status_code == 405


def test_without_a_secret_configured_the_endpoints_do_not_exist(settings: SettingsWrapper, db: None) -> None:
    settings.RABBITMQ_AUTH_SECRET = ""
    assert Client().post("/rabbitmq-auth//user", {}).status_code == 404
    assert Client().post("/rabbitmq-auth/x/user", {}).status_code == 404


def test_a_dot_in_a_rule_topic_is_refused_with_rabbitmq_only(
    sensor: MqttClient, owner_client: Client, settings: SettingsWrapper
) -> None:
    """RabbitMQ reads `.` as a level separator: a rule naming one is refused, saying why."""
    with pytest.raises(InvalidRule, match="dot"):
        AclRule.objects.append(sensor.workspace, RuleSpec("*", PUBLISH, "v1.0/status", DENY))
    page = owner_client.post(
        f"/acl/{sensor.workspace_id}/rules/new/",
        {"client": "*", "action": PUBLISH, "topic": "v1.0/status", "permission": DENY},
    )
    assert "level separator" in page.content.decode()
    assert not AclRule.objects.exists()
    settings.BROKER_ENGINE = settings.BROKER_ENGINES["embedded"]
    AclRule.objects.append(sensor.workspace, RuleSpec("*", PUBLISH, "v1.0/status", DENY))


def test_the_connection_examples_show_the_workspace_prefix(sensor: MqttClient) -> None:
    assert sensor.device_username == f"ws-{sensor.workspace_id}:{sensor.full_username}"


def test_a_routing_key_becomes_the_mqtt_topic_again() -> None:
    assert mqtt_topic("a.*.b.#") == "a/+/b/#"
    assert mqtt_topic("sensors") == "sensors"


@pytest.mark.parametrize(
    ("rules", "default", "topic_filter", "granted"),
    [
        ([], ALLOW, "#", True),
        ([], DENY, "#", False),
        ([RuleSpec("*", SUBSCRIBE, "a/secret", DENY)], ALLOW, "a/+", False),
        ([RuleSpec("*", SUBSCRIBE, "a/secret", DENY)], ALLOW, "b/+", True),
        ([RuleSpec("*", SUBSCRIBE, "a/#", ALLOW)], DENY, "a/+", True),
        ([RuleSpec("*", SUBSCRIBE, "a/b", ALLOW)], DENY, "a/+", False),
        ([RuleSpec("*", SUBSCRIBE, "a/b", ALLOW), RuleSpec("*", SUBSCRIBE, "a/#", ALLOW)], DENY, "a/+", True),
        ([RuleSpec("*", SUBSCRIBE, "a/#", DENY)], ALLOW, "a/b", False),
    ],
)
def test_a_filter_is_granted_whole_only_when_every_topic_in_it_is_allowed(
    rules: list[RuleSpec], default: str, topic_filter: str, granted: bool
) -> None:
    """Policy.grants_every_topic: for a broker that never checks a delivery on its own topic."""
    policy = compile_policy(default, rules)
    decision = policy.grants_every_topic(username="u", client_id="c", topic_filter=topic_filter)
    assert decision.allowed is granted


def test_the_first_connection_help_shows_the_workspace_prefix(
    rabbit_settings: None, org: Organization, owner_client: Client
) -> None:
    page = owner_client.get("/help/first-connection/").content.decode()
    assert f"ws-{org.default_workspace.pk}:agent-research-01@{org.pk}" in page


def test_the_client_page_shows_the_username_devices_send(sensor: MqttClient, owner_client: Client) -> None:
    page = owner_client.get(f"/clients/{sensor.pk}/").content.decode().replace("<wbr>", "")
    assert f"ws-{sensor.workspace_id}:{sensor.full_username}" in page
