"""Errors raised by the users app (stable codes, Auth0's messages)."""

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError


class UserAlreadyExists(DomainError):
    status = 409
    code = "auth0_idp_error"
    default_message = _("The user already exists.")


class UserNotFound(DomainError):
    status = 404
    code = "inexistent_user"
    default_message = _("The user does not exist.")


class WrongCredentials(DomainError):
    """Unknown user, wrong password or no password: one answer, so nobody learns which."""

    status = 403
    code = "invalid_grant"
    default_message = _("Wrong email or password.")


class UserBlocked(DomainError):
    """The password was right but the user is blocked."""

    status = 401
    code = "unauthorized"
    default_message = _("user is blocked")
