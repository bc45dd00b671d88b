from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.http import HttpRequest


class EmailBackend(ModelBackend):
    """Sign in with email and password (the login form's "username" field carries the email)."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        email = kwargs.get("email") or username
        if not email or password is None:
            return None
        user = User.objects.filter(email__iexact=email.strip()).order_by("pk").first()
        if user is None:
            # Same cost as a wrong password, so timing does not reveal which emails have accounts.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


def signin_email(request: HttpRequest | None, credentials: dict[str, Any] | None = None) -> str:
    """The account a sign-in attempt is for, as django-axes counts it: "Owner@A.example " and
    "owner@a.example" are one account, so changing case does not buy more guesses."""
    source = credentials if credentials else (request.POST if request is not None else {})
    return str(source.get("username") or source.get("email") or "").strip().lower()
