"""`manage.py acl export|import`: the workspace's default and rules as JSON, replaced atomically."""

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from clients.models import AclRule
from workspaces.models import Organization, Workspace

POLICY: dict[str, Any] = {
    "default": "deny",
    "rules": [
        {"client": "agent-*", "action": "publish", "topic": "agents/${clientid}/#", "permission": "allow"},
        {"client": "sensor-7", "action": "subscribe", "topic": "sensors/+/temp", "permission": "allow"},
        {"client": "*", "action": "all", "topic": "ünïcode/ topic", "permission": "deny"},
    ],
}


def export(org: Organization, name: str = "Default") -> dict[str, Any]:
    out = io.StringIO()
    call_command("acl", "export", "--org", str(org.pk), "--workspace", name, stdout=out)
    return json.loads(out.getvalue())


def import_(org: Organization, path: str, name: str = "Default", stdin: str | None = None) -> str:
    err = io.StringIO()
    if stdin is not None:
        saved, sys.stdin = sys.stdin, io.StringIO(stdin)
        try:
            call_command("acl", "import", "--org", str(org.pk), "--workspace", name, path, stderr=err)
        finally:
            sys.stdin = saved
    else:
        call_command("acl", "import", "--org", str(org.pk), "--workspace", name, path, stderr=err)
    return err.getvalue()


def test_export_of_a_new_workspace(org: Organization) -> None:
    assert export(org) == {"default": "allow", "rules": []}


def test_round_trip(
    org: Organization, tmp_path: Path, control: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """What import reads, export writes back unchanged, in order; the broker is told to reload."""
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(POLICY), encoding="utf-8")
    with django_capture_on_commit_callbacks(execute=True):
        message = import_(org, str(path), name="default")  # workspace names are case-insensitive
    assert "Imported 3 rules into Default; default: deny." in message
    assert export(org) == POLICY
    assert control.rules_changed() == [[org.default_workspace.pk]]
    # And what the broker loads decides by those rules.
    policy = AclRule.objects.load_policies([org.default_workspace.pk])[org.default_workspace.pk]
    assert policy.check(username="agent-1", client_id="c1", action="publish", topic="agents/c1/x").allowed
    assert not policy.check(username="agent-1", client_id="c1", action="publish", topic="other").allowed


def test_import_replaces_everything(org: Organization, add_rule: Callable[..., AclRule]) -> None:
    add_rule(org.default_workspace, "old/#")
    import_(org, "-", stdin=json.dumps({"default": "allow", "rules": [POLICY["rules"][0]]}))
    assert export(org) == {"default": "allow", "rules": [POLICY["rules"][0]]}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "is not valid JSON (line 1, column 2"),
        ("[]", "must be a JSON object"),
        ('{"default": "maybe", "rules": []}', '"default" must be "allow" or "deny"'),
        ('{"rules": {}}', '"rules" must be a list'),
        ('{"rulez": []}', "Unknown key(s) rulez"),
        (
            json.dumps({"rules": [POLICY["rules"][0], {**POLICY["rules"][1], "topic": "a/#/b"}]}),
            "rule 2: topic: '#' must be the last level and stand alone",
        ),
        (
            json.dumps({"rules": [{"client": "*", "action": "publish", "topic": "x"}]}),
            "rule 1: permission: missing",
        ),
        (
            json.dumps({"rules": [{"client": "a*b", "action": "read", "topic": "x", "permission": "allow"}]}),
            "rule 1: client: A * may only end the pattern",
        ),
        (
            json.dumps(
                {"rules": [{"client": "*", "action": "pub", "topic": "a/#/b", "permission": "allow"}]}
            ),
            "rule 1: action: Choose publish, subscribe or all, not 'pub'; topic: '#' must be the last level "
            "and stand alone, as in sensors/#. Nothing was changed.",
        ),
        (json.dumps({"rules": ["x"]}), "rule 1: rule: must be an object"),
        (
            json.dumps({"rules": [{"client": "*", "action": "all", "topic": 5, "permission": "allow"}]}),
            "rule 1: topic: must be a string",
        ),
        (
            json.dumps({"rules": [{"client": "*", "action": "all", "topic": "", "permission": "allow"}]}),
            "rule 1: topic: A topic filter cannot be empty.",
        ),
    ],
)
def test_a_bad_file_changes_nothing_and_says_why(
    org: Organization, add_rule: Callable[..., AclRule], tmp_path: Path, document: str, message: str
) -> None:
    add_rule(org.default_workspace, "kept/#")
    path = tmp_path / "policy.json"
    path.write_text(document, encoding="utf-8")
    with pytest.raises(CommandError) as caught:
        import_(org, str(path))
    assert message in str(caught.value)
    assert "Nothing was changed." in str(caught.value)
    assert export(org) == {
        "default": "allow",
        "rules": [{"client": "*", "action": "all", "topic": "kept/#", "permission": "allow"}],
    }


def test_unknown_organization_or_workspace(
    org: Organization, other_org: Organization, tmp_path: Path
) -> None:
    with pytest.raises(CommandError, match="No organization with ID not-a-uuid"):
        export_args = ["acl", "export", "--org", "not-a-uuid", "--workspace", "Default"]
        call_command(*export_args)
    with pytest.raises(CommandError, match="No workspace named 'production' in Organization A"):
        export(org, "production")
    # Organization B's workspace is not reachable through A's id.
    Workspace.objects.create(organization=other_org, name="b-only")
    with pytest.raises(CommandError, match="No workspace named 'b-only'"):
        export(org, "b-only")
    with pytest.raises(CommandError, match="Cannot read"):
        import_(org, str(tmp_path / "missing.json"))


def test_command_line_exit_status(tmp_path: Path) -> None:
    """Run as a real command, a bad file exits 1 naming the rule on stderr, before any database work."""
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps({"rules": [{"client": "*", "action": "all", "topic": "sp+rt", "permission": "allow"}]})
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "acl", "import", "--org", "x", "--workspace", "Default", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "CLOUDSIGNAL_DATA_DIR": str(tmp_path / "data")},
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "CommandError: rule 1: topic: '+' must stand alone as a whole level, as in sensors/+/temperature. "
        "Nothing was changed."
    )
