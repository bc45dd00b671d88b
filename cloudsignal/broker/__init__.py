"""The embedded MQTT broker: amqtt 0.12.1 with CloudSignal's logins, tenancy, revocation and presence.

Run it with `manage.py runbroker` (or `manage.py serve`, which runs it beside the dashboard); tests and
benchmarks use `runner.BrokerThread`.

    broker.py      the amqtt subclass: the connection path, namespaced topics, QoS, retained, wills,
                   each session's bounded outgoing queue (slow devices dropped as "too slow")
    subscriptions.py  the subscription index: by workspace and topic level, not a scan of every filter
    sessions.py    the registry: live connections, pending logins, who owns each stored session
    auth.py        `username@organization_id` + password -> Login or Refusal (argon2 in a thread); the
                   verified credentials kept in memory, so warm logins need no database
    throttle.py    failed logins per username and address, growing back-off; refused before argon2
    admission.py   floods: per-address caps, the bounded login queue taken in turns, hung-up clients dropped
    revocation.py  ending the sessions of changed credentials: hints, re-checks, reconciliation
    hints.py       receiving hints: the unix socket that clients/hints.py sends to
    acl_cache.py   each workspace's compiled ACL policy (acl/language.py), held in memory
    namespace.py   the only place that builds or parses workspace prefixes and session keys
    presence.py    BrokerNode heartbeat and LiveSession rows for the dashboard
    history.py     a ConnectionRecord per ended connection (and refused known login), why it ended; pruning
    logtext.py     device-supplied strings in log lines: first 128 characters, escaped
    packets.py     reading packets whole and checking them against MQTT 3.1.1; the payload limit; bytes
                   and messages metered each way for the history
    persistence.py retained messages and persistent sessions kept in the database across restarts
    tls.py         the TLS context: the configured certificate or a self-signed one in the data dir
    config.py      listeners and limits, from settings
    blocking.py    thread pools that keep database and argon2 work off the event loop
    runner.py      start/stop, in this loop or in a thread; uvloop where installed

docs/amqtt-seam.md lists every amqtt internal the broker overrides or uses, and why;
tests/broker/test_amqtt_seam.py checks that each still exists in the installed amqtt.
"""
