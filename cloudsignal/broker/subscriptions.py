"""Which subscriptions a published topic reaches, without looking at every filter in the broker.

Stock amqtt matched each message against every subscription filter of every client: with 1,000 idle
subscribers in other workspaces, one-to-one throughput fell to 11% of what it was without them. Here
the broker's `_subscriptions` (amqtt's dict of filter -> [(session, qos)]) is a `SubscriptionIndex`,
the same dict for every stock method that reads or changes it, that also files each filter under
its workspace (the topic's first level, namespace.py) and there:

- a filter without wildcards under its exact topic (one dict lookup per message);
- a wildcard filter under its first level below the workspace (`sensors/+/temp` under `sensors`),
  or among the few that start with a wildcard (`#`, `+/temp`), which every topic is matched against.

So a message is matched only against the filters of its own workspace that could match it. The lists
of subscribers are shared with the dict's values, so stock code appending to or removing from a
filter's list needs no notice; only filters coming and going go through the overrides below.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amqtt.session import Session

Subscribers = list[tuple["Session", int]]

# Filters starting with a wildcard are kept under this key: every topic of the workspace is matched.
_ANY = "+"


class _Workspace:
    __slots__ = ("exact", "wild")

    def __init__(self) -> None:
        self.exact: dict[str, Subscribers] = {}
        # First level below the workspace (or _ANY) -> wildcard filter -> subscribers.
        self.wild: dict[str, dict[str, Subscribers]] = {}


def _split(topic_filter: str) -> tuple[str, str, str]:
    """(workspace key, first level below it, the rest) of a filter or topic."""
    space, _, rest = topic_filter.partition("/")
    head, _, tail = rest.partition("/")
    return space, head, tail


def _has_wildcard(topic_filter: str) -> bool:
    return "+" in topic_filter or "#" in topic_filter


def matches(topic: str, topic_filter: str) -> bool:
    """MQTT 3.1.1 topic matching (4.7) for a valid filter and a topic without wildcards."""
    if not _has_wildcard(topic_filter):
        return topic == topic_filter
    levels = topic.split("/")
    filter_levels = topic_filter.split("/")
    for i, level in enumerate(filter_levels):
        if level == "#":
            return True
        if i >= len(levels) or (level != "+" and level != levels[i]):
            return False
    return len(levels) == len(filter_levels)


class SubscriptionIndex(dict[str, Subscribers]):
    """amqtt's `_subscriptions`, indexed by workspace and by topic level (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._spaces: dict[str, _Workspace] = {}

    # Finding -----------------------------------------------------------------------------------

    def matching(self, topic: str) -> Iterator[tuple[str, Subscribers]]:
        """Each filter that `topic` matches, with its subscribers."""
        space_key, head, _tail = _split(topic)
        space = self._spaces.get(space_key)
        if space is None:
            return
        if (exact := space.exact.get(topic)) is not None:
            yield topic, exact
        for key in (head, _ANY):
            for topic_filter, subscribers in (space.wild.get(key) or {}).items():
                if matches(topic, topic_filter):
                    yield topic_filter, subscribers

    # Keeping the index in step with the dict ------------------------------------------------------

    def _file(self, topic_filter: str, subscribers: Subscribers) -> None:
        space_key, head, _tail = _split(topic_filter)
        space = self._spaces.setdefault(space_key, _Workspace())
        if not _has_wildcard(topic_filter):
            space.exact[topic_filter] = subscribers
        else:
            key = _ANY if _has_wildcard(head) else head
            space.wild.setdefault(key, {})[topic_filter] = subscribers

    def _unfile(self, topic_filter: str) -> None:
        space_key, head, _tail = _split(topic_filter)
        space = self._spaces.get(space_key)
        if space is None:
            return
        if not _has_wildcard(topic_filter):
            space.exact.pop(topic_filter, None)
        else:
            key = _ANY if _has_wildcard(head) else head
            group = space.wild.get(key)
            if group is not None:
                group.pop(topic_filter, None)
                if not group:
                    del space.wild[key]
        if not space.exact and not space.wild:
            del self._spaces[space_key]

    def __setitem__(self, topic_filter: str, subscribers: Subscribers) -> None:
        super().__setitem__(topic_filter, subscribers)
        self._file(topic_filter, subscribers)

    def __delitem__(self, topic_filter: str) -> None:
        super().__delitem__(topic_filter)
        self._unfile(topic_filter)

    def setdefault(self, topic_filter: str, default: Subscribers | None = None) -> Subscribers:
        if topic_filter not in self:
            self[topic_filter] = default if default is not None else []
        return self[topic_filter]

    def pop(self, topic_filter: str, *default: Any) -> Any:
        if topic_filter in self:
            self._unfile(topic_filter)
        return super().pop(topic_filter, *default)

    def popitem(self) -> tuple[str, Subscribers]:
        topic_filter, subscribers = super().popitem()
        self._unfile(topic_filter)
        return topic_filter, subscribers

    def clear(self) -> None:
        super().clear()
        self._spaces.clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        for topic_filter, subscribers in dict(*args, **kwargs).items():
            self[topic_filter] = subscribers
