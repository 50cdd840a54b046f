"""The management API (Auth0's ``/api/v2``): users, connections, logs, jobs, tickets and event streams, mounted under
``api/v2/``."""

from django.urls import path

from api.management import connections, event_streams, jobs, logs, tickets, users, verification
from api.management.user_routes import user_subroute

urlpatterns = [
    path("users", users.UserCollectionView.as_view(), name="users"),
    # Before users/<path:user_id>, which would take "auth0|abc/logs" for a user id. Every users/<id>/... route is a
    # user_subroute: its view tells the logs of "auth0|abc" from the user "auth0|abc/logs" (sent as ...%2Flogs).
    user_subroute("logs", logs.UserLogsView, url_name="user-logs"),
    path("users/<path:user_id>", users.UserDetailView.as_view(), name="user-detail"),
    path("users-by-email", users.UsersByEmailView.as_view(), name="users-by-email"),
    path("connections", connections.ConnectionCollectionView.as_view(), name="connections"),
    path("connections/<str:connection_id>", connections.ConnectionDetailView.as_view(), name="connection-detail"),
    path("logs", logs.LogCollectionView.as_view(), name="logs"),
    path("logs/<str:log_id>", logs.LogDetailView.as_view(), name="log-detail"),
    # Before jobs/<job_id>: "verification-email" and "users-imports" are not job ids.
    path(
        "jobs/verification-email",
        verification.VerificationEmailJobView.as_view(),
        name="jobs-verification-email",
    ),
    path("tickets/password-change", tickets.PasswordChangeTicketView.as_view(), name="tickets-password-change"),
    path(
        "tickets/email-verification",
        tickets.EmailVerificationTicketView.as_view(),
        name="tickets-email-verification",
    ),
    path("jobs/users-imports", jobs.ImportUsersJobView.as_view(), name="jobs-users-imports"),
    path("jobs/<str:job_id>", jobs.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<str:job_id>/errors", jobs.JobErrorsView.as_view(), name="job-errors"),
    path("event-streams", event_streams.EventStreamCollectionView.as_view(), name="event-streams"),
    path(
        "event-streams/<str:stream_id>",
        event_streams.EventStreamDetailView.as_view(),
        name="event-stream-detail",
    ),
    path("event-streams/<str:stream_id>/test", event_streams.EventStreamTestView.as_view(), name="event-stream-test"),
    path(
        "event-streams/<str:stream_id>/deliveries",
        event_streams.DeliveryCollectionView.as_view(),
        name="event-stream-deliveries",
    ),
    path(
        "event-streams/<str:stream_id>/deliveries/<str:event_id>",
        event_streams.DeliveryDetailView.as_view(),
        name="event-stream-delivery",
    ),
    path(
        "event-streams/<str:stream_id>/redeliver",
        event_streams.RedeliveryView.as_view(),
        name="event-stream-redeliver",
    ),
    path(
        "event-streams/<str:stream_id>/redeliver/<str:event_id>",
        event_streams.RedeliveryByIdView.as_view(),
        name="event-stream-redeliver-event",
    ),
]
