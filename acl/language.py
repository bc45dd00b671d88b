"""ACL rules: validate them, compile a workspace's rules into a Policy, and decide with it.

A workspace holds an ordered list of rules. Each rule names who (one username, a username prefix
ending in `*` such as `agent-*`, or `*` for every client of the workspace), an action (publish,
subscribe or all), an MQTT topic filter and a permission. The first rule that applies decides; when
none applies the workspace's default does.

What "applies" means:

- Publish: the rule's filter matches the topic, exactly as an MQTT subscription would match it
  (`+` one level, `#` the rest including the parent, wildcards at the first level never match
  topics starting with `$`).
- Subscribe (the topic is the filter the device sent): an allow rule applies only when it covers
  the whole filter, every topic the filter could match also matches the rule; a deny rule applies
  as soon as the two could share a single topic. So `allow sensors/#` grants `sensors/+/temp` but
  not `#`, and `deny sensors/secret` refuses `sensors/+`. When in doubt a subscription is refused
  rather than allowed to receive something a rule denies. A filter without wildcards is one topic,
  so the broker may call check(action="subscribe") with the concrete topic of a message it is about
  to deliver, and the answer is what a publish check of that topic would say for the subscriber.

Placeholders: `${username}` and `${clientid}` may stand as whole levels of a rule's topic and are
replaced by the checking client's values, which are compared as one literal level. A value that
cannot be one topic level (empty, or containing `/`, `+`, `#` or NUL, or starting with `$` at the
first level, where it would name a system topic) makes every rule that uses it inapplicable to that
client: it can never widen a rule (a client id `#` matches nothing, not everything), and later rules
or the default decide instead.

This module does no database work per check: load_policies() reads a workspace's rules once and the
broker keeps the Policy until it hears that the rules changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

from django.db import transaction

from clients.hints import announce_rules_changed

if TYPE_CHECKING:
    from clients.models import AclRule
    from workspaces.models import Workspace

PUBLISH: Final = "publish"
SUBSCRIBE: Final = "subscribe"
ALL: Final = "all"
ACTIONS: Final = (PUBLISH, SUBSCRIBE, ALL)
ALLOW: Final = "allow"
DENY: Final = "deny"
PERMISSIONS: Final = (ALLOW, DENY)

MAX_TOPIC_BYTES: Final = 65_535
USERNAME_PLACEHOLDER: Final = "${username}"
CLIENTID_PLACEHOLDER: Final = "${clientid}"
PLACEHOLDERS: Final = (USERNAME_PLACEHOLDER, CLIENTID_PLACEHOLDER)

# Who a rule is for: "*", a username, or a username prefix followed by "*". The username part
# follows clients.models.USERNAME_PATTERN; a prefix may end in a hyphen ("agent-*").
_CLIENT_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?$")
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
    if client == "*" or _CLIENT_NAME.match(client) or _CLIENT_PREFIX.match(client):
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
            # A publish topic has no wildcards, so covering and overlapping agree for it.
            if _covers(levels, filt) if allow else _overlaps(levels, filt):
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


# A workspace the database no longer has: nothing is allowed there.
_GONE = Policy(DENY, ())


def load_policies(workspace_ids: Iterable[int]) -> dict[int, Policy]:
    """The compiled policies of these workspaces, in two queries (synchronous ORM).

    Every requested id is in the result; a workspace that no longer exists gets a policy that denies
    everything.
    """
    from clients.models import AclRule
    from workspaces.models import Workspace

    ids = {int(i) for i in workspace_ids}
    if not ids:
        return {}
    defaults = dict(Workspace.objects.filter(pk__in=ids).values_list("pk", "default_permission"))
    specs: dict[int, list[RuleSpec]] = {pk: [] for pk in defaults}
    for rule in AclRule.objects.filter(workspace_id__in=defaults).order_by("workspace_id", "position", "pk"):
        specs[rule.workspace_id].append(rule.spec())
    policies = {pk: _compile_stored(defaults[pk], specs[pk]) for pk in defaults}
    return {pk: policies.get(pk, _GONE) for pk in ids}


def _compile_stored(default: str, specs: list[RuleSpec]) -> Policy:
    # Rows were validated when saved; one that is not (edited by hand in the database) is skipped
    # rather than taking the whole workspace's policy down, and the numbering stays as shown.
    good = []
    for number, spec in enumerate(specs, start=1):
        if spec.problems():
            continue
        good.append((number, spec))
    policy = compile_policy(default if default in PERMISSIONS else DENY, [s for _, s in good])
    renumbered = [replace(r, number=number) for (number, _), r in zip(good, policy._rules, strict=True)]
    return Policy(policy.default, renumbered)


# Changing a workspace's rules. Every change locks the workspace row, so concurrent edits keep the
# positions dense and in order, and tells the broker to reload once the transaction commits.


def rules_of(workspace: Workspace) -> list[AclRule]:
    from clients.models import AclRule

    return list(AclRule.objects.in_workspace(workspace))


def add_rule(workspace: Workspace, spec: RuleSpec) -> AclRule:
    """Append a validated rule at the end of the workspace's list."""
    from clients.models import AclRule

    _raise_if_invalid(spec)
    with transaction.atomic():
        _lock(workspace)
        position = AclRule.objects.filter(workspace=workspace).count()
        rule = AclRule.objects.create(
            workspace=workspace,
            position=position,
            client=spec.client,
            action=spec.action,
            topic=spec.topic,
            permission=spec.permission,
        )
        announce_rules_changed([workspace.pk])
    return rule


