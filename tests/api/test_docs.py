"""The OpenAPI description and the interactive docs: public, generated from the code, and served
whole from this server (no CDN), under the project's CSP with nothing inline allowed."""

import re

from django.test import Client


def test_the_docs_load_everything_from_this_server(client: Client, db: None) -> None:
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert "unsafe-inline" not in page["Content-Security-Policy"]
    body = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', body)
    assert sorted(assets) == [
        "/static/ninja/favicon.png",
        "/static/ninja/swagger-ui-bundle.js",
        "/static/ninja/swagger-ui-init.js",
        "/static/ninja/swagger-ui.css",
    ]
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    # The one script element without src is JSON data, which the CSP does not treat as script.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", body) == [
        '<script type="application/json" id="swagger-settings">'
    ]
    assert '"validatorUrl": null' in body  # never sends the description to a validator elsewhere


def test_the_description_says_how_to_authenticate(client: Client, db: None) -> None:
    description = client.get("/api/v1/openapi.json").json()
    assert description["info"]["title"] == "CloudSignal API"
    assert description["components"]["securitySchemes"] == {"BearerKey": {"type": "http", "scheme": "bearer"}}
    assert all(
        operation["security"] == [{"BearerKey": []}]
        for path in description["paths"].values()
        for operation in path.values()
    )


def test_a_path_that_is_no_endpoint_answers_json(client: Client, db: None) -> None:
    response = client.get("/api/v1/nothing/here", headers={"Authorization": "Bearer x"})
    assert (response.status_code, response.json()["detail"]) == (404, "No such endpoint. See /api/v1/docs.")
    assert "no-store" in response["Cache-Control"]
