from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = _("Directory users")

    def ready(self) -> None:
        from connections.signals import connection_deleting, connection_users_deleting
        from users.streams import emit_connection_users_deleted, emit_users_deleted

        # A deleted connection takes its users with it: each one's user.deleted event, in the same transaction (the
        # deletion's, or the batch's for a connection deleted in the background).
        connection_deleting.connect(emit_connection_users_deleted, dispatch_uid="users.streams.connection_deleting")
        connection_users_deleting.connect(emit_users_deleted, dispatch_uid="users.streams.connection_users_deleting")
