"""Auth0's Authentication API: public sign-up, change_password, and the pages tickets open (mounted at the root)."""

from django.urls import path

from api.authentication import change_password, password_reset, signup, verification

urlpatterns = [
    path("dbconnections/signup", signup.SignupView.as_view(), name="signup"),
    path("dbconnections/change_password", change_password.ChangePasswordView.as_view(), name="change-password"),
    path("email-verification", verification.email_verification, name="email-verification"),
    # Auth0's ticket URL shapes: /u/email-verification?ticket=… and /lo/reset?ticket=….
    path("u/email-verification", verification.email_verification, name="email-verification-ticket"),
    path("lo/reset", password_reset.password_reset, name="password-reset"),
]
