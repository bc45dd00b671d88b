"""Device-supplied strings in log lines: at most their first 128 characters, escaped.

Usernames, client ids and topics come from the network. Logged whole, 200 CONNECTs with a
65,000-character username grew the log by 13 MB in 2 s; unescaped, a newline in one forges a log line.
"""

LIMIT = 128


def quoted(value: object) -> str:
    """`value` as a quoted, escaped literal of at most LIMIT characters, noting what was cut."""
    if value is None:
        return "None"
    text = str(value)
    shown = repr(text[:LIMIT])
    if len(text) > LIMIT:
        return f"{shown}… ({len(text)} characters)"
    return shown
