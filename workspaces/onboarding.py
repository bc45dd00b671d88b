"""Making organizations: the first-run setup, the command line and tests all come through here."""

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from workspaces import audit
from workspaces.models import Membership, Organization, Setup, Workspace

DEFAULT_WORKSPACE_NAME = "Default"


@transaction.atomic
def create_organization(*, owner: User, name: str) -> Organization:
    """An organization with its default workspace, and `owner` as its owner."""
    organization = Organization.objects.create(name=name.strip())
    Workspace.objects.create(organization=organization, name=DEFAULT_WORKSPACE_NAME, is_default=True)
    Membership.objects.create(user=owner, organization=organization, role=Membership.Role.OWNER)
    audit.record(organization, "organization.created", organization, details={"owner": owner.email})
    return organization


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_or_create_user(email: str, password: str | None = None) -> User:
    """Users sign in with their email; the Django username is the normalised email."""
    email = normalise_email(email)
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(username=email, email=email, password=password)
        if password is None:
            user.set_unusable_password()
            user.save(update_fields=["password"])
    return user


class SetupAlreadyDone(Exception):
    """First-run setup happened already (or the command line made a user first)."""


@transaction.atomic
def set_up_first_owner(*, organization_name: str, email: str, password: str) -> Organization:
    """The first-run setup: the first user and the first organization, together or not at all.

    Exactly one setup ever succeeds, whatever arrives concurrently: the Setup row's fixed key lets only
    one transaction insert it, and the others raise SetupAlreadyDone. It never reuses an account.
    """
    try:
        with transaction.atomic():
            Setup.objects.create()
    except IntegrityError:
        raise SetupAlreadyDone from None
    if User.objects.exists():
        raise SetupAlreadyDone
    email = normalise_email(email)
    owner = User.objects.create_user(username=email, email=email, password=password)
    with audit.acting_as(audit.Actor.member(owner, audit.current_actor().address)):
        return create_organization(owner=owner, name=organization_name)


def setup_token() -> str:
    """The first-run setup token: derived from SECRET_KEY, so every process agrees without storing it,
    and useless once setup is done. `manage.py serve` prints the link that carries it."""
    return salted_hmac(
        "cloudsignal.setup", "first-run", secret=settings.SECRET_KEY, algorithm="sha256"
    ).hexdigest()[:32]


def is_setup_token(candidate: str) -> bool:
    return constant_time_compare(candidate, setup_token())


def set_password_path(user: User) -> str:
    """A one-time link to choose a password: it stops working once the password is set."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("set-password", kwargs={"uidb64": uid, "token": default_token_generator.make_token(user)})
