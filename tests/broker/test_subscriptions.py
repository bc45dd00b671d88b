"""The subscription index finds exactly the filters a topic matches, looking only in its workspace."""

from typing import Any

import pytest

from cloudsignal.broker import subscriptions
from cloudsignal.broker.subscriptions import SubscriptionIndex, matches

FILTERS = [
    "w1/a/b",
    "w1/a/+",
    "w1/a/#",
    "w1/#",
    "w1/+/b",
    "w1/+",
    "w1/c/b",
    "w1/a/b/c",
    "w2/a/b",
    "w2/#",
    "w12/a/b",
]


@pytest.mark.parametrize("topic", ["w1/a/b", "w1/a", "w1/c/b", "w1/a/b/c", "w1/x", "w2/a/b", "w3/a/b"])
def test_the_index_finds_what_a_scan_of_every_filter_finds(topic: str) -> None:
    index = SubscriptionIndex()
    for f in FILTERS:
        index[f] = []
    scanned = {f for f in FILTERS if matches(topic, f)}
    assert {f for f, _subscribers in index.matching(topic)} == scanned


def test_matching_follows_mqtt_wildcards() -> None:
    assert matches("w1/a/b", "w1/a/#") and matches("w1/a", "w1/a/#") and matches("w1/a/b", "w1/+/b")
    assert not matches("w1/a/b", "w1/+") and not matches("w1/a", "w1/a/+") and not matches("w1/ab", "w1/a")


def test_other_workspaces_filters_are_never_examined(monkeypatch: pytest.MonkeyPatch) -> None:
    """1,000 wildcard filters in another workspace cost a message nothing: none is matched against."""
    index = SubscriptionIndex()
    for n in range(1000):
        index[f"w2/fleet-{n}/#"] = []
    index["w1/a/#"] = []
    examined: list[str] = []
    real = subscriptions.matches

    def counting(topic: str, topic_filter: str) -> Any:
        examined.append(topic_filter)
        return real(topic, topic_filter)

    monkeypatch.setattr(subscriptions, "matches", counting)
    assert [f for f, _ in index.matching("w1/a/b")] == ["w1/a/#"]
    assert examined == ["w1/a/#"]


def test_the_index_follows_every_way_amqtt_changes_the_dict() -> None:
    index = SubscriptionIndex()
    index["w1/a/+"] = []
    index.setdefault("w1/a/b", []).append(("session", 0))
    index.setdefault("w1/a/b", []).append(("other", 1))
    assert dict(index.matching("w1/a/b"))["w1/a/b"] == [("session", 0), ("other", 1)]
    del index["w1/a/+"]
    assert [f for f, _ in index.matching("w1/a/b")] == ["w1/a/b"]
    assert index.pop("w1/a/b") == [("session", 0), ("other", 1)]
    assert list(index.matching("w1/a/b")) == []
    index["w1/#"] = []
    index.clear()
    assert list(index.matching("w1/a/b")) == [] and not index
