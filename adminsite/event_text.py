"""The words the audit log's list uses for what events store as codes or fixed English text.

Events keep Auth0's English descriptions ("Create a User"), as Auth0's logs do and as ``GET /api/v2/logs`` returns
them; the admin shows them in the operator's language. ``DESCRIPTIONS`` lists every fixed description the services
record, for ``makemessages`` (``tests/test_admin_tour_rules.py`` checks that the list keeps up with the code);
descriptions that are a refusal's message are already in the catalogue.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

DESCRIPTIONS = (
    gettext_noop("Create a User"),
    gettext_noop("Update a User"),
    gettext_noop("Delete a User"),
    gettext_noop("Create a Connection"),
    gettext_noop("Update a Connection"),
    gettext_noop("Delete a Connection"),
    gettext_noop("Successful signup"),
    gettext_noop("Successful login"),
    gettext_noop("Wrong email or password."),
    gettext_noop("No password is set"),
    gettext_noop("user is blocked"),
    gettext_noop("Successful verification email"),
    gettext_noop("Verification email requested"),
    gettext_noop("Create a password change ticket"),
    gettext_noop("Create an email verification ticket"),
    gettext_noop("Successful change password"),
    gettext_noop("Failed change password"),
    gettext_noop("Failed verification email"),
    gettext_noop("Change password request"),
    gettext_noop("Import users"),
    gettext_noop("Create import users job"),
)

_ACTOR_KINDS: dict[str, Promise] = {
    "client": _("client"),
    "admin": _("operator"),
    "system": _("system"),
    "anonymous": _("anonymous"),
}


def actor_kind_label(kind: str) -> str:
    """The operator-facing word for an event's ``actor_kind`` (``core.actors.ActorKind``); unknown kinds as stored."""
    label = _ACTOR_KINDS.get(kind)
    return str(label) if label is not None else kind


def describe(description: str) -> str:
    """An event's stored description in the active language (as stored when the catalogue lacks it)."""
    return gettext(description) if description else ""
