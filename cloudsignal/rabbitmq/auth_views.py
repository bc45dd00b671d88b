"""The four questions rabbitmq_auth_backend_http asks, answered from the database: `allow` or `deny`,
always with HTTP 200 (anything else RabbitMQ counts as an error, which also refuses).

RabbitMQ posts form fields: `user` gets username, password, vhost and client_id; `vhost`, `resource`
and `topic` get the username and vhost again, then what is asked (a topic as an AMQP routing key:
`/` became `.`, `+` became `*`). A device logs in only to its own workspace's vhost, and every later
question re-reads its row, so a disabled or deleted credential is refused from then on.

Internal: the path carries CLOUDSIGNAL_RABBITMQ_AUTH_SECRET (a wrong one is a 404), and nothing here
sets a cookie or needs CSRF. Fails closed: a database error answers `deny`.
"""

import hmac
import logging

from django import db
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from acl.language import PUBLISH
from clients.models import AclRule, MqttClient
from cloudsignal.broker.auth import Authenticator, Login, split_username
from cloudsignal.rabbitmq.engine import vhost_of

log = logging.getLogger(__name__)

# Passwords that verified, per credential version: a reconnect skips argon2, a revocation never does.
authenticator = Authenticator()


@csrf_exempt
@login_not_required
@require_POST
def ask(request: HttpRequest, secret: str, question: str) -> HttpResponse:
    expected = settings.RABBITMQ_AUTH_SECRET
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise Http404
    decide = QUESTIONS.get(question)
    if decide is None:
        raise Http404
    try:
        allowed = decide(request.POST)
    except db.Error as exc:
        log.warning("RabbitMQ %s question denied, database unavailable: %s", question, exc)
        allowed = False
    return HttpResponse("allow" if allowed else "deny", content_type="text/plain")


def user(params: QueryDict) -> bool:
    username = params.get("username", "")
    login = authenticator.check(username, params.get("password"))
    if not isinstance(login, Login):
        return False
    # Exactly as stored: RabbitMQ closes sessions by this string, so another spelling (case, a braced
    # organization id) would be a session revocation cannot find.
    exact = f"{login.username}@{login.organization_id}" == username
    return exact and params.get("vhost") == vhost_of(login.workspace_id)


def current_client(params: QueryDict) -> MqttClient | None:
    """The enabled credential the question is about, if it logs in to this vhost."""
    username = params.get("username", "")
    parsed = split_username(username)
    if parsed is None:
        return None
    name, organization_id = parsed
    client = (
        MqttClient.objects.by_username(organization_id, name)
        .only("pk", "username", "organization_id", "workspace_id", "enabled")
        .first()
    )
    if client is None or not client.enabled or client.full_username != username:
        return None
    return client if params.get("vhost") == vhost_of(client.workspace_id) else None


def vhost(params: QueryDict) -> bool:
    return current_client(params) is not None


def resource(params: QueryDict) -> bool:
    # The MQTT plugin's own exchange and queues inside the workspace's vhost; topics decide the rest.
    return current_client(params) is not None


def topic(params: QueryDict) -> bool:
    client = current_client(params)
    if client is None:
        return False
    policy = AclRule.objects.load_policies([client.workspace_id])[client.workspace_id]
    client_id = params.get("variable_map.client_id", "")
    topic = mqtt_topic(params.get("routing_key", ""))
    if params.get("permission") == "write":
        return policy.check(
            username=client.username, client_id=client_id, action=PUBLISH, topic=topic
        ).allowed
    # RabbitMQ asks once per subscription and delivers whatever it matches afterwards, so a filter
    # is granted only when the rules allow every topic in it.
    return policy.grants_every_topic(
        username=client.username, client_id=client_id, topic_filter=topic
    ).allowed


def mqtt_topic(routing_key: str) -> str:
    """The MQTT topic or filter a routing key came from: `.` back to `/`, a `*` level back to `+`."""
    return "/".join("+" if level == "*" else level for level in routing_key.split("."))


QUESTIONS = {"user": user, "vhost": vhost, "resource": resource, "topic": topic}
