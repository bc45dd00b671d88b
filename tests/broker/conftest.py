"""Every test in tests/broker is marked `broker` (`-m "not broker"` leaves them out). Their fixtures,
a real broker and paho devices, are the plugin tests/support/broker_fixtures.py."""

from pathlib import Path

import pytest

HERE = Path(__file__).parent


# A `pytestmark` in a conftest marks nothing (only a test module's does), hence this hook.
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.broker)
