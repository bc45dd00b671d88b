"""CloudSignal settings: every knob is an environment variable, documented in .env.example."""

import secrets
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from cloudsignal.datadir import make_private
from cloudsignal.env import database_from_url, env_bool, env_int, env_list, env_port, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

if env_str("CLOUDSIGNAL_DATA_DIR"):
    DATA_DIR = Path(env_str("CLOUDSIGNAL_DATA_DIR")).resolve()
elif "pytest" in sys.modules:
    # A test run never touches ./data: it gets a throwaway data dir unless one is given.
    DATA_DIR = Path(tempfile.mkdtemp(prefix="cloudsignal-test-"))
else:
    DATA_DIR = (BASE_DIR / "data").resolve()
try:
    make_private(DATA_DIR)
except OSError as exc:
    raise ImproperlyConfigured(f"CLOUDSIGNAL_DATA_DIR {DATA_DIR} cannot be created: {exc.strerror}.") from exc


def _secret_key() -> str:
    """SECRET_KEY, or one generated on first start and kept in the data dir (0600)."""
    if key := env_str("SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(50)
        path.touch(mode=0o600)
        path.write_text(key)
        return key


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Ports and hosts shown to users and used by `manage.py serve` / `runbroker`.
HTTP_HOST = env_str("CLOUDSIGNAL_HTTP_HOST", "127.0.0.1")
HTTP_PORT = env_port("CLOUDSIGNAL_HTTP_PORT", 8000)
MQTT_PORT = env_port("CLOUDSIGNAL_MQTT_PORT", 1883)
MQTTS_PORT = env_port("CLOUDSIGNAL_MQTTS_PORT", 8883)
WS_PORT = env_port("CLOUDSIGNAL_WS_PORT", 8083)
MQTT_BIND = env_str("CLOUDSIGNAL_MQTT_BIND", "0.0.0.0")
PUBLIC_HOST = env_str("CLOUDSIGNAL_PUBLIC_HOST", "localhost")
TLS_CERT = env_str("CLOUDSIGNAL_TLS_CERT")
TLS_KEY = env_str("CLOUDSIGNAL_TLS_KEY")
# The largest message payload a device may publish; the topic and MQTT headers come on top.
MQTT_MAX_PAYLOAD_SIZE = env_int(
    "CLOUDSIGNAL_MQTT_MAX_PAYLOAD_SIZE", 1024 * 1024, minimum=1024, maximum=256 * 1024 * 1024 - 65_545
)
# Which broker the dashboard governs: `embedded` (ours, `manage.py runbroker`) or `rabbitmq` (a RabbitMQ
# cluster that asks CloudSignal's auth endpoints who may log in; cloudsignal/rabbitmq).
BROKER = env_str("CLOUDSIGNAL_BROKER", "embedded")
BROKER_ENGINES = {
    "embedded": "clients.embedded.EmbeddedEngine",
    "rabbitmq": "cloudsignal.rabbitmq.engine.RabbitEngine",
}
if BROKER not in BROKER_ENGINES:
    raise ImproperlyConfigured(f"CLOUDSIGNAL_BROKER must be embedded or rabbitmq, not {BROKER!r}.")
BROKER_ENGINE = BROKER_ENGINES[BROKER]
# RabbitMQ: its management API on every node (any live one answers for the cluster), the admin user
# CloudSignal uses there, and the secret in the auth endpoints' path (/rabbitmq-auth/<secret>/...),
# which RabbitMQ's rabbitmq_auth_backend_http must be configured with.
RABBITMQ_MANAGEMENT_URLS = env_list("CLOUDSIGNAL_RABBITMQ_MANAGEMENT_URLS", [])
RABBITMQ_USER = env_str("CLOUDSIGNAL_RABBITMQ_USER", "cloudsignal")
RABBITMQ_PASSWORD = env_str("CLOUDSIGNAL_RABBITMQ_PASSWORD")
RABBITMQ_AUTH_SECRET = env_str("CLOUDSIGNAL_RABBITMQ_AUTH_SECRET")
if BROKER == "rabbitmq" and not (RABBITMQ_MANAGEMENT_URLS and RABBITMQ_PASSWORD and RABBITMQ_AUTH_SECRET):
    raise ImproperlyConfigured(
        "CLOUDSIGNAL_BROKER=rabbitmq needs CLOUDSIGNAL_RABBITMQ_MANAGEMENT_URLS, "
        "CLOUDSIGNAL_RABBITMQ_PASSWORD and CLOUDSIGNAL_RABBITMQ_AUTH_SECRET."
    )
# The broker listens here for "these credentials changed" hints from web and CLI processes.
BROKER_CONTROL_SOCKET = Path(env_str("CLOUDSIGNAL_BROKER_SOCKET") or DATA_DIR / "broker.sock")
# The broker's listeners (each may have its own address) and limits. Read here only: the broker's
# options (cloudsignal/broker/config.py) take their defaults from these.
MQTTS_BIND = env_str("CLOUDSIGNAL_MQTTS_BIND") or MQTT_BIND
WS_BIND = env_str("CLOUDSIGNAL_WS_BIND") or MQTT_BIND
# A socket that has not sent a complete CONNECT within this many seconds is closed.
MQTT_CONNECT_TIMEOUT = env_int("CLOUDSIGNAL_MQTT_CONNECT_TIMEOUT", 10, minimum=1, maximum=600)
MQTT_MAX_CONNECTIONS = env_int("CLOUDSIGNAL_MQTT_MAX_CONNECTIONS", 10_000, minimum=1, maximum=1_000_000)
# A session's outgoing queue: bytes waiting for a device that reads slower than it is sent to. Past
# this, its QoS 0 messages are dropped; a device that stays past it for MQTT_SLOW_SECONDS (or goes
# past four times it) is disconnected as "too slow" (cloudsignal/broker/broker.py, Outbox).
MQTT_MAX_QUEUED_BYTES = env_int(
    "CLOUDSIGNAL_MQTT_MAX_QUEUED_BYTES", 1024 * 1024, minimum=64 * 1024, maximum=1024 * 1024 * 1024
)
MQTT_SLOW_SECONDS = env_int("CLOUDSIGNAL_MQTT_SLOW_SECONDS", 3, minimum=1, maximum=3600)
# How often every session is checked against the database (catches lost hints).
BROKER_RECONCILE_SECONDS = env_int("CLOUDSIGNAL_BROKER_RECONCILE_SECONDS", 3, minimum=1, maximum=300)
# Threads that verify argon2 hashes; argon2 releases the GIL, so one per core is the useful most.
BROKER_LOGIN_THREADS = env_int("CLOUDSIGNAL_BROKER_LOGIN_THREADS", 2, minimum=1, maximum=64)
# Floods: logins waiting for an argon2 thread (in all, and from one address), and sockets from one
# address that have not logged in yet (cloudsignal/broker/admission.py).
BROKER_LOGIN_QUEUE = env_int("CLOUDSIGNAL_BROKER_LOGIN_QUEUE", 256, minimum=1, maximum=100_000)
BROKER_LOGINS_PER_ADDRESS = env_int("CLOUDSIGNAL_BROKER_LOGINS_PER_ADDRESS", 16, minimum=1, maximum=100_000)
MQTT_UNAUTHENTICATED_PER_ADDRESS = env_int(
    "CLOUDSIGNAL_MQTT_UNAUTHENTICATED_PER_ADDRESS", 64, minimum=1, maximum=1_000_000
)
# Days each client's connection history is kept.
CONNECTION_HISTORY_DAYS = env_int("CLOUDSIGNAL_CONNECTION_HISTORY_DAYS", 30, minimum=1, maximum=3650)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    # The REST API's library: its Swagger UI assets are served from its static files.
    "ninja",
    "cloudsignal",
    "workspaces",
    "clients",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "workspaces.middleware.FirstRunMiddleware",
    "workspaces.middleware.CurrentOrganizationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "workspaces.middleware.AuditActorMiddleware",
    "workspaces.middleware.PrivateCacheMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cloudsignal.urls"
ASGI_APPLICATION = "cloudsignal.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "workspaces.context_processors.organization",
            ],
        },
    },
]

