"""Jobs endpoints of the management API (mounted under /api/v2/, after ``jobs/verification-email``)."""

from django.urls import path

from jobs import views

urlpatterns = [
    path("jobs/users-imports", views.ImportUsersJobView.as_view(), name="jobs-users-imports"),
    path("jobs/<str:job_id>", views.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<str:job_id>/errors", views.JobErrorsView.as_view(), name="job-errors"),
]
