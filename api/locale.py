"""The language of every answer (API, admin, pages, the mails a request queues): Django's ``LocaleMiddleware``, except
that a language the client refuses is never chosen.

``Accept-Language: ja;q=0`` says Japanese is not acceptable (RFC 9110 §12.4.2). Django 6.1's
``parse_accept_lang_header`` keeps such ranges (sorted last) and ``get_language_from_request`` takes the first range
that names a language we have, whatever its weight: ``ja;q=0``, ``fr, ja;q=0`` and ``ja-JP;q=0`` were answered in
Japanese. The rule here:

- A header without a q=0 range changes nothing: Django's choice stands (``ja``, ``ja-JP`` and
  ``ja;q=0.5, en;q=0.4`` are Japanese, as before).
- With one, the language is the first of these the header does not refuse: the language cookie's, the languages of
  the ranges with a weight above 0 in Django's order (up to a ``*``, as Django stops there), ``LANGUAGE_CODE``, the
  rest of ``LANGUAGES``. ``en;q=0`` is therefore answered in Japanese.
- A language is refused when the longest range matching it (``*`` matches every one) has q=0, the reading of RFC
  2616 §14.4 with the basic filtering of RFC 4647 §3.3.1: ``ja;q=0`` and ``*;q=0`` refuse ``ja``; ``ja-JP;q=0``
  does not (it names Japan's Japanese only), but it no longer selects ``ja`` either.
- When every language we have is refused (``en;q=0, ja;q=0``), Django's choice stands: RFC 9110 §12.5.4 lets a
  server disregard the header rather than answer 406, and an error message in some language beats none.

Django's parser is used as it is; only its result is filtered.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, takewhile

from django.conf import settings
from django.http import HttpRequest
from django.middleware import locale
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header


class LocaleMiddleware(locale.LocaleMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        language = acceptable_language(request)
        if language is not None and language != translation.get_language():
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()


def acceptable_language(request: HttpRequest) -> str | None:
    """The language to answer ``request`` in when its Accept-Language refuses one (a range with q=0); ``None`` when
    it refuses none, or every language we have (Django's choice stands)."""
    ranges = parse_accept_lang_header(request.META.get("HTTP_ACCEPT_LANGUAGE", ""))
    if all(weight > 0 for _range, weight in ranges):
        return None
    supported = [code for code, _name in settings.LANGUAGES]
    # Lower case: Django takes a code in any case ("JA" from the cookie is Japanese), as the parser lowers the ranges.
    refused = {code.lower() for code in supported if _weight(code, ranges) == 0}
    cookie = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    candidates = chain(
        _supported_variants([cookie] if cookie else []), _accepted(ranges), [settings.LANGUAGE_CODE], supported
    )
    return next((code for code in candidates if code.lower() not in refused), None)


def _weight(code: str, ranges: Sequence[tuple[str, float]]) -> float | None:
    """The weight the header gives the language ``code``: the longest range matching it decides; ``None`` when no
    range matches it."""
    matching = [
        (0 if name == "*" else len(name), weight)
        for name, weight in ranges
        if name == "*" or code.lower() == name or code.lower().startswith(f"{name}-")
    ]
    return max(matching)[1] if matching else None


def _accepted(ranges: Sequence[tuple[str, float]]) -> Iterator[str]:
    """The languages we have for the ranges with a weight above 0, best first, up to a ``*``."""
    before_star = takewhile(lambda item: item[0] != "*", ranges)
    return _supported_variants(name for name, weight in before_star if weight > 0)


def _supported_variants(names: Iterable[str]) -> Iterator[str]:
    for name in names:
        try:
            yield translation.get_supported_language_variant(name)
        except LookupError:
            continue
