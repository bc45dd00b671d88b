"""What the broker needs to know to start: listeners, limits and timers.

Every value comes from cloudsignal/settings.py, which reads the environment once (a bad value stops
start-up naming the variable); tests and benchmarks build BrokerOptions directly, overriding a few.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

# Names double as LiveSession.listener values.
MQTT = "mqtt"
MQTTS = "mqtts"
WS = "ws"


@dataclass(frozen=True)
class Listener:
    name: str
    host: str
    port: int
    # The environment variable that sets the port: named in "port in use" errors.
    port_variable: str
    tls: bool = False
    websocket: bool = False


def _setting(name: str) -> Any:
    return field(default_factory=lambda: getattr(settings, name))


@dataclass
class BrokerOptions:
    """Everything the broker is started with; every default is the setting of the same meaning."""

    listeners: list[Listener]
    tls_cert: Path | None = field(default_factory=lambda: _path(settings.TLS_CERT))
    tls_key: Path | None = field(default_factory=lambda: _path(settings.TLS_KEY))
    control_socket: Path = field(default_factory=lambda: Path(settings.BROKER_CONTROL_SOCKET))
    max_payload_size: int = _setting("MQTT_MAX_PAYLOAD_SIZE")
    connect_timeout: float = _setting("MQTT_CONNECT_TIMEOUT")
    # Per listener.
    max_connections: int = _setting("MQTT_MAX_CONNECTIONS")
    max_queued_bytes: int = _setting("MQTT_MAX_QUEUED_BYTES")
    slow_seconds: float = _setting("MQTT_SLOW_SECONDS")
    reconcile_seconds: float = _setting("BROKER_RECONCILE_SECONDS")
    login_threads: int = _setting("BROKER_LOGIN_THREADS")
    login_queue: int = _setting("BROKER_LOGIN_QUEUE")
    logins_per_address: int = _setting("BROKER_LOGINS_PER_ADDRESS")
    unauthenticated_per_address: int = _setting("MQTT_UNAUTHENTICATED_PER_ADDRESS")
    history_days: int = _setting("CONNECTION_HISTORY_DAYS")


def _path(value: str) -> Path | None:
    return Path(value) if value else None


def options_from_settings() -> BrokerOptions:
    """The broker configuration for `manage.py runbroker`: three listeners, the rest as set."""
    return BrokerOptions(
        listeners=[
            Listener(MQTT, settings.MQTT_BIND, settings.MQTT_PORT, "CLOUDSIGNAL_MQTT_PORT"),
            Listener(MQTTS, settings.MQTTS_BIND, settings.MQTTS_PORT, "CLOUDSIGNAL_MQTTS_PORT", tls=True),
            Listener(WS, settings.WS_BIND, settings.WS_PORT, "CLOUDSIGNAL_WS_PORT", websocket=True),
        ]
    )


def loopback_listeners(*, tls: bool = False, websocket: bool = False) -> list[Listener]:
    """Loopback listeners on free ports, for tests and benchmarks."""
    listeners = [Listener(MQTT, "127.0.0.1", 0, "CLOUDSIGNAL_MQTT_PORT")]
    if tls:
        listeners.append(Listener(MQTTS, "127.0.0.1", 0, "CLOUDSIGNAL_MQTTS_PORT", tls=True))
    if websocket:
        listeners.append(Listener(WS, "127.0.0.1", 0, "CLOUDSIGNAL_WS_PORT", websocket=True))
    return listeners
