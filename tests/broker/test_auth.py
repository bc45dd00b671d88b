"""The login decision itself (cloudsignal.broker.auth), called directly for the many cases."""

import statistics
import time
import uuid
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher, Type
from django import db

from clients import credentials
from clients.models import MqttClient
from clients.provisioning import reset_password
from cloudsignal.broker.auth import (
    BAD_USERNAME_OR_PASSWORD,
    NOT_AUTHORIZED,
    SERVER_UNAVAILABLE,
    Authenticator,
    Login,
    Refusal,
    split_username,
)
from cloudsignal.broker.runner import BrokerThread
from tests.broker.devices import Device
from workspaces.models import Organization

pytestmark = pytest.mark.django_db

MakeClient = Callable[..., tuple[MqttClient, str]]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "dev@6f1c1d2e-8a9b-4c3d-9e0f-112233445566",
            ("dev", uuid.UUID("6f1c1d2e-8a9b-4c3d-9e0f-112233445566")),
        ),
        # Split at the LAST @: everything before it is the name (and is then not found, not misparsed).
        (
            "a@b@6f1c1d2e-8a9b-4c3d-9e0f-112233445566",
            ("a@b", uuid.UUID("6f1c1d2e-8a9b-4c3d-9e0f-112233445566")),
        ),
        ("dev", None),
        ("dev@", None),
        ("@6f1c1d2e-8a9b-4c3d-9e0f-112233445566", None),
        ("dev@not-a-uuid", None),
        ("", None),
        (None, None),
    ],
)
def test_username_is_name_at_organization_uuid(raw: str | None, expected: object) -> None:
    """A username is `name@organization_id`, split at the last @, the organization part a UUID."""
    assert split_username(raw) == expected


def test_correct_password_logs_in_with_the_credential_as_it_is(
    org: Organization, make_client: MakeClient
) -> None:
    client, password = make_client(org, "sensor-1")
    login = Authenticator().check(client.full_username, password)
    assert login == Login(client.pk, client.credential_version, client.workspace_id, org.id, "sensor-1")


def test_username_is_case_insensitive(org: Organization, make_client: MakeClient) -> None:
    _client, password = make_client(org, "sensor-1")
    assert isinstance(Authenticator().check(f"SENSOR-1@{org.id}", password), Login)


@pytest.mark.parametrize(
    "case",
    ["anonymous", "no-password", "malformed", "unknown", "other-org", "disabled-wrong", "wrong-password"],
)
def test_every_bad_credential_is_refused_with_bad_username_or_password(
    case: str, org: Organization, other_org: Organization, make_client: MakeClient
) -> None:
    client, password = make_client(org, "sensor-1")
    if case == "disabled-wrong":
        client.disable()
    username, secret = {
        "anonymous": (None, None),
        "no-password": (client.full_username, None),
        "malformed": ("sensor-1", password),
        "unknown": (f"nobody@{org.id}", password),
        "other-org": (f"sensor-1@{other_org.id}", password),
        "disabled-wrong": (client.full_username, password + "x"),
        "wrong-password": (client.full_username, password + "x"),
    }[case]
    outcome = Authenticator().check(username, secret)
    assert isinstance(outcome, Refusal)
    assert outcome.code == BAD_USERNAME_OR_PASSWORD


def test_a_disabled_client_with_its_password_is_told_not_authorized(
    org: Organization, make_client: MakeClient
) -> None:
    """Only the holder of the right password learns "disabled" (CONNACK 5), and it costs the same
    argon2 verification as a wrong password (the timing test below)."""
    client, password = make_client(org, "sensor-1")
    client.disable()
    assert Authenticator().check(client.full_username, password) == Refusal(
        NOT_AUTHORIZED, "client disabled", client.pk
    )


def test_refusals_cost_about_one_argon2_verification_whatever_the_reason(
    org: Organization, make_client: MakeClient
) -> None:
    """Unknown and malformed usernames, and a disabled client, take as long as a wrong password: timing
    reveals no usernames."""
    client, _password = make_client(org, "sensor-1")
    disabled, disabled_password = make_client(org, "sensor-off")
    disabled.disable()
    auth = Authenticator()

    def median_seconds(username: str | None, secret: str | None) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            auth.check(username, secret)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    wrong = median_seconds(client.full_username, "wrong-password")
    for username, secret in [
        (f"nobody@{org.id}", "pw"),
        ("garbage", "pw"),
        (None, None),
        (disabled.full_username, disabled_password),
        (disabled.full_username, "wrong-password"),
    ]:
        other = median_seconds(username, secret)
        # A shortcut would answer in microseconds; one argon2 verification takes tens of ms. The
        # margin absorbs a noisy machine.
        assert other > 0.3 * wrong, (username, other, wrong)


