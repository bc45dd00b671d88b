"""Every error the API answers, as one JSON shape: a sentence for people and the fields it concerns.

    {"detail": "A client with this username already exists in this organization.",
     "errors": [{"field": "username", "message": "A client with this username already exists ..."}]}

401 for any key that does not work (one body for every reason), 403 for a viewer key on a change,
404 for what is not in the key's organization (whether it exists elsewhere or not), 409 for a change
the current state refuses (the default workspace), 422 for invalid input (nothing is changed), 429
over the rate limit, with Retry-After.
"""

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as RequestInvalid

UNAUTHORIZED = "A working API key is required: send it as 'Authorization: Bearer <key>'."


class FieldError(Schema):
    field: str | None
    message: str


class ErrorOut(Schema):
    detail: str
    errors: list[FieldError] = []


class Conflict(Exception):
    """A change the current state refuses (409), such as deleting the default workspace."""


class Invalid(Exception):
    """Invalid input (422): field name → messages. `None` as the field: the input as a whole."""

    def __init__(self, errors: dict[str | None, list[str]], detail: str = "") -> None:
        self.errors = errors
        self.detail = detail
        super().__init__(errors)

    @classmethod
    def of_form(cls, form: Any, rename: dict[str, str] | None = None) -> "Invalid":
        """A refused Django form's errors, in the dashboard's words (its field names as the API's)."""
        rename = rename or {}
        return cls({None if f == "__all__" else rename.get(f, f): list(e) for f, e in form.errors.items()})

    @classmethod
    def of(cls, exc: DjangoValidationError, rename: dict[str, str] | None = None) -> "Invalid":
        rename = rename or {}
        if hasattr(exc, "error_dict"):
            return cls(
                {None if f == "__all__" else rename.get(f, f): list(m) for f, m in exc.message_dict.items()}
            )
        return cls({None: exc.messages})


def error(api: NinjaAPI, request: HttpRequest, status: int, detail: str, errors: Any = ()) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "errors": list(errors)}, status=status)


def install(api: NinjaAPI) -> None:
    """Answer every error in the one shape."""

    def unauthorized(request: HttpRequest, exc: Exception) -> HttpResponse:
        response = error(api, request, 401, UNAUTHORIZED)
        response["WWW-Authenticate"] = 'Bearer realm="CloudSignal API"'
        return response

    def forbidden(request: HttpRequest, exc: Exception) -> HttpResponse:
        return error(api, request, 403, str(exc) or "This key may not do that.")

    def not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
        return error(api, request, 404, "Not found.")

    def conflict(request: HttpRequest, exc: Exception) -> HttpResponse:
        return error(api, request, 409, str(exc))

    def invalid(request: HttpRequest, exc: Invalid) -> HttpResponse:
        errors = [{"field": f, "message": m} for f, messages in exc.errors.items() for m in messages]
        detail = exc.detail or (str(errors[0]["message"]) if errors else "Invalid input.")
        return error(api, request, 422, detail, errors)

    def request_invalid(request: HttpRequest, exc: RequestInvalid) -> HttpResponse:
        errors = [{"field": _field(e.get("loc", ())), "message": str(e.get("msg", ""))} for e in exc.errors]
        first = errors[0] if errors else {"field": None, "message": "Invalid input."}
        detail = f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
        return error(api, request, 422, detail, errors)

    def throttled(request: HttpRequest, exc: Exception) -> HttpResponse:
        return error(
            api, request, 429, "Too many requests with this API key; retry after Retry-After seconds."
        )

    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return error(api, request, exc.status_code, str(exc))

    handlers: dict[type[Exception], Callable[[HttpRequest, Any], HttpResponse]] = {
        AuthenticationError: unauthorized,
        PermissionDenied: forbidden,
        Http404: not_found,
        ObjectDoesNotExist: not_found,
        Conflict: conflict,
        Invalid: invalid,
        RequestInvalid: request_invalid,
        Throttled: throttled,
        HttpError: http_error,
    }
    for exception, handler in handlers.items():
        api.add_exception_handler(exception, handler)


def _field(loc: Any) -> str | None:
    """A request field's name from pydantic's location ("body", "payload", "username")."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "payload", "filters")]
    return ".".join(parts) or None
