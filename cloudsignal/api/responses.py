"""The responses each kind of endpoint documents, so the OpenAPI description lists every status the
endpoint can answer (schemathesis holds the API to it)."""

from typing import Any

from cloudsignal.api.errors import ErrorOut


def responses(
    ok: Any, *, status: int = 200, change: bool = False, lookup: bool = False, conflict: bool = False
) -> dict[int, Any]:
    """`ok` for success; 401, 422 and 429 always; 403 on a change; 404 where an id is looked up."""
    answers: dict[int, Any] = {status: ok, 401: ErrorOut, 422: ErrorOut, 429: ErrorOut}
    if change:
        answers[403] = ErrorOut
    if lookup:
        answers[404] = ErrorOut
    if conflict:
        answers[409] = ErrorOut
    return answers
