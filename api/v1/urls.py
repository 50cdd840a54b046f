"""The plain ``/v1/users`` facade (mounted at the root)."""

from django.urls import path

from api.v1 import users

urlpatterns = [
    path("v1/users", users.V1UsersView.as_view(), name="v1-users"),
]
