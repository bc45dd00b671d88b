"""Rule matching: pure, no database. Each test names the rule it holds the Policy to."""

import subprocess
import sys
from pathlib import Path

import pytest

from acl.language import (
    InvalidRule,
    Policy,
    RuleSpec,
    compile_policy,
    validate_client,
    validate_filter,
    validate_rule_topic,
    validate_topic_name,
)


def test_the_language_imports_without_django() -> None:
    """acl.language is pure: importing it, in a clean environment, loads neither Django nor any of our
    apps, so the layers above it (workspaces, clients, the broker) can all depend on it."""
    code = "import sys; import acl.language; print(*{name.split('.')[0] for name in sys.modules})"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
        env={},
    )
    assert result.returncode == 0, result.stderr
    assert "acl" in result.stdout.split()
    assert set(result.stdout.split()) & {"django", "clients", "workspaces", "cloudsignal"} == set()


def policy(*rules: tuple[str, str, str, str], default: str = "deny") -> Policy:
    return compile_policy(default, [RuleSpec(*r, id=i) for i, r in enumerate(rules, start=101)])


def allowed(
    p: Policy, action: str, topic: str, username: str = "agent-1", client_id: str = "agent-1"
) -> bool:
    return p.check(username=username, client_id=client_id, action=action, topic=topic).allowed


# Publish: the rule's filter matched against a topic, as MQTT matches subscriptions.


@pytest.mark.parametrize(
    ("rule", "topic", "matches"),
    [
        ("sensors/temp", "sensors/temp", True),
        ("sensors/temp", "sensors/temp2", False),
        ("sensors/temp", "sensors", False),
        ("sensors/+", "sensors/temp", True),
        ("sensors/+", "sensors/a/b", False),
        ("sensors/+", "sensors", False),
        ("sensors/+", "sensors/", True),  # + matches an empty level
        ("sensors/+/temp", "sensors/kitchen/temp", True),
        ("sensors/+/temp", "sensors/kitchen/hum", False),
        ("sensors/#", "sensors", True),  # # also matches the parent level
        ("sensors/#", "sensors/a/b/c", True),
        ("sensors/#", "sensorsx/a", False),
        ("#", "anything/at/all", True),
        ("+/+", "a/b", True),
        ("+/+", "a", False),
        ("#", "$SYS/broker/load", False),  # wildcards at the first level never match $ topics
        ("+/broker/load", "$SYS/broker/load", False),
        ("$SYS/#", "$SYS/broker/load", True),
        ("a//b", "a//b", True),
        ("Sensors/Temp", "sensors/temp", False),  # topics are case-sensitive
    ],
)
def test_publish_matching(rule: str, topic: str, matches: bool) -> None:
    """A publish rule applies exactly when its filter matches the topic (MQTT 3.1.1 section 4.7)."""
    p = policy(("*", "publish", rule, "allow"), default="deny")
    assert allowed(p, "publish", topic) is matches
    # The same for a deny rule over an allow default: covering and overlapping agree for a topic.
    p = policy(("*", "publish", rule, "deny"), default="allow")
    assert allowed(p, "publish", topic) is not matches


def test_first_matching_rule_decides() -> None:
    """Rules are read from the top and the first that applies wins, whatever follows."""
    p = policy(
        ("*", "publish", "sensors/secret", "deny"),
        ("*", "publish", "sensors/#", "allow"),
        ("*", "publish", "#", "deny"),
    )
    decision = p.check(username="a", client_id="a", action="publish", topic="sensors/secret")
    assert (decision.allowed, decision.rule_id) == (False, 101)
    assert decision.reason == 'rule 1: deny publish "sensors/secret" for all clients'
    decision = p.check(username="a", client_id="a", action="publish", topic="sensors/temp")
    assert (decision.allowed, decision.rule_id) == (True, 102)
    assert decision.reason == 'rule 2: allow publish "sensors/#" for all clients'
    assert not allowed(p, "publish", "other")
    # Swapping the first two rules changes the answer for the secret topic.
    swapped = policy(("*", "publish", "sensors/#", "allow"), ("*", "publish", "sensors/secret", "deny"))
    assert allowed(swapped, "publish", "sensors/secret")


