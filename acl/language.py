"""The ACL rule language: validate rules, compile a workspace's rules into a Policy, and decide with it.

A workspace holds an ordered list of rules. Each rule names who (one username, a username prefix
ending in `*` such as `agent-*`, or `*` for every client of the workspace), an action (publish,
subscribe or all), an MQTT topic filter and a permission. The first rule that applies decides; when
none applies the workspace's default does.

What "applies" means:

- Publish: the rule's filter matches the topic, exactly as an MQTT subscription would match it
  (`+` one level, `#` the rest including the parent, wildcards at the first level never match
  topics starting with `$`).
- Subscribe (the topic is the filter the device sent): a subscription is refused only when the
  rules deny every topic it could match, as Mosquitto does. An allow rule applies as soon as it
  could share a single topic with the filter; a deny rule applies only when it covers the whole
  filter (every topic the filter could match also matches the rule). So with "deny subscribe
  `test/nosubscribe`" (default allow), `#` and `+/+` are granted, and `test/nosubscribe` is refused.
  A granted wildcard subscription is not a licence: the broker checks each message it delivers
  (live, queued or retained) with check(action="subscribe") on the message's concrete topic. A
  filter without wildcards is one topic, for which covering and overlapping agree, so that answer is
  what a publish check of that topic would say for the subscriber.

Placeholders: `${username}` and `${clientid}` may stand as whole levels of a rule's topic and are
replaced by the checking client's values, which are compared as one literal level. A value that
cannot be one topic level (empty, or containing `/`, `+`, `#` or NUL, or starting with `$` at the
first level, where it would name a system topic) makes every rule that uses it inapplicable to that
client: it can never widen a rule (a client id `#` matches nothing, not everything), and later rules
or the default decide instead.

This module is pure: no Django, no database, nothing of ours. The rules are stored as AclRule rows
(clients.models), whose AclRule.objects.load_policies() reads a workspace's rules once; the broker
keeps the Policy until it hears that the rules changed, so no check costs a query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final

# The vocabulary. Models and forms use the (value, label) pairs as choices; the broker checks with
# PUBLISH and SUBSCRIBE.
PUBLISH: Final = "publish"
SUBSCRIBE: Final = "subscribe"
ALL: Final = "all"
ACTIONS: Final = (PUBLISH, SUBSCRIBE, ALL)
ACTION_CHOICES: Final = ((PUBLISH, "Publish"), (SUBSCRIBE, "Subscribe"), (ALL, "Publish and subscribe"))
ALLOW: Final = "allow"
DENY: Final = "deny"
PERMISSIONS: Final = (ALLOW, DENY)
PERMISSION_CHOICES: Final = ((ALLOW, "Allow"), (DENY, "Deny"))

MAX_TOPIC_BYTES: Final = 65_535
USERNAME_PLACEHOLDER: Final = "${username}"
CLIENTID_PLACEHOLDER: Final = "${clientid}"
PLACEHOLDERS: Final = (USERNAME_PLACEHOLDER, CLIENTID_PLACEHOLDER)

# A client's username (the part before @organization): letters, digits and hyphens, starting and
# ending with a letter or digit. MqttClient stores and constrains it with this very pattern.
USERNAME_MAX_LENGTH: Final = 64
USERNAME_PATTERN: Final = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?$")

# Who a rule is for: "*", a username, or a username prefix followed by "*"; a prefix may end in a
# hyphen ("agent-*").
_CLIENT_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}\*$")

# Cached decisions per policy; a device usually publishes to a handful of topics, so this is small
# in practice, and clearing it when full keeps memory bounded against a device cycling topics.
_DECISION_CACHE_SIZE: Final = 8192


# Validation. Each returns why the input is invalid, or None.


def validate_filter(topic: str) -> str | None:
    """Why `topic` is not a valid MQTT topic filter (as a device would send), or None."""
    if topic == "":
        return "A topic filter cannot be empty."
    if "\x00" in topic:
        return "A topic filter cannot contain the NUL character (U+0000)."
    # An ASCII string's UTF-8 length is its length; only others need encoding to count.
    if not topic.isascii() or len(topic) > MAX_TOPIC_BYTES:
        try:
            size = len(topic.encode("utf-8"))
        except UnicodeEncodeError:
            return "A topic filter must be valid UTF-8 text."
        if size > MAX_TOPIC_BYTES:
            return f"A topic filter can be at most 65,535 bytes in UTF-8; this one is {size:,} bytes."
    if "#" in topic or "+" in topic:
        levels = topic.split("/")
        for index, level in enumerate(levels):
            if "#" in level and (level != "#" or index != len(levels) - 1):
                return "'#' must be the last level and stand alone, as in sensors/#."
            if "+" in level and level != "+":
                return "'+' must stand alone as a whole level, as in sensors/+/temperature."
    return None


def validate_topic_name(topic: str) -> str | None:
    """Why `topic` is not a valid topic to publish to (a filter without wildcards), or None."""
    if problem := validate_filter(topic):
        return problem.replace("topic filter", "topic")
    if "+" in topic or "#" in topic:
        return "A publish goes to one topic: the wildcards + and # are only for subscriptions."
    return None


def validate_rule_topic(topic: str) -> str | None:
    """Why `topic` cannot be a rule's filter, or None: a valid filter whose placeholders are whole levels."""
    if problem := validate_filter(topic):
        return problem
    for level in topic.split("/"):
        if level in PLACEHOLDERS:
            continue
        if "${" in level:
            return (
                "Only ${username} and ${clientid} can be used, each as a whole level, "
                "as in devices/${clientid}/#."
            )
    return None


