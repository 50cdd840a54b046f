"""The management API (Auth0's ``/api/v2``): users, connections, logs and jobs, mounted under ``api/v2/``."""

from django.urls import path

from api.management import connections, jobs, logs, tickets, users, verification

urlpatterns = [
    path("users", users.UserCollectionView.as_view(), name="users"),
    # Before users/<path:user_id>, which would take "auth0|abc/logs" for a user id.
    path("users/<path:user_id>/logs", logs.UserLogsView.as_view(), name="user-logs"),
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
]