@pytest.mark.parametrize("default", ["allow", "deny"])
def test_default_decides_when_no_rule_applies(default: str) -> None:
    """With no rule applying, the workspace default answers, and says so."""
    p = policy(("*", "publish", "other/#", "deny"), default=default)
    decision = p.check(username="a", client_id="a", action="publish", topic="sensors/temp")
    assert decision.allowed is (default == "allow")
    assert decision.reason == f"workspace default: {default}"
    assert decision.rule_id is None
    assert policy(default=default).check(
        username="a", client_id="a", action="subscribe", topic="#"
    ).allowed is (default == "allow")


def test_actions() -> None:
    """A publish rule says nothing about subscribing and vice versa; "all" covers both."""
    p = policy(
        ("*", "publish", "p/#", "allow"), ("*", "subscribe", "s/#", "allow"), ("*", "all", "b/#", "allow")
    )
    assert allowed(p, "publish", "p/1") and not allowed(p, "subscribe", "p/1")
    assert allowed(p, "subscribe", "s/1") and not allowed(p, "publish", "s/1")
    assert allowed(p, "publish", "b/1") and allowed(p, "subscribe", "b/1")
    with pytest.raises(ValueError, match="action"):
        p.check(username="a", client_id="a", action="all", topic="b/1")


def test_who() -> None:
    """A rule is for one username, a username prefix (agent-*), or every client (*); usernames
    compare without regard to case, as they are unique that way."""
    p = policy(
        ("sensor-7", "publish", "x", "allow"),
        ("agent-*", "publish", "y", "allow"),
        ("*", "publish", "z", "allow"),
    )
    assert allowed(p, "publish", "x", username="sensor-7")
    assert allowed(p, "publish", "x", username="Sensor-7")
    assert not allowed(p, "publish", "x", username="sensor-70")
    assert not allowed(p, "publish", "x", username="sensor")
    assert allowed(p, "publish", "y", username="agent-1")
    assert allowed(p, "publish", "y", username="AGENT-research-01")
    assert not allowed(p, "publish", "y", username="agent")  # the prefix includes the hyphen
    assert not allowed(p, "publish", "y", username="sensor-7")
    assert allowed(p, "publish", "z", username="anyone")


# Placeholders.


def test_placeholders_stand_for_the_clients_own_values() -> None:
    """${username} and ${clientid} are replaced by the checking client's values."""
    p = policy(
        ("*", "publish", "devices/${clientid}/#", "allow"),
        ("*", "subscribe", "users/${username}/+", "allow"),
    )
    assert allowed(p, "publish", "devices/dev-1/temp", client_id="dev-1")
    assert allowed(p, "publish", "devices/dev-1", client_id="dev-1")
    assert not allowed(p, "publish", "devices/dev-2/temp", client_id="dev-1")
    assert allowed(p, "subscribe", "users/agent-1/inbox", username="agent-1")
    assert not allowed(p, "subscribe", "users/agent-2/inbox", username="agent-1")
    # Granted: it could receive users/agent-1/inbox; a delivery of users/agent-1/a/b is refused.
    assert allowed(p, "subscribe", "users/agent-1/#", username="agent-1")
    assert not allowed(p, "subscribe", "users/agent-1/a/b", username="agent-1")
    assert not allowed(p, "subscribe", "users/agent-2/#", username="agent-1")


