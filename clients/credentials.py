"""MQTT client secrets: generate, hash with argon2id, verify.

The plaintext exists only in the request that made it and in the device that holds it; what we keep
is an argon2id hash whose parameters are recorded in the hash itself, so they can be raised later
and old hashes upgraded on the next successful login (see `needs_rehash`).
"""

import secrets
import string

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's minimum for argon2id: 19 MiB of memory, 2 iterations, 1 lane. MQTT logins are a hot path
# (a fleet reconnecting after an outage), so we sit at the minimum rather than at Django's heavier
# defaults; raising these re-hashes each credential on its next login.
TIME_COST = 2
MEMORY_COST_KIB = 19 * 1024
PARALLELISM = 1

GENERATED_LENGTH = 32
MIN_OWN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
# URL-safe ASCII: survives shells, URLs, config files and amqtt's decoder (which mangles non-UTF-8).
_ALPHABET = string.ascii_letters + string.digits + "-_"

_hasher = PasswordHasher(
    time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM, hash_len=32, type=Type.ID
)

# A hash of a password nobody has: verifying against it makes a login for an unknown username cost
# the same as a wrong password, so response time does not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(24))


def generate_password(length: int = GENERATED_LENGTH) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def password_problem(password: str) -> str | None:
    """Why an admin's own password is refused, or None when it is acceptable."""
    if len(password) < MIN_OWN_PASSWORD_LENGTH:
        return (
            f"Use at least {MIN_OWN_PASSWORD_LENGTH} characters "
            f"(a generated password has {GENERATED_LENGTH})."
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    if not password.isascii() or not password.isprintable() or password != password.strip():
        return "Use printable ASCII characters only, with no spaces at either end."
    if len(set(password)) < 5:
        return "This password repeats too few characters to be safe. Generate one instead."
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def burn_verify_time(password: str) -> None:
    """Spend what a real verification costs, for logins that fail before one is possible."""
    verify_password(_DUMMY_HASH, password)


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True
