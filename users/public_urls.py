"""Entry points outside the management API: public sign-up and the /v1 facade (mounted at the root)."""

from django.urls import path

from users import signup_views, v1_views, verification_views

urlpatterns = [
    path("email-verification", verification_views.email_verification, name="email-verification"),
    path("dbconnections/signup", signup_views.SignupView.as_view(), name="signup"),
    path("v1/users", v1_views.V1UsersView.as_view(), name="v1-users"),
]