@pytest.mark.parametrize("hostile", ["#", "+", "a/b", "x/#", "+/+", "", "nul\x00l", "/"])
def test_hostile_placeholder_values_never_widen_a_rule(hostile: str) -> None:
    """A client id that is not one plain topic level (wildcards, slashes, empty, NUL) makes rules that
    use it inapplicable: a client id "#" matches nothing, and later rules and the default decide."""
    p = policy(("*", "all", "devices/${clientid}/#", "allow"), default="deny")
    for action, topic in [
        ("publish", "devices/other/temp"),
        ("publish", "devices/a/b/c"),
        ("publish", "devices/x"),
        ("publish", "devices//x"),
        ("subscribe", "devices/#"),
        ("subscribe", "devices/+/temp"),
        ("subscribe", "#"),
    ]:
        decision = p.check(username="agent-1", client_id=hostile, action=action, topic=topic)
        assert not decision.allowed, (hostile, action, topic)
        assert decision.rule_id is None
    # A deny rule is skipped the same way, so the next rule decides: here an explicit allow.
    p = policy(("*", "publish", "devices/${clientid}/#", "deny"), ("*", "publish", "devices/#", "allow"))
    assert p.check(username="a", client_id=hostile, action="publish", topic="devices/q/1").rule_id == 102


def test_placeholder_value_is_a_literal_level() -> None:
    """A client id with spaces or a "$" inside is compared as text, not interpreted."""
    p = policy(("*", "publish", "${clientid}/x", "allow"), ("*", "publish", "d/${clientid}", "allow"))
    assert allowed(p, "publish", "my device/x", client_id="my device")
    assert allowed(p, "publish", "d/$abc", client_id="$abc")
    assert not allowed(p, "publish", "other/x", client_id="my device")


def test_a_placeholder_cannot_open_a_system_topic() -> None:
    """A client id "$SYS" in ${clientid}/# must not grant $SYS/#: a leading "$" level is a system topic."""
    p = policy(("*", "all", "${clientid}/#", "allow"))
    assert not allowed(p, "publish", "$SYS/x", client_id="$SYS")
    assert not allowed(p, "subscribe", "$SYS/#", client_id="$SYS")


# Subscribe: a filter against a rule's filter.


@pytest.mark.parametrize(
    ("rule", "subscription", "granted"),
    [
        ("sensors/#", "sensors/#", True),
        ("sensors/#", "sensors/+/temp", True),
        ("sensors/#", "sensors", True),
        ("sensors/#", "#", True),  # could receive sensors/...; each delivery is checked on its own
        ("sensors/#", "+/temp", True),
        ("sensors/+", "sensors/#", True),
        ("sensors/temp", "sensors/+", True),
        ("sensors/temp", "sensors/temp", True),
        ("+/temp", "sensors/temp", True),
        ("#", "#", True),
        ("sensors/temp", "sensors/humidity", False),
        ("sensors/temp", "sensors/temp/+", False),
        ("sensors/+", "other/#", False),
        ("a/b", "a", False),
        ("#", "$SYS/#", False),
        ("$SYS/#", "$SYS/broker/+", True),
    ],
)
def test_a_subscription_is_granted_when_an_allow_rule_could_match_one_of_its_topics(
    rule: str, subscription: str, granted: bool
) -> None:
    """Over a deny default, an allow rule grants a subscription that could receive one topic it
    allows; a subscription that could receive none of them is refused."""
    p = policy(("*", "subscribe", rule, "allow"), default="deny")
    assert allowed(p, "subscribe", subscription) is granted


@pytest.mark.parametrize(
    ("rule", "subscription", "refused"),
    [
        ("test/nosubscribe", "test/nosubscribe", True),
        ("test/nosubscribe", "#", False),  # the Paho interoperability suite's case
        ("test/nosubscribe", "+/+", False),
        ("sensors/secret", "sensors/+", False),
        ("sensors/secret", "+/secret", False),
        ("sensors/#", "sensors/#", True),
        ("sensors/#", "sensors/+/temp", True),
        ("sensors/#", "sensors", True),  # sensors/# matches sensors too
        ("sensors/+", "sensors/#", False),  # sensors/# also matches sensors and sensors/a/b
        ("sensors/+/#", "sensors/#", False),  # sensors/# matches "sensors", the rule does not
        ("+/#", "#", True),  # no topic has zero levels, so both match every topic not starting with $
        ("#", "#", True),
        ("#", "$SYS/#", False),
        ("$SYS/#", "#", False),
    ],
)
def test_a_deny_rule_refuses_only_a_subscription_whose_every_topic_it_denies(
    rule: str, subscription: str, refused: bool
) -> None:
    """Over an allow default, a deny rule refuses a subscription only when it covers every topic the
    filter could match; a wildcard that merely overlaps it is granted."""
    p = policy(("*", "subscribe", rule, "deny"), default="allow")
    assert allowed(p, "subscribe", subscription) is not refused