def test_a_reconnect_with_the_same_password_skips_argon2(
    org: Organization, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, password = make_client(org, "sensor-1")
    auth = Authenticator()
    assert isinstance(auth.check(client.full_username, password), Login)
    verifications: list[str] = []
    real_verify = credentials.verify_password

    def counting_verify(password_hash: str, secret: str) -> bool:
        verifications.append(secret)
        return real_verify(password_hash, secret)

    monkeypatch.setattr(credentials, "verify_password", counting_verify)
    assert isinstance(auth.check(client.full_username, password), Login)
    assert verifications == []
    # A wrong password is never answered from the cache.
    assert isinstance(auth.check(client.full_username, "not-it"), Refusal)
    assert verifications == ["not-it"]


def test_the_cache_never_outlives_a_revoking_change(org: Organization, make_client: MakeClient) -> None:
    """After a reset, disable or any version bump, the old password is refused even if cached."""
    client, password = make_client(org, "sensor-1")
    auth = Authenticator()
    assert isinstance(auth.check(client.full_username, password), Login)
    reset_password(client)
    assert isinstance(auth.check(client.full_username, password), Refusal)

    other, other_password = make_client(org, "sensor-2")
    assert isinstance(auth.check(other.full_username, other_password), Login)
    other.disable()
    assert isinstance(auth.check(other.full_username, other_password), Refusal)


def test_an_outdated_hash_is_upgraded_on_login_without_revoking(
    org: Organization, make_client: MakeClient
) -> None:
    client, password = make_client(org, "sensor-1")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID).hash(password)
    MqttClient.objects.filter(pk=client.pk).update(password_hash=weak)
    assert isinstance(Authenticator().check(client.full_username, password), Login)
    client.refresh_from_db()
    assert client.password_hash != weak
    assert not credentials.needs_rehash(client.password_hash)
    assert client.check_password(password)
    assert client.credential_version == 1


def test_a_database_error_refuses_with_server_unavailable(
    org: Organization, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, password = make_client(org, "sensor-1")

    def broken(*args: object, **kwargs: object) -> None:
        raise db.OperationalError("connection refused")

    monkeypatch.setattr(MqttClient.objects, "by_username", broken)
    outcome = Authenticator().check(client.full_username, password)
    assert outcome == Refusal(SERVER_UNAVAILABLE, "database unavailable")


def test_a_verification_that_raced_a_change_is_not_remembered(
    org: Organization, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hint forgetting a credential while its password is being verified wins: that verification
    (which may have read the row before the change) is not kept for warm logins."""
    client, password = make_client(org, "sensor-1")
    auth = Authenticator()
    real_check = MqttClient.check_password

    def check_then_hint(self: MqttClient, secret: str) -> bool:
        verified = real_check(self, secret)
        auth.verified.forget([self.pk])
        return verified

    monkeypatch.setattr(MqttClient, "check_password", check_then_hint)
    assert isinstance(auth.check(client.full_username, password), Login)
    assert auth.verified.login_for(org.id, "sensor-1", password) is None
    monkeypatch.setattr(MqttClient, "check_password", real_check)
    assert isinstance(auth.check(client.full_username, password), Login)
    assert auth.verified.login_for(org.id, "SENSOR-1", password) is not None
    assert auth.verified.login_for(org.id, "sensor-1", "not-it") is None


def test_a_warm_login_needs_neither_the_database_nor_the_login_queue(
    org: Organization, make_client: MakeClient, device: Callable[..., Device], broker: BrokerThread
) -> None:
    """A password verified before logs in from the broker's memory; a wrong one still takes the full
    path (argon2 in the queue), like any failure."""
    client, password = make_client(org, "sensor-1")
    core = broker.broker
    assert core is not None
    first = device(client.full_username, password, "a")
    assert first.connect() == 0
    first.close()
    ran, served = core.login_queue.ran, core.authenticator.verified.served
    assert device(client.full_username, password, "b").connect() == 0
    assert (core.login_queue.ran, core.authenticator.verified.served) == (ran, served + 1)
    assert device(client.full_username, "wrong-password-1", "c").connect() == 4
    assert (core.login_queue.ran, core.authenticator.verified.served) == (ran + 1, served + 1)
