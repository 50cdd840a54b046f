"""Auth0's Authentication API: public sign-up and the e-mail verification link (mounted at the root)."""

from django.urls import path

from api.authentication import signup, verification

urlpatterns = [
    path("dbconnections/signup", signup.SignupView.as_view(), name="signup"),
    path("email-verification", verification.email_verification, name="email-verification"),
]
