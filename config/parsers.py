"""JSON, form and multipart parsing that turn every malformed body into a 400 (or 413), never a 500."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import QueryDict
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser

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


class FormParseError(ParseError):
    """A form body that cannot be read as it is: each contract's handler answers 400 with this detail."""


def parse_form(raw: bytes, encoding: str) -> QueryDict:
    """A form-urlencoded body (or query string) as an immutable ``QueryDict``, every value of a repeated name kept.

    Text that is not valid in ``encoding``, raw or percent-encoded ("%FF", the lone surrogate "%ED%A0%80"), raises
    ``UnicodeDecodeError``; more than ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` fields raise ``ValueError``. Django's own
    ``QueryDict`` decodes with ``errors="replace"`` (and falls back to ISO-8859-1 for a body that is not UTF-8),
    so such bytes would silently become U+FFFD, and two different passwords the same one.
    """
    pairs = parse_qsl(
        raw.decode(encoding),
        keep_blank_values=True,
        encoding=encoding,
        errors="strict",
        max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS,
    )
    data = QueryDict(mutable=True, encoding=encoding)
    for key, value in pairs:
        data.appendlist(key, value)
    data._mutable = False  # as QueryDict.fromkeys does: request data is read-only
    return data


class StrictFormParser(FormParser):
    """DRF's form parser, but text is decoded strictly (``parse_form``): refused, never rewritten.

    Raises ``FormParseError`` (400 in each contract's envelope) for text that is not valid in the body's charset
    (UTF-8 unless the ``Content-Type`` names another) and for too many fields.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> QueryDict:
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            return parse_form(stream.read(), encoding)
        except UnicodeDecodeError as exc:
            raise FormParseError(
                _("Invalid form body: the text is not valid %(encoding)s.") % {"encoding": encoding.upper()}
            ) from exc
        except ValueError as exc:  # parse_qsl's max_num_fields
            raise FormParseError(
                _("Invalid form body: more than %(limit)s fields.") % {"limit": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}
            ) from exc


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
