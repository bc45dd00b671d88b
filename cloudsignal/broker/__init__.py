"""The embedded MQTT broker: amqtt with CloudSignal's logins, tenancy, revocation and presence.

Start it with `manage.py runbroker` (or `manage.py serve`, which runs it beside the dashboard); tests
and benchmarks use `cloudsignal.broker.runner.BrokerThread`.
"""