def validate_client(client: str) -> str | None:
    """Why `client` cannot name who a rule is for, or None."""
    if client == "*" or USERNAME_PATTERN.match(client) or _CLIENT_PREFIX.match(client):
        return None
    if client == "":
        return "Name a client: a username, a prefix ending in * (such as agent-*), or * for all clients."
    if "*" in client[:-1]:
        return "A * may only end the pattern, as in agent-*; use * alone for all clients."
    return (
        "Use a username (letters, digits and hyphens, at most 64 characters), a prefix ending in * "
        "(such as agent-*), or * for all clients."
    )


# Matching MQTT filters. Levels are tuples of strings; "+" and "#" are wildcards.


def _covers(rule: Sequence[str], filt: Sequence[str]) -> bool:
    """Every topic `filt` matches is matched by `rule` (for a plain topic: `rule` matches it)."""
    # A wildcard at the first level never matches a topic that starts with "$" (MQTT 4.7.2).
    if rule[0] in _WILDCARDS and filt[0].startswith("$"):
        return False
    n = len(filt)
    for i, r in enumerate(rule):
        if r == "#":
            return True  # covers whatever remains, including nothing (sport/# matches sport)
        if i == n:
            return False
        f = filt[i]
        if f == "#":
            # filt also matches the topic that ends before this level, which the rule does not, except
            # at the first level: no topic has zero levels, so there "#" and "+/#" are the same.
            return i == 0 and tuple(rule) == ("+", "#")
        if r == "+":
            continue
        if f != r:  # including f == "+": a literal level covers only itself
            return False
    return n == len(rule)


def _overlaps(rule: Sequence[str], filt: Sequence[str]) -> bool:
    """Some topic is matched by both `rule` and `filt`."""
    if (rule[0] in _WILDCARDS and filt[0].startswith("$")) or (
        filt[0] in _WILDCARDS and rule[0].startswith("$")
    ):
        return False
    for i in range(max(len(rule), len(filt))):
        r = rule[i] if i < len(rule) else None
        f = filt[i] if i < len(filt) else None
        if r == "#" or f == "#":
            return True
        if r is None or f is None:
            return False
        if r != "+" and f != "+" and r != f:
            return False
    return True


_WILDCARDS: Final = frozenset(("+", "#"))


# The compiled policy.


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # e.g. 'rule 3: deny publish "sensors/#" for agent-*' or 'workspace default: allow'
    rule_id: int | None


@dataclass(frozen=True)
class RuleSpec:
    """One rule as written: the import format, and what compile_policy() takes."""

    client: str
    action: str
    topic: str
    permission: str
    id: int | None = None

    def problems(self) -> dict[str, str]:
        """Field name → why it is invalid; empty when the rule is valid."""
        found: dict[str, str] = {}
        if problem := validate_client(self.client):
            found["client"] = problem
        if self.action not in ACTIONS:
            found["action"] = f"Choose publish, subscribe or all, not {self.action!r}."
        if problem := validate_rule_topic(self.topic):
            found["topic"] = problem
        if self.permission not in PERMISSIONS:
            found["permission"] = f"Choose allow or deny, not {self.permission!r}."
        return found

    def describe(self) -> str:
        who = "all clients" if self.client == "*" else self.client
        action = "publish and subscribe" if self.action == ALL else self.action
        return f'{self.permission} {action} "{self.topic}" for {who}'


