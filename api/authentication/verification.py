"""``GET /email-verification?ticket=...``: the page a user lands on from the verification e-mail's link."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from users.verification import VerificationResult, verify_ticket


@require_GET
def email_verification(request: HttpRequest) -> HttpResponse:
    result = verify_ticket(request.GET.get("ticket", ""))
    pages = {
        VerificationResult.VERIFIED: (
            200,
            _("E-mail verified"),
            _("Thank you: your e-mail address is verified."),
        ),
        VerificationResult.ALREADY_VERIFIED: (
            200,
            _("E-mail already verified"),
            _("This e-mail address was verified before. Nothing else to do."),
        ),
        VerificationResult.EXPIRED: (
            400,
            _("Link expired"),
            _("This verification link has expired. Ask for a new verification e-mail."),
        ),
        VerificationResult.INVALID: (
            400,
            _("Invalid link"),
            _("This verification link is not valid. Check that you opened the whole link from the e-mail."),
        ),
    }
    status, title, message = pages[result]
    context = {"title": title, "message": message, "success": status == 200}
    return render(request, "authentication/verification_result.html", context, status=status)