_database_url = env_str("DATABASE_URL")
DATABASES = {
    "default": database_from_url("DATABASE_URL", _database_url)
    if _database_url
    else {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / "cloudsignal.sqlite3"}
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the broker process read while the dashboard writes; IMMEDIATE avoids
    # "database is locked" on upgrades from read to write inside a transaction.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so a broker in another process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "auth.User"
# AxesBackend first: it refuses a locked-out account/address pair before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesBackend", "workspaces.backends.EmailBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "clients:list"
LOGOUT_REDIRECT_URL = "login"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # No manifest: pages render without a collectstatic step, so a fresh clone serves at once.
    # Vendored files carry their version in their name; our own two files are small.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# WhiteNoise serves straight from static/ (and app dirs), collected or not.
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Behind TLS (a reverse proxy), set CLOUDSIGNAL_HTTPS=true: secure cookies, HSTS and redirects.
HTTPS = env_bool("CLOUDSIGNAL_HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = env_int("CLOUDSIGNAL_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# No inline script, no inline style: everything the pages run or style comes from our static files.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

# Sign-in throttling (django-axes): after SIGNIN_FAILURE_LIMIT failures within SIGNIN_LOCKOUT_MINUTES
# the account/address pair is locked for as long; owners clear lockouts on the Members page.
AXES_FAILURE_LIMIT = env_int("CLOUDSIGNAL_SIGNIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("CLOUDSIGNAL_SIGNIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "workspaces.audit.source_address"
AXES_USERNAME_CALLABLE = "workspaces.backends.signin_email"
AXES_VERBOSE = False
# Axes' own log of every successful sign-in: the audit trail already has them.
AXES_DISABLE_ACCESS_LOG = True

# The REST API: requests each API key may make per minute; over it, 429 with Retry-After.
API_RATE_LIMIT = env_int("CLOUDSIGNAL_API_RATE_LIMIT", 600, minimum=1)

# Members: how long an invitation link works; audit entries older than the retention are pruned.
INVITATION_DAYS = env_int("CLOUDSIGNAL_INVITATION_DAYS", 7, minimum=1)
AUDIT_RETENTION_DAYS = env_int("CLOUDSIGNAL_AUDIT_RETENTION_DAYS", 365, minimum=1)
# Where people reach the dashboard, for links printed by the command line and sent by mail.
DASHBOARD_URL = env_str("CLOUDSIGNAL_DASHBOARD_URL").rstrip("/") or (
    f"{'https' if HTTPS else 'http'}://{PUBLIC_HOST}:{HTTP_PORT}"
)
# Invitations are also mailed when a mail server is set; without one the link is only shown.
MAIL_HOST = env_str("CLOUDSIGNAL_EMAIL_HOST")
if MAIL_HOST:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": MAIL_HOST, "port": env_port("CLOUDSIGNAL_EMAIL_PORT", 25)},
        }
    }
DEFAULT_FROM_EMAIL = env_str("CLOUDSIGNAL_EMAIL_FROM", "cloudsignal@localhost")

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {LOG_LEVEL!r}."
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # amqtt logs every packet at INFO; keep ours readable.
        "amqtt": {"level": "WARNING"},
        "transitions": {"level": "WARNING"},
        # One line per listener start and stop, and a traceback for every port probe: not news.
        "websockets": {"level": "WARNING"},
        # django-axes logs every sign-in at INFO; the audit trail keeps what matters.
        "axes": {"level": "WARNING"},
    },
}