class InvalidRule(ValueError):
    def __init__(self, index: int, problems: dict[str, str]) -> None:
        self.index = index
        self.problems = problems
        detail = "; ".join(f"{name}: {why.rstrip('.')}" for name, why in problems.items())
        super().__init__(f"rule {index}: {detail}")


@dataclass(frozen=True, slots=True)
class _Rule:
    number: int  # 1-based position, as the dashboard shows it
    id: int | None
    who_exact: str | None  # lowercased username
    who_prefix: str | None  # lowercased prefix, for "prefix-*"
    publish: bool
    subscribe: bool
    allow: bool
    levels: tuple[str, ...]
    placeholders: bool
    description: str

    def is_for(self, username: str) -> bool:
        if self.who_exact is not None:
            return username == self.who_exact
        if self.who_prefix is not None:
            return username.startswith(self.who_prefix)
        return True


# A rule that can apply to one client and action: its levels (placeholders resolved), whether it
# allows, and the Decision it gives.
_Applicable = tuple[tuple[str, ...], bool, Decision]


def _usable_level(value: str) -> bool:
    return value != "" and not any(c in value for c in "/+#\x00")


class Policy:
    """The compiled rules of one workspace. Immutable apart from its caches, which the broker's single
    event loop fills; a lost cache write would only cost a recomputation."""

    __slots__ = ("_applicable", "_cache", "_decisions", "_default_decision", "_rules", "default")

    def __init__(self, default: str, rules: Sequence[_Rule]) -> None:
        self.default = default
        self._rules = tuple(rules)
        self._decisions = tuple(
            Decision(r.allow, f"rule {r.number}: {r.description}", r.id) for r in self._rules
        )
        self._default_decision = Decision(default == ALLOW, f"workspace default: {default}", None)
        # Decisions by (username, client id, action, topic): the broker's steady state is a hit here.
        self._cache: dict[tuple[str, str, str, str], Decision] = {}
        # The rules that can apply to one (username, client id, action), placeholders resolved: a
        # device cycling through new topics still skips everything that is not about it.
        self._applicable: dict[tuple[str, str, str], tuple[_Applicable, ...]] = {}

    def __len__(self) -> int:
        return len(self._rules)

    def __repr__(self) -> str:
        return f"<Policy default={self.default} rules={len(self._rules)}>"

    def check(self, *, username: str, client_id: str, action: str, topic: str) -> Decision:
        """May this client do `action` ("publish" or "subscribe") on `topic`?

        `topic` is what the device sent, never workspace-prefixed: a topic for publish, a filter for
        subscribe. `username` is the bare username (no @organization part). An invalid topic or
        filter is denied with the reason.
        """
        key = (username, client_id, action, topic)
        if (hit := self._cache.get(key)) is not None:
            return hit
        decision = self._decide(username, client_id, action, topic)
        if len(self._cache) >= _DECISION_CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = decision
        return decision

    def grants_every_topic(self, *, username: str, client_id: str, topic_filter: str) -> Decision:
        """May this client subscribe to `topic_filter` on a broker that decides once per subscription
        and never checks a delivery on its own topic (RabbitMQ)? Only when every topic the filter
        matches is allowed: a deny rule touching any part of it refuses, and a part no allow rule
        takes is left to the default."""
        if problem := validate_filter(topic_filter):
            return Decision(False, f"invalid topic: {problem}", None)
        filt = topic_filter.split("/")
        for levels, allow, decision in self._rules_for(username, client_id, SUBSCRIBE):
            if _covers(levels, filt):
                return decision
            if not allow and _overlaps(levels, filt):
                return Decision(False, f"{decision.reason} (part of the filter)", decision.rule_id)
        return self._default_decision

    def _decide(self, username: str, client_id: str, action: str, topic: str) -> Decision:
        if action == PUBLISH:
            problem = validate_topic_name(topic)
        elif action == SUBSCRIBE:
            problem = validate_filter(topic)
        else:
            raise ValueError(f"action must be 'publish' or 'subscribe', not {action!r}")
        if problem:
            return Decision(False, f"invalid topic: {problem}", None)
        filt = topic.split("/")
        for levels, allow, decision in self._rules_for(username, client_id, action):
            # A topic without wildcards is covered exactly when it is overlapped. For a wildcard
            # filter: granted as soon as some topic could be allowed (each delivery is checked on
            # its own topic), refused only when a deny rule takes every topic the filter matches.
            if _overlaps(levels, filt) if allow else _covers(levels, filt):
                return decision
        return self._default_decision

    def _rules_for(self, username: str, client_id: str, action: str) -> tuple[_Applicable, ...]:
        key = (username, client_id, action)
        if (hit := self._applicable.get(key)) is not None:
            return hit
        who = username.lower()
        publishing = action == PUBLISH
        found: list[_Applicable] = []
        for rule, decision in zip(self._rules, self._decisions, strict=True):
            if not (rule.publish if publishing else rule.subscribe) or not rule.is_for(who):
                continue
            if not rule.placeholders:
                found.append((rule.levels, rule.allow, decision))
            elif (resolved := self._resolve(rule.levels, username, client_id)) is not None:
                found.append((resolved, rule.allow, decision))
        if len(self._applicable) >= _DECISION_CACHE_SIZE:
            self._applicable.clear()
        self._applicable[key] = result = tuple(found)
        return result

    @staticmethod
    def _resolve(levels: tuple[str, ...], username: str, client_id: str) -> tuple[str, ...] | None:
        out = []
        for index, level in enumerate(levels):
            if level == USERNAME_PLACEHOLDER:
                level = username
            elif level == CLIENTID_PLACEHOLDER:
                level = client_id
            else:
                out.append(level)
                continue
            # A leading "$" level names a system topic (MQTT 4.7.2); a client id must not reach one.
            if not _usable_level(level) or (index == 0 and level.startswith("$")):
                return None
            out.append(level)
        return tuple(out)