def test_rule_order_still_decides_for_wildcards() -> None:
    """The first rule that applies decides: an allow that could match part of `#` grants it before a
    later deny of everything; the other way round, the deny of everything refuses it."""
    p = policy(("*", "subscribe", "sensors/#", "allow"), ("*", "subscribe", "#", "deny"), default="allow")
    decision = p.check(username="a", client_id="a", action="subscribe", topic="#")
    assert (decision.allowed, decision.rule_id) == (True, 101)
    # Deliveries are checked on their concrete topic: only sensors/... gets through.
    assert allowed(p, "subscribe", "sensors/temp")
    assert not allowed(p, "subscribe", "other/temp")
    swapped = policy(("*", "subscribe", "#", "deny"), ("*", "subscribe", "sensors/#", "allow"))
    assert not allowed(swapped, "subscribe", "sensors/+")


def test_subscribe_check_of_a_plain_topic_agrees_with_delivery() -> None:
    """A filter without wildcards is one topic: the broker can recheck a delivery with it."""
    p = policy(("*", "subscribe", "sensors/secret", "deny"), ("*", "subscribe", "sensors/#", "allow"))
    assert not allowed(p, "subscribe", "sensors/secret")
    assert allowed(p, "subscribe", "sensors/public")


def test_invalid_topics_are_denied_with_the_reason() -> None:
    p = policy(default="allow")
    decision = p.check(username="a", client_id="a", action="publish", topic="sensors/+")
    assert not decision.allowed
    assert "wildcards" in decision.reason
    decision = p.check(username="a", client_id="a", action="subscribe", topic="a/#/b")
    assert not decision.allowed
    assert "'#' must be the last level" in decision.reason


def test_cached_decisions_stay_correct_across_clients() -> None:
    """The per-policy cache keys on everything the answer depends on."""
    p = policy(("*", "publish", "devices/${clientid}/#", "allow"))
    for _ in range(3):
        assert allowed(p, "publish", "devices/a/x", client_id="a")
        assert not allowed(p, "publish", "devices/a/x", client_id="b")


# Validation messages.


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("", "cannot be empty"),
        ("a/#/b", "'#' must be the last level and stand alone"),
        ("a#", "'#' must be the last level and stand alone"),
        ("sp+rt", "'+' must stand alone as a whole level"),
        ("a/b+", "'+' must stand alone as a whole level"),
        ("a\x00b", "cannot contain the NUL character"),
        ("x" * 65_536, "at most 65,535 bytes in UTF-8; this one is 65,536 bytes"),
        ("é" * 32_768, "this one is 65,536 bytes"),  # bytes, not characters
        ("\ud800", "valid UTF-8"),
    ],
)
def test_invalid_filters_are_refused_with_a_clear_message(topic: str, message: str) -> None:
    assert message in (validate_filter(topic) or "")
    assert message in (validate_rule_topic(topic) or "")


@pytest.mark.parametrize(
    "topic", ["#", "+", "a/+/b/#", "/", "a//b", "$SYS/#", "x" * 65_535, "é" * 32_767, "a b"]
)
def test_valid_filters(topic: str) -> None:
    assert validate_filter(topic) is None


def test_publish_topic_names_have_no_wildcards() -> None:
    assert validate_topic_name("a/b") is None
    assert "only for subscriptions" in (validate_topic_name("a/+") or "")
    assert "cannot be empty" in (validate_topic_name("") or "")