def change_rule(rule: AclRule, spec: RuleSpec) -> None:
    """Replace what a rule says, keeping its place in the list."""
    _raise_if_invalid(spec)
    with transaction.atomic():
        _lock(rule.workspace)
        rule.client, rule.action, rule.topic, rule.permission = (
            spec.client,
            spec.action,
            spec.topic,
            spec.permission,
        )
        rule.save(update_fields=["client", "action", "topic", "permission", "updated"])
        announce_rules_changed([rule.workspace_id])


def move_rule(rule: AclRule, offset: int) -> None:
    """Move a rule `offset` places (-1 up, +1 down), stopping at either end of the list."""
    with transaction.atomic():
        _lock(rule.workspace)
        ordered = rules_of(rule.workspace)
        index = next((i for i, r in enumerate(ordered) if r.pk == rule.pk), None)
        if index is None:
            return  # deleted meanwhile by someone else
        target = min(max(index + offset, 0), len(ordered) - 1)
        if target == index:
            return
        ordered.insert(target, ordered.pop(index))
        _renumber(ordered)
        announce_rules_changed([rule.workspace_id])


def delete_rule(rule: AclRule) -> None:
    with transaction.atomic():
        _lock(rule.workspace)
        rule.delete()
        _renumber(rules_of(rule.workspace))
        announce_rules_changed([rule.workspace_id])


def set_default(workspace: Workspace, permission: str) -> None:
    """What the workspace decides when no rule applies."""
    if permission not in PERMISSIONS:
        raise ValueError(f"default must be 'allow' or 'deny', not {permission!r}")
    with transaction.atomic():
        _lock(workspace)
        workspace.default_permission = permission
        workspace.save(update_fields=["default_permission"])
        announce_rules_changed([workspace.pk])


def replace_rules(workspace: Workspace, default: str, specs: Sequence[RuleSpec]) -> None:
    """Replace the default and every rule at once (policy as code). Validates everything first, so
    an invalid rule raises InvalidRule and changes nothing."""
    from clients.models import AclRule

    compile_policy(default, specs)  # raises before anything is written
    with transaction.atomic():
        _lock(workspace)
        AclRule.objects.filter(workspace=workspace).delete()
        AclRule.objects.bulk_create(
            AclRule(
                workspace=workspace,
                position=position,
                client=spec.client,
                action=spec.action,
                topic=spec.topic,
                permission=spec.permission,
            )
            for position, spec in enumerate(specs)
        )
        workspace.default_permission = default
        workspace.save(update_fields=["default_permission"])
        announce_rules_changed([workspace.pk])


def export_policy(workspace: Workspace) -> dict[str, object]:
    """The workspace's default and rules in the policy-as-code format replace_rules() reads."""
    workspace.refresh_from_db(fields=["default_permission"])
    return {
        "default": workspace.default_permission,
        "rules": [
            {"client": r.client, "action": r.action, "topic": r.topic, "permission": r.permission}
            for r in rules_of(workspace)
        ],
    }


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


def _raise_if_invalid(spec: RuleSpec) -> None:
    if problems := spec.problems():
        raise InvalidRule(0, problems)


def _lock(workspace: Workspace) -> None:
    from workspaces.models import Workspace

    list(Workspace.objects.select_for_update().filter(pk=workspace.pk).values_list("pk"))


def _renumber(ordered: Sequence[AclRule]) -> None:
    from clients.models import AclRule

    for position, rule in enumerate(ordered):
        rule.position = position
    AclRule.objects.bulk_update(ordered, ["position"])
