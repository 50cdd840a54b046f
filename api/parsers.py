"""JSON, form and multipart parsing that turn every malformed body into a 400 (or 413), never a 500."""

from __future__ import annotations

import codecs
import email.message
import io
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import QueryDict
from django.http.multipartparser import ChunkIter, InterBoundaryIter, LazyStream, MultiPartParserError
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.utils.datastructures import MultiValueDict
from django.utils.http import parse_header_parameters
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, FormParser, JSONParser, MultiPartParser

from core import messages
from core.errors import DomainError, ErrorCode, FieldCode, FieldError, PayloadValidationError


class PayloadTooLarge(DomainError):
    status = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE


class StrictJSONParser(JSONParser):
    """DRF's parser (NaN/Infinity refused) that also survives absurdly deep nesting and reads only the charsets
    in ``TEXT_CHARSETS`` (``ParseError``, each contract's 400 for a body that is not JSON, for any other)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            declared_charset(media_type)  # DRF decodes in request.encoding: utf-7 would rewrite "+AGE-" as "a"
        except UnsupportedCharset as exc:
            raise ParseError(_unsupported_charset_message(exc.charset)) from exc
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("Invalid request payload JSON format (nested too deeply)") from exc


class FormParseError(ParseError):
    """A form body that cannot be read as it is: every contract answers 400 with this detail.

    DRF's ``ParseError`` rather than a ``DomainError``: DRF's request raises what its parsers raise, and
    ``api.problems.translate`` reads it as a ``ParseError`` whose detail is for the client.
    """


# The charsets a body may declare, by ``codecs.lookup(...).name``, each with the name shown in errors (IANA's
# preferred MIME name). ``codecs.lookup`` also knows codecs that are not text encodings (rot13, hex, base64,
# zlib, bz2: ``bytes.decode`` raises LookupError for them) and text codecs that rewrite what they read (utf-7's
# "+AGE-" is "a", unicode_escape's "\\x41" is "A", idna, punycode), so a charset is refused unless listed here.
# UTF-16 is left out on purpose: percent-escapes and multipart framing are single bytes, so no client sends it
# (the WHATWG URL-encoded serializer turns a UTF-16 form into UTF-8).
TEXT_CHARSETS = {"utf-8": "UTF-8", "ascii": "US-ASCII", "iso8859-1": "ISO-8859-1"}


class UnsupportedCharset(ValueError):
    """A ``Content-Type`` charset that is not one of ``TEXT_CHARSETS`` (or no codec at all).

    A parser helper's ``ValueError``, not a ``DomainError``: each parser turns it into its own refusal.
    """

    def __init__(self, charset: str) -> None:
        super().__init__(charset)
        self.charset = charset


def declared_charset(media_type: str | None) -> str:
    """The codec name of the charset ``media_type`` (a full ``Content-Type`` value) declares, or of
    ``DEFAULT_CHARSET`` when it declares none; one of ``TEXT_CHARSETS``.

    Raises ``UnsupportedCharset`` for any other charset, known to Python or not. Django's request keeps a charset
    it cannot look up silently out of ``request.encoding`` (``charset=bogus`` would be read as UTF-8), so the
    header itself is read here.
    """
    _, params = parse_header_parameters(media_type or "")
    declared = params.get("charset") or settings.DEFAULT_CHARSET
    try:
        name = codecs.lookup(declared).name
    except LookupError:
        name = None
    if name not in TEXT_CHARSETS:
        raise UnsupportedCharset(declared)
    return name


def _unsupported_charset_message(charset: str) -> str:
    return _("Unsupported charset %(charset)s: send UTF-8 (or US-ASCII, ISO-8859-1).") % {"charset": charset}


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

    Raises ``FormParseError`` (400 in each contract's envelope) for a charset outside ``TEXT_CHARSETS``
    (``declared_charset``), for text that is not valid in the body's charset (UTF-8 unless the ``Content-Type``
    names another) and for too many fields.
    """

    # The stubs' read-only QueryDict (_ImmutableQueryDict) is a type-only class; ours is read-only as Django's own
    # are (parse_form sets _mutable = False).
    def parse(  # type: ignore[override]
        self, stream: Any, media_type: str | None = None, parser_context: Any = None
    ) -> QueryDict:
        try:
            encoding = declared_charset(media_type)
        except UnsupportedCharset as exc:
            raise FormParseError(_unsupported_charset_message(exc.charset)) from exc
        try:
            return parse_form(stream.read(), encoding)
        except UnicodeDecodeError as exc:
            raise FormParseError(
                _("Invalid form body: the text is not valid %(encoding)s.") % {"encoding": TEXT_CHARSETS[encoding]}
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
    the request's charset (one of ``TEXT_CHARSETS``, UTF-8 unless it names another), strictly: text that is not
    valid there is a 400 (``INVALID_CHARACTERS``), the check every other text input gets. File names are decoded
    the same way before Django's ``sanitize_file_name`` sees them. Files stay bytes.

    Django skips a part header line it cannot read (not UTF-8, no colon, a parameter it cannot parse), and with
    a ``Content-Disposition`` line the whole part: ``_check_part_headers`` refuses such a body first. Raises
    ``PayloadValidationError`` (400) and ``PayloadTooLarge`` (413).
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        request = (parser_context or {})["request"]
        try:
            charset = declared_charset(media_type)
        except UnsupportedCharset as exc:
            raise _invalid_multipart(_unsupported_charset_message(exc.charset)) from exc
        # BodySizeLimitMiddleware has bounded the body (MAX_REQUEST_BODY_BYTES), and a job keeps its file in
        # memory anyway, so reading it whole costs nothing Django's own parsing would not.
        body = stream.read(settings.MAX_REQUEST_BODY_BYTES + 1) if stream is not None else b""
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        meta["CONTENT_LENGTH"] = str(len(body))
        try:
            parser = _LatinOneMultiPartParser(meta, io.BytesIO(body), request.upload_handlers, charset)
            _check_part_headers(body, parser.boundary, charset)
            data, files = parser.parse()
        except RequestDataTooBig as exc:
            raise PayloadTooLarge(
                _("Payload content length greater than maximum allowed: %(limit)s")
                % {"limit": settings.MAX_REQUEST_BODY_BYTES}
            ) from exc
        except (MultiPartParserError, SuspiciousOperation, ValueError, UnicodeDecodeError) as exc:
            raise _invalid_multipart() from exc
        return DataAndFiles(*_decoded_parts(data, files, charset))


class _LatinOneMultiPartParser(DjangoMultiPartParser):
    """Django's multipart parser reading text as Latin-1 (every byte kept), whose file names are decoded strictly
    in ``charset`` before Django sanitises them.

    Django's ``sanitize_file_name`` drops characters that are not printable; run on the Latin-1 view it would
    drop the bytes 0x80-0x9F, 0xA0 and 0xAD inside valid UTF-8 ("€" is E2 82 AC) and break the name.
    """

    def __init__(self, meta: dict[str, Any], input_data: Any, upload_handlers: Any, charset: str) -> None:
        super().__init__(meta, input_data, upload_handlers, "latin-1")
        self.charset = charset

    _boundary: bytes  # set by Django's MultiPartParser.__init__ (private, so not in the stubs)

    @property
    def boundary(self) -> bytes:
        """The boundary Django validated (``boundary_re``) from the ``Content-Type``."""
        return self._boundary

    def sanitize_file_name(self, file_name: str) -> str | None:
        # The header check has already refused a name that is not valid in the charset: UnicodeDecodeError
        # here would be a body Django read differently, and ends as a 400 all the same.
        return super().sanitize_file_name(file_name.encode("latin-1").decode(self.charset))


def _check_part_headers(body: bytes, boundary: bytes, charset: str) -> None:
    """Refuse, with a 400, a part header line that Django would skip or misread instead of using.

    The parts are split with Django's own boundary iterator, and each header block ends at the first blank line,
    as in ``django.http.multipartparser.parse_boundary_stream``. A line must be valid in ``charset`` and in
    UTF-8 (Django reads header lines as UTF-8 whatever the charset), have a colon, and parse with Django's
    ``parse_header_parameters``. A parameter in RFC 2231's encoding (``filename*=UTF-8''...``) is refused:
    RFC 7578 §4.2 says senders MUST NOT use it, and Django decodes it with ``errors="replace"``.
    """
    for part in InterBoundaryIter(LazyStream(ChunkIter(io.BytesIO(body))), b"--" + boundary):
        block = part.read()
        end = block.find(b"\r\n\r\n")
        if end == -1:
            continue  # no header block: Django passes it over as raw data (the preamble, the closing "--")
        for line in block[:end].split(b"\r\n"):
            for encoding in dict.fromkeys((charset, "utf-8")):
                try:
                    line.decode(encoding)
                except UnicodeDecodeError as exc:
                    detail = messages.not_encoded_as(TEXT_CHARSETS[encoding])
                    raise PayloadValidationError(
                        messages.validation_error("Payload", detail),
                        errors=[FieldError(None, FieldCode.INVALID_CHARACTERS, detail)],
                    ) from exc
            if not line:
                continue  # the line break after the boundary
            name, colon, value = line.decode().partition(":")
            try:
                parse_header_parameters(value.lstrip(" "))
            except (ValueError, LookupError):
                colon = ""
            if not colon or _rfc2231_parameters(name, value):
                raise _invalid_multipart(_("Invalid multipart part header: %(name)s") % {"name": name.strip()})


def _rfc2231_parameters(name: str, value: str) -> bool:
    """Whether the header ``name: value`` has a parameter in RFC 2231's encoding (``email`` returns those as a
    (charset, language, value) tuple)."""
    header = email.message.Message()
    header[name.strip() or "x"] = value
    return any(isinstance(param, tuple) for _key, param in header.get_params(header=name.strip() or "x", failobj=[]))


def _decoded_parts(data: QueryDict, files: MultiValueDict, charset: str) -> tuple[QueryDict, MultiValueDict]:
    """Django's Latin-1 view of names and text parts decoded strictly in ``charset`` (file names already are)."""
    decoded = QueryDict(mutable=True)
    for name, values in data.lists():
        field = _decoded(name, charset, None)
        for value in values:
            decoded.appendlist(field, _decoded(value, charset, field))
    decoded._mutable = False
    decoded_files: MultiValueDict[str, Any] = MultiValueDict()
    for name, uploads in files.lists():
        decoded_files.setlist(_decoded(name, charset, None), uploads)
    return decoded, decoded_files


def _invalid_multipart(detail: str | None = None) -> PayloadValidationError:
    return PayloadValidationError(messages.validation_error("Payload", detail or _("Invalid multipart payload format")))


def _decoded(text: str, charset: str, field: str | None) -> str:
    """``text`` (decoded as Latin-1) decoded again, strictly, in ``charset``; a 400 when it is not valid there."""
    try:
        return text.encode("latin-1").decode(charset)
    except UnicodeError as exc:
        detail = messages.not_encoded_as(TEXT_CHARSETS[charset])
        raise PayloadValidationError(
            messages.validation_error("Payload", detail, field),
            errors=[FieldError(field, FieldCode.INVALID_CHARACTERS, detail)],
        ) from exc
