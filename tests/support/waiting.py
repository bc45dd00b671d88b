"""The one way tests wait: poll a condition until it holds, and fail saying which one did not."""

import time
from collections.abc import Callable


def wait_for[T](condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Poll `condition` until it returns something truthy, and return that; after `timeout` seconds
    fail with an AssertionError. An exception raised by `condition` is a bug in it and is not retried."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() >= deadline:
            name = getattr(condition, "__qualname__", repr(condition))
            raise AssertionError(f"not true within {timeout}s: {name} (last: {result!r})")
        time.sleep(interval)
    return result
