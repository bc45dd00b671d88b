"""The embedded MQTT broker: amqtt 0.12.1 with CloudSignal's logins, tenancy, revocation and presence.

Run it with `manage.py runbroker` (or `manage.py serve`, which runs it beside the dashboard); tests and
benchmarks use `runner.BrokerThread`.

    broker.py     the amqtt subclass: connection path, namespaced topics, QoS, retained, wills
    auth.py       `username@organization_id` + password -> Login or Refusal (argon2 in a thread, cache)
    namespace.py  workspace prefixes for topics and client ids
    topics.py     each workspace's ACL policy (clients.acl), held in memory
    kick.py       which credential holds which session; ending the ones a change disallows
    control.py    the unix socket clients/revocation.py talks to
    reconcile.py  the periodic check of every session against the database
    presence.py   BrokerNode heartbeat and LiveSession rows for the dashboard
    packets.py    maximum packet size
    tls.py        the self-signed certificate when none is configured
    config.py     listeners and limits from settings and environment
    offloop.py    thread pools for blocking work
    runner.py     start/stop, in this loop or in a thread
"""
