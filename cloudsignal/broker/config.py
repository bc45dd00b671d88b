"""What the broker needs to know to start: listeners, limits and timers, read from settings.

Settings that only the broker uses are read here, from environment variables, with the same typed
helpers as cloudsignal/settings.py; a bad value stops start-up with a message naming the variable.
"""

from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from cloudsignal.env import env_int, env_str

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


@dataclass
class BrokerOptions:
    """Everything the broker is started with. Tests build one directly with small limits."""

    listeners: list[Listener]
    tls_cert: Path | None = None
    tls_key: Path | None = None
    control_socket: Path = field(default_factory=lambda: Path(settings.BROKER_CONTROL_SOCKET))
    max_packet_size: int = 1024 * 1024
    # A socket that has not sent a complete CONNECT within this many seconds is closed.
    connect_timeout: float = 10.0
    # Per listener; -1 means unlimited.
    max_connections: int = 10_000
    # How often every live session is checked against the database (catches lost hints).
    reconcile_seconds: float = 3.0
    # Threads that verify argon2 hashes; argon2 releases the GIL, so one per core is the useful most.
    login_threads: int = 2


def options_from_settings() -> BrokerOptions:
    """The broker configuration for `manage.py runbroker`, from settings and the environment."""
    # CLOUDSIGNAL_MQTT_BIND binds all three unless a listener has its own address.
    default_bind = settings.MQTT_BIND
    listeners = [
        Listener(MQTT, default_bind, settings.MQTT_PORT, "CLOUDSIGNAL_MQTT_PORT"),
        Listener(
            MQTTS,
            env_str("CLOUDSIGNAL_MQTTS_BIND") or default_bind,
            settings.MQTTS_PORT,
            "CLOUDSIGNAL_MQTTS_PORT",
            tls=True,
        ),
        Listener(
            WS,
            env_str("CLOUDSIGNAL_WS_BIND") or default_bind,
            settings.WS_PORT,
            "CLOUDSIGNAL_WS_PORT",
            websocket=True,
        ),
    ]
    return BrokerOptions(
        listeners=listeners,
        tls_cert=Path(settings.TLS_CERT) if settings.TLS_CERT else None,
        tls_key=Path(settings.TLS_KEY) if settings.TLS_KEY else None,
        max_packet_size=settings.MQTT_MAX_PACKET_SIZE,
        connect_timeout=env_int("CLOUDSIGNAL_MQTT_CONNECT_TIMEOUT", 10, minimum=1, maximum=600),
        max_connections=env_int("CLOUDSIGNAL_MQTT_MAX_CONNECTIONS", 10_000, minimum=1, maximum=1_000_000),
        reconcile_seconds=env_int("CLOUDSIGNAL_BROKER_RECONCILE_SECONDS", 3, minimum=1, maximum=300),
        login_threads=env_int("CLOUDSIGNAL_BROKER_LOGIN_THREADS", 2, minimum=1, maximum=64),
    )


def loopback_listeners(*, tls: bool = False, websocket: bool = False) -> list[Listener]:
    """Loopback listeners on free ports, for tests and benchmarks."""
    listeners = [Listener(MQTT, "127.0.0.1", 0, "CLOUDSIGNAL_MQTT_PORT")]
    if tls:
        listeners.append(Listener(MQTTS, "127.0.0.1", 0, "CLOUDSIGNAL_MQTTS_PORT", tls=True))
    if websocket:
        listeners.append(Listener(WS, "127.0.0.1", 0, "CLOUDSIGNAL_WS_PORT", websocket=True))
    return listeners
