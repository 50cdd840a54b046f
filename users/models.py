"""Directory users: one row per user in one connection.

E-mail and username are stored lower-cased (Auth0 lower-cases both on database connections); the unique
constraints below compare lower-cased values too, so no entry point can store a case variant twice, and
concurrent creates are decided by the database, never by a prior lookup.

Column sizes are the wire limits of ``users.fields`` (declared there once).

Optional text fields are NULL when never given (ruff's DJ001 is silenced for this file on purpose): the
profile leaves such fields out rather than showing "", and the partial unique constraints skip NULLs.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from connections.models import Connection
from users.fields import EMAIL, FAMILY_NAME, GIVEN_NAME, NAME, NICKNAME, PHONE_NUMBER, USERNAME


class User(models.Model):
    user_id = models.CharField(
        verbose_name=_("user id"), max_length=300, help_text=_("provider|id, e.g. auth0|63d17c4a8869daf88ed7db97")
    )
    connection = models.ForeignKey(
        Connection, verbose_name=_("connection"), on_delete=models.CASCADE, related_name="users"
    )
    email = models.EmailField(verbose_name=_("e-mail"), max_length=EMAIL.max_length, null=True, blank=True)
    email_verified = models.BooleanField(verbose_name=_("e-mail verified"), default=False)
    username = models.CharField(verbose_name=_("username"), max_length=USERNAME.max_length, null=True, blank=True)
    phone_number = models.CharField(
        verbose_name=_("phone number"), max_length=PHONE_NUMBER.max_length, null=True, blank=True
    )
    phone_verified = models.BooleanField(verbose_name=_("phone verified"), default=False)
    given_name = models.CharField(verbose_name=_("given name"), max_length=GIVEN_NAME.max_length, null=True, blank=True)
    family_name = models.CharField(
        verbose_name=_("family name"), max_length=FAMILY_NAME.max_length, null=True, blank=True
    )
    name = models.CharField(verbose_name=_("name"), max_length=NAME.max_length, null=True, blank=True)
    nickname = models.CharField(verbose_name=_("nickname"), max_length=NICKNAME.max_length, null=True, blank=True)
    picture = models.TextField(verbose_name=_("picture"), null=True, blank=True)
    user_metadata = models.JSONField(verbose_name=_("user metadata"), null=True, blank=True)
    app_metadata = models.JSONField(verbose_name=_("app metadata"), null=True, blank=True)
    # None means "never set": Auth0 leaves ``blocked`` out of the profile until it is given.
    blocked = models.BooleanField(verbose_name=_("blocked"), null=True, blank=True)
    password_hash = models.CharField(
        verbose_name=_("password hash"), max_length=255, null=True, blank=True, editable=False
    )
    # An imported hash of another scheme (Auth0's ``custom_password_hash`` object, validated and bounded): kept
    # until the user's next successful password check, which replaces it with a bcrypt ``password_hash``.
    custom_password_hash = models.JSONField(
        verbose_name=_("custom password hash"), null=True, blank=True, editable=False
    )
    # The credentials of the user's earlier passwords (a ``password_hash`` string, or the imported
    # ``custom_password_hash`` object a change replaced), newest first, only as many as the connection's
    # ``password_history`` policy remembers; a change while the policy is off empties it (NULL when none).
    # users.credentials.history keeps it on every path that replaces a password.
    password_history = models.JSONField(verbose_name=_("password history"), null=True, blank=True, editable=False)
    # When the password was last changed (PATCH, the reset page, the admin): Auth0's ``last_password_reset``, absent
    # from the profile until the first change ("At user creation, this field does not exist").
    last_password_reset = models.DateTimeField(
        verbose_name=_("last password reset"), null=True, blank=True, editable=False
    )
    # Login statistics of the password grant (users.credentials.login): Auth0's profile leaves them out until the
    # user's first login (reference/auth0.md), so ``last_login`` and ``last_ip`` are NULL and the count 0 until then.
    last_login = models.DateTimeField(verbose_name=_("last login"), null=True, blank=True, editable=False)
    last_ip = models.CharField(verbose_name=_("last IP address"), max_length=45, null=True, blank=True, editable=False)
    logins_count = models.PositiveIntegerField(verbose_name=_("logins count"), default=0, editable=False)
    created_at = models.DateTimeField(
        verbose_name=_("created at"),
    )
    updated_at = models.DateTimeField(
        verbose_name=_("updated at"),
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user_id"], name="users_user_user_id_unique"),
            models.UniqueConstraint(
                models.F("connection"),
                Lower("email"),
                condition=models.Q(email__isnull=False),
                name="users_user_email_unique_per_connection",
            ),
            models.UniqueConstraint(
                models.F("connection"),
                Lower("username"),
                condition=models.Q(username__isnull=False),
                name="users_user_username_unique_per_connection",
            ),
            models.UniqueConstraint(
                fields=["connection", "phone_number"],
                condition=models.Q(phone_number__isnull=False),
                name="users_user_phone_unique_per_connection",
            ),
        ]
        # The indexes of the list's sorts and of the search's ranges and existence tests (users.search); the text
        # and JSON indexes that only PostgreSQL has (pattern, trigram, GIN) are in migration 0004.
        indexes = [
            models.Index(fields=["email"], name="users_user_email_idx"),
            models.Index(fields=["created_at"], name="users_user_created_at_idx"),
            models.Index(fields=["updated_at", "id"], name="users_user_updated_at_idx"),
            models.Index(fields=["last_login", "id"], name="users_user_last_login_idx"),
            models.Index(fields=["logins_count", "id"], name="users_user_logins_count_idx"),
            models.Index(fields=["connection", "created_at", "id"], name="users_user_conn_created_idx"),
            # blocked:true: few users are blocked, so a partial index is small.
            models.Index(fields=["id"], condition=models.Q(blocked=True), name="users_user_blocked_idx"),
        ]

    def __str__(self) -> str:
        return self.user_id

    @property
    def provider(self) -> str:
        return self.user_id.split("|", 1)[0]

    @property
    def identity_user_id(self) -> str:
        """The id without the provider prefix, as ``identities[0].user_id`` shows it."""
        return self.user_id.split("|", 1)[1]


class TicketPurpose(models.TextChoices):
    """What a ticket lets its holder do (Auth0's two ticket kinds, ``/api/v2/tickets/...``)."""

    PASSWORD_CHANGE = "password_change", _("password change")
    EMAIL_VERIFICATION = "email_verification", _("e-mail verification")


class Ticket(models.Model):
    """A one-time link for one user: a password change or an e-mail verification (``users.tickets``).

    Only a keyed HMAC of the link's random token is stored (``digest``), never the token; ``fingerprint`` is a keyed
    HMAC of the user's password hash and e-mail when the ticket was issued, so a change of either afterwards makes
    the ticket useless. ``used_at`` is set once, by a conditional UPDATE (``used_at IS NULL``).
    """

    digest = models.CharField(verbose_name=_("digest"), max_length=64, editable=False)
    purpose = models.CharField(verbose_name=_("purpose"), max_length=32, choices=TicketPurpose.choices)
    user = models.ForeignKey(User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="tickets")
    fingerprint = models.CharField(verbose_name=_("fingerprint"), max_length=64, editable=False)
    result_url = models.TextField(verbose_name=_("result URL"), blank=True, default="")
    client_id = models.CharField(verbose_name=_("client id"), max_length=64, blank=True, default="")
    include_email_in_redirect = models.BooleanField(verbose_name=_("include e-mail in redirect"), default=False)
    mark_email_as_verified = models.BooleanField(verbose_name=_("mark e-mail as verified"), default=False)
    created_at = models.DateTimeField(verbose_name=_("created at"))
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    used_at = models.DateTimeField(verbose_name=_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        constraints = [
            models.UniqueConstraint(fields=["digest"], name="users_ticket_digest_unique"),
            models.CheckConstraint(
                condition=models.Q(purpose__in=TicketPurpose.values), name="users_ticket_purpose_valid"
            ),
        ]
        indexes = [models.Index(fields=["expires_at"], name="users_ticket_expires_at_idx")]

    def __str__(self) -> str:
        return f"{self.purpose} ticket for {self.user_id}"
