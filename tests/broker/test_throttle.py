"""The throttle's arithmetic (cloudsignal.broker.throttle), with a clock the test moves."""

import uuid

from cloudsignal.broker.throttle import FORGET_AFTER, MAX_BACKOFF, Throttle

ORG = uuid.UUID("6f1c1d2e-8a9b-4c3d-9e0f-112233445566")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_back_off_doubles_after_the_free_failures_and_a_success_clears_it() -> None:
    clock = Clock()
    throttle = Throttle(clock)
    for _ in range(5):
        assert not throttle.failed(ORG, "dev", "10.0.0.1")
    assert throttle.blocked(ORG, "dev", "10.0.0.1") is None
    waits = []
    for _ in range(4):
        assert throttle.failed(ORG, "DEV", "10.0.0.1")  # usernames are case-insensitive
        blocked = throttle.blocked(ORG, "dev", "10.0.0.1")
        assert blocked is not None and blocked.kind == "username"
        waits.append(blocked.seconds_left)
        clock.now += blocked.seconds_left
        assert throttle.blocked(ORG, "dev", "10.0.0.1") is None
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert throttle.blocked(ORG, "dev", "10.0.0.2") is None  # another address
    throttle.succeeded(ORG, "dev", "10.0.0.1")
    assert not throttle.failed(ORG, "dev", "10.0.0.1")


def test_the_back_off_stops_growing_at_its_maximum() -> None:
    throttle = Throttle(Clock(), address_burst=10**6)
    for _ in range(60):
        throttle.failed(ORG, "dev", "10.0.0.1")
    blocked = throttle.blocked(ORG, "dev", "10.0.0.1")
    assert blocked is not None and blocked.seconds_left == MAX_BACKOFF


def test_one_device_failing_once_per_back_off_never_fills_its_address_bucket() -> None:
    """The NAT case: hours of one misconfigured device never block the address for the others."""
    clock = Clock()
    throttle = Throttle(clock)
    for _ in range(200):
        throttle.failed(ORG, "broken", "10.0.0.1")
        blocked = throttle.blocked(ORG, "broken", "10.0.0.1")
        clock.now += blocked.seconds_left if blocked else 1.0
        assert throttle.blocked(ORG, "healthy", "10.0.0.1") is None


def test_records_are_bounded_and_forgotten_when_quiet() -> None:
    clock = Clock()
    throttle = Throttle(clock, max_records=100)
    for n in range(1000):
        throttle.failed(ORG, f"guess-{n}", f"10.0.{n // 250}.{n % 250}")
    assert len(throttle) <= 200
    clock.now += FORGET_AFTER + MAX_BACKOFF
    throttle.failed(ORG, "last", "10.9.9.9")
    assert len(throttle) == 2