def compile_policy(default: str, rules: Iterable[RuleSpec]) -> Policy:
    """Compile rules, in order, into a Policy. Raises InvalidRule (1-based index) for a bad rule."""
    if default not in PERMISSIONS:
        raise ValueError(f"default must be 'allow' or 'deny', not {default!r}")
    compiled = []
    for number, spec in enumerate(rules, start=1):
        if problems := spec.problems():
            raise InvalidRule(number, problems)
        client = spec.client.lower()
        levels = tuple(spec.topic.split("/"))
        compiled.append(
            _Rule(
                number=number,
                id=spec.id,
                who_exact=None if client.endswith("*") else client,
                who_prefix=client[:-1] if client.endswith("*") else None,
                publish=spec.action in (PUBLISH, ALL),
                subscribe=spec.action in (SUBSCRIBE, ALL),
                allow=spec.permission == ALLOW,
                levels=levels,
                placeholders=any(level in PLACEHOLDERS for level in levels),
                description=spec.describe(),
            )
        )
    return Policy(default, compiled)


def compile_stored(default: str, specs: Iterable[RuleSpec]) -> Policy:
    """Compile rules as stored, in order, never raising: rules were validated when saved, and one that
    is not (edited by hand in the database) is skipped rather than taking the whole policy down. The
    others keep their numbers, as the dashboard shows them; an unknown default denies."""
    good = []
    for number, spec in enumerate(specs, start=1):
        if spec.problems():
            continue
        good.append((number, spec))
    policy = compile_policy(default if default in PERMISSIONS else DENY, [s for _, s in good])
    renumbered = [replace(r, number=number) for (number, _), r in zip(good, policy._rules, strict=True)]
    return Policy(policy.default, renumbered)


# Policy as code.


def parse_policy(document: object) -> tuple[str, list[RuleSpec]]:
    """Read the policy-as-code format. Raises InvalidRule (1-based index) or ValueError, naming what
    is wrong, for anything that is not exactly that format."""
    if not isinstance(document, dict):
        raise ValueError('The file must be a JSON object: {"default": "allow", "rules": [...]}.')
    unknown = set(document) - {"default", "rules"}
    if unknown:
        raise ValueError(f"Unknown key(s) {', '.join(sorted(map(str, unknown)))}; only default and rules.")
    default = document.get("default", ALLOW)
    if default not in PERMISSIONS:
        raise ValueError(f'"default" must be "allow" or "deny", not {default!r}.')
    rules = document.get("rules", [])
    if not isinstance(rules, list):
        raise ValueError('"rules" must be a list.')
    specs = []
    for index, item in enumerate(rules, start=1):
        if not isinstance(item, dict):
            raise InvalidRule(index, {"rule": "must be an object with client, action, topic and permission"})
        problems = {k: "unknown key" for k in set(item) - {"client", "action", "topic", "permission"}}
        for key in ("client", "action", "topic", "permission"):
            if key not in item:
                problems[key] = "missing"
            elif not isinstance(item[key], str):
                problems[key] = "must be a string"
        if problems:
            raise InvalidRule(index, problems)
        spec = RuleSpec(
            client=item["client"], action=item["action"], topic=item["topic"], permission=item["permission"]
        )
        if problems := spec.problems():
            raise InvalidRule(index, problems)
        specs.append(spec)
    return default, specs
