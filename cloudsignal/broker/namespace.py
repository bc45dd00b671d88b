"""Each workspace is its own MQTT world, without devices knowing. This module is the only place that
builds or parses a workspace prefix.

Inside the broker every topic, topic filter and client id carries its workspace: a device of
workspace 7 publishing `sensors/temp` publishes `w7/sensors/temp`, subscribing `sensors/#`
subscribes `w7/sensors/#`, and its client id `dev` is the session `7:dev`. On the way out the prefix
is stripped, and anything outside the receiver's prefix is dropped. Devices never see the prefix and
cannot name another workspace's topics: whatever they send is put under their own.
"""


def topic_prefix(workspace_id: int) -> str:
    return f"w{workspace_id}/"


def workspace_of_topic(topic: str) -> int | None:
    """The workspace whose namespace holds this broker-side topic, or None for a topic outside all."""
    head, slash, _rest = topic.partition("/")
    if not slash or not head.startswith("w") or not head[1:].isdigit():
        return None
    return int(head[1:])


def session_key(workspace_id: int, client_id: str) -> str:
    """The broker's id for a device's session: its client id within its workspace."""
    return f"{workspace_id}:{client_id}"


def split_session_key(key: str) -> tuple[int, str]:
    workspace, _, client_id = key.partition(":")
    return int(workspace), client_id


def is_publishable(topic: str | None) -> bool:
    """A topic a device may publish to: not empty, no wildcards, not a `$` system topic."""
    if not topic:
        return False
    return not topic.startswith("$") and "#" not in topic and "+" not in topic


def is_subscribable(topic_filter: str) -> bool:
    """A filter that is placed in the device's namespace (`$SYS` and empty filters are refused)."""
    return bool(topic_filter) and not topic_filter.startswith("$")
