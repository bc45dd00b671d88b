"""The RabbitMQ engine: a RabbitMQ cluster with its MQTT plugin carries the devices' traffic, and asks
CloudSignal over HTTP who may log in and what they may do.

    auth_views.py  the four endpoints rabbitmq_auth_backend_http asks (user, vhost, resource, topic)
    management.py  RabbitMQ's management API, on whichever node answers
    engine.py      clients.engine's interface for this engine: ending sessions, listing them
    vhosts.py      one vhost per workspace (ws-<id>), created and deleted with the workspace
    reconcile.py   closing what the database no longer allows (a lost revocation), every few seconds
    cluster.py     a cluster of our own on loopback (`make cluster`, the cluster tests, the bench)
"""
