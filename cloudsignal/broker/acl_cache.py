"""What a connected client may publish and subscribe: each workspace's ACL policy, held in memory.

Policies are loaded once per workspace (when its first client logs in) and reloaded when the
dashboard says the rules changed; no message costs a database query (a Policy memoises its own
decisions). Topics here are as the device sees them, never workspace-prefixed.
"""

from acl.language import Policy
from clients.models import AclRule
from cloudsignal.broker.auth import Login


class AclCache:
    def __init__(self) -> None:
        self._policies: dict[int, Policy] = {}

    def missing(self, workspace_ids: list[int]) -> list[int]:
        return [ws for ws in workspace_ids if ws not in self._policies]

    @staticmethod
    def load(workspace_ids: list[int]) -> dict[int, Policy]:
        """Read the policies of these workspaces. Blocking: call it from a thread, then `install`."""
        return AclRule.objects.load_policies(workspace_ids)

    def install(self, policies: dict[int, Policy]) -> None:
        self._policies.update(policies)

    def forget(self, workspace_ids: set[int]) -> None:
        for ws in workspace_ids:
            self._policies.pop(ws, None)

    def allows(self, login: Login, client_id: str, action: str, topic: str) -> bool:
        """May this session do `action` ("publish" or "subscribe") on `topic`?"""
        policy = self._policies.get(login.workspace_id)
        if policy is None:
            # Never loaded (its load failed at login): refuse rather than guess.
            return False
        return policy.check(username=login.username, client_id=client_id, action=action, topic=topic).allowed
