"""JSON and multipart parsing that turn every malformed body into a 400 (or 413), never a 500."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, MultiPartParser

from config import messages
from config.errors import DomainError, PayloadValidationError


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class StrictJSONParser(JSONParser):
    """DRF's parser (NaN/Infinity refused) that also survives absurdly deep nesting."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("Invalid request payload JSON format (nested too deeply)") from exc


class StrictMultiPartParser(MultiPartParser):
    """DRF's multipart parser whose every refusal is Auth0's 400 (or 413), never a 500."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RequestDataTooBig as exc:
            raise PayloadTooLarge(
                _("Payload content length greater than maximum allowed: %(limit)s")
                % {"limit": settings.MAX_REQUEST_BODY_BYTES}
            ) from exc
        except (ParseError, SuspiciousOperation, ValueError, UnicodeDecodeError) as exc:
            raise PayloadValidationError(
                messages.validation_error("Payload", _("Invalid multipart payload format"))
            ) from exc