@pytest.mark.parametrize(
    ("topic", "ok"),
    [
        ("devices/${clientid}/#", True),
        ("${username}/${clientid}", True),
        ("devices/pre${clientid}", False),
        ("devices/${clientid}x", False),
        ("devices/${other}", False),
    ],
)
def test_placeholders_must_be_whole_levels(topic: str, ok: bool) -> None:
    assert (validate_rule_topic(topic) is None) is ok
    # For a device the same text is an ordinary filter.
    assert validate_filter(topic) is None


@pytest.mark.parametrize(
    ("client", "ok"),
    [
        ("*", True),
        ("agent-*", True),
        ("agent*", True),
        ("sensor-7", True),
        ("", False),
        ("a*b", False),
        ("*-agent", False),
        ("with space", False),
        ("user@org", False),
        ("a" * 65, False),
        ("a" * 64, True),
    ],
)
def test_who_validation(client: str, ok: bool) -> None:
    assert (validate_client(client) is None) is ok


def test_compile_names_the_bad_rule() -> None:
    """compile_policy refuses a bad rule by its 1-based index and field."""
    with pytest.raises(InvalidRule) as caught:
        compile_policy(
            "allow", [RuleSpec("*", "publish", "ok", "allow"), RuleSpec("*", "publish", "a/#/b", "allow")]
        )
    assert caught.value.index == 2
    assert set(caught.value.problems) == {"topic"}
    assert str(caught.value).startswith("rule 2: topic: '#' must be the last level")


# The filter-against-filter relations, checked against their definition over a small universe.


def _matches(filt: tuple[str, ...], topic: tuple[str, ...]) -> bool:
    """MQTT matching straight from the specification, written independently of acl.language."""
    if topic[0].startswith("$") and filt[0] in ("+", "#"):
        return False
    for i, level in enumerate(filt):
        if level == "#":
            return True
        if i >= len(topic) or (level != "+" and level != topic[i]):
            return False
    return len(topic) == len(filt)


def _all(levels: tuple[str, ...], depth: int) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = [(level,) for level in levels]
    for _ in range(depth - 1):
        out += [(*t, level) for t in out if len(t) == len(out[-1]) for level in levels]
    return out


def test_covering_and_overlapping_agree_with_their_definition() -> None:
    """For every pair of filters of up to three levels: a rule covers a filter exactly when every topic
    the filter matches, the rule matches too; they overlap exactly when some topic matches both.
    (Topics of four levels and a level no filter names are enough to witness any difference.)"""
    from acl.language import _covers, _overlaps

    topics = _all(("a", "z", "$s"), 4)
    filters = [f for f in _all(("a", "+", "#", "$s"), 3) if validate_filter("/".join(f)) is None]
    matched = {f: {t for t in topics if _matches(f, t)} for f in filters}
    for rule in filters:
        for filt in filters:
            assert _covers(rule, filt) is (matched[filt] <= matched[rule]), (rule, filt)
            assert _overlaps(rule, filt) is bool(matched[filt] & matched[rule]), (rule, filt)


def test_publish_decisions_agree_with_first_match_over_random_policies() -> None:
    """For random rule lists and topics, a publish is decided by the first rule whose filter matches the
    topic, else the default: the reference above, not the module's own matching."""
    import random

    rng = random.Random(5)
    filters = [f for f in _all(("a", "z", "+", "#"), 3) if validate_filter("/".join(f)) is None]
    topics = _all(("a", "z", "$s"), 4)
    for _ in range(200):
        rules = [(rng.choice(filters), rng.choice(("allow", "deny"))) for _ in range(rng.randint(0, 6))]
        default = rng.choice(("allow", "deny"))
        p = policy(*[("*", "publish", "/".join(f), perm) for f, perm in rules], default=default)
        for topic in rng.sample(topics, 30):
            expected = next((perm for f, perm in rules if _matches(f, topic)), default)
            assert allowed(p, "publish", "/".join(topic)) is (expected == "allow"), (rules, topic)
