"""JSON, form and multipart parsing that turn every malformed body into a 400 (or 413), never a 500."""

from __future__ import annotations

import codecs
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, FormParser, JSONParser, MultiPartParser

from config import messages
from config.errors import DomainError, FieldError, PayloadValidationError


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
    """DRF's multipart parser whose every refusal is Auth0's 400 (or 413), never a 500, and whose text is
    decoded strictly.

    Django decodes part names, text parts and file names with ``errors="replace"``: the bytes ``a\\xff`` would
    arrive as ``"a\\ufffd"`` and be stored so. Django is therefore asked for Latin-1, which maps every byte to
    one character and loses nothing, and each name and text is turned back into its bytes and decoded here in
    the request's charset (UTF-8 unless it names another), strictly: text that is not valid there is a 400
    (``INVALID_CHARACTERS``), the check every other text input gets. Files stay bytes. A part whose header
    line itself is not UTF-8 never reaches this point: Django drops that header, and with it the part.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        context = dict(parser_context or {})
        charset = context.get("encoding") or settings.DEFAULT_CHARSET
        context["encoding"] = "latin-1"
        try:
            parsed = super().parse(stream, media_type, context)
        except RequestDataTooBig as exc:
            raise PayloadTooLarge(
                _("Payload content length greater than maximum allowed: %(limit)s")
                % {"limit": settings.MAX_REQUEST_BODY_BYTES}
            ) from exc
        except (ParseError, SuspiciousOperation, ValueError, UnicodeDecodeError) as exc:
            raise _invalid_multipart() from exc
        try:
            charset = codecs.lookup(charset).name.upper()
        except LookupError as exc:
            raise _invalid_multipart() from exc
        data = QueryDict(mutable=True)
        for name, values in parsed.data.lists():
            field = _decoded(name, charset, None)
            for value in values:
                data.appendlist(field, _decoded(value, charset, field))
        data._mutable = False
        files = MultiValueDict()
        for name, uploads in parsed.files.lists():
            field = _decoded(name, charset, None)
            for upload in uploads:
                if upload.name:
                    upload.name = _decoded(upload.name, charset, field)
                files.appendlist(field, upload)
        return DataAndFiles(data, files)


def _invalid_multipart() -> PayloadValidationError:
    return PayloadValidationError(messages.validation_error("Payload", _("Invalid multipart payload format")))


def _decoded(text: str, charset: str, field: str | None) -> str:
    """``text`` (decoded as Latin-1) decoded again, strictly, in ``charset``; a 400 when it is not valid there."""
    try:
        return text.encode("latin-1").decode(charset)
    except UnicodeError as exc:
        detail = messages.not_encoded_as(charset)
        raise PayloadValidationError(
            messages.validation_error("Payload", detail, field),
            errors=[FieldError(field, "INVALID_CHARACTERS", detail)],
        ) from exc
