"""The REST API under /api/v1/: another interface to the same models, like the dashboard, the command
line and the broker.

It lives in the project package because it spans clients and workspaces (imports run downward only:
cloudsignal > clients > workspaces). Each endpoint calls the code the dashboard and the command line
call (clients.provisioning, the model verbs, the dashboard's forms for their validation messages), so
the three cannot drift apart. API keys themselves are workspaces.apikeys: the dashboard makes them.

    auth.py      Authorization: Bearer <key>, the per-key rate limit, admin-only changes, the audit actor
    errors.py    every error as {"detail": ..., "errors": [{"field": ..., "message": ...}]}
    schemas.py   what goes in and out, from which the OpenAPI description is generated
    clients.py, sessions.py, workspaces.py, acl.py, audit.py   the endpoints
    urls.py      the NinjaAPI, its docs (served offline) and its URLs
"""
