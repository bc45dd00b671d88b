"""MQTT client secrets: generate, hash with argon2id, verify.

The plaintext exists only in the request that made it and in the device that holds it; what we keep
is an argon2id hash whose parameters are recorded in the hash itself, so they can be raised later
and old hashes upgraded on the next successful login (see `needs_rehash`).
"""

import functools
import math
import secrets
import string

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from django.contrib.auth.password_validation import CommonPasswordValidator

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
    if weakness := _weakness(password):
        return f"This password is too easy to guess: {weakness}. Generate one instead."
    return None


# Runs of these (either way round) are what people type when asked for something long.
_SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "1qaz2wsx3edc",
)
_SEQUENCE_RUN = 4
# A guesser's estimate of the password's size, in bits; 12 random lowercase letters and digits make 62.
MIN_STRENGTH_BITS = 60


@functools.cache
def _common_passwords() -> frozenset[str]:
    """Django's list of 20,000 common passwords, lowercased."""
    return frozenset(CommonPasswordValidator().passwords)


def _weakness(password: str) -> str | None:
    """Why a guesser would find this password early, or None."""
    lowered = password.lower()
    common = _common_passwords()
    # `password1234` is `password` with digits added; `Summer2024!` is `summer` dressed up.
    core = lowered.strip(string.digits + string.punctuation)
    if lowered in common or (len(core) >= 4 and core in common):
        return "it is on a list of common passwords"
    if _longest_common_part(lowered, common) * 2 >= len(password):
        return "it is mostly a common password"
    if any(len(lowered) % n == 0 and lowered == lowered[:n] * (len(lowered) // n) for n in range(1, 7)):
        return "it repeats itself"
    spent = _sequence_characters(lowered)
    if spent * 2 >= len(password):
        return "it is mostly a keyboard or alphabet sequence"
    if _strength_bits(password, skip=spent) < MIN_STRENGTH_BITS:
        return "it is too short for the kinds of characters it uses"
    return None


def _longest_common_part(lowered: str, common: frozenset[str]) -> int:
    """The length of the longest common password (of 5 characters or more) inside `lowered`."""
    for size in range(len(lowered), 4, -1):
        if any(lowered[i : i + size] in common for i in range(len(lowered) - size + 1)):
            return size
    return 0


def _sequence_characters(lowered: str) -> int:
    """How many characters of `lowered` belong to runs of at least _SEQUENCE_RUN from a sequence."""
    covered = [False] * len(lowered)
    for sequence in _SEQUENCES:
        for source in (sequence, sequence[::-1]):
            for size in range(len(source), _SEQUENCE_RUN - 1, -1):
                for start in range(len(source) - size + 1):
                    run = source[start : start + size]
                    at = lowered.find(run)
                    while at != -1:
                        covered[at : at + size] = [True] * size
                        at = lowered.find(run, at + 1)
    return sum(covered)


def _strength_bits(password: str, *, skip: int) -> float:
    """len x log2(alphabet) over the characters not in sequences: a rough upper bound a guesser pays."""
    alphabet = sum(
        size
        for chars, size in (
            (string.ascii_lowercase, 26),
            (string.ascii_uppercase, 26),
            (string.digits, 10),
            (string.punctuation, 33),
        )
        if any(c in chars for c in password)
    )
    return max(len(password) - skip, 0) * math.log2(max(alphabet, 2))


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
