"""Compile the project's ``.po`` catalogues to ``.mo`` with polib (no GNU gettext needed on the machine).

Compiled files are build output, never kept in git. They get made three ways, so Japanese works however the
service is started (issue 13):

- a wheel carries them: ``setup.py``'s build step compiles ``locale/`` into ``core/locale/`` of the wheel, which
  Django finds as the ``core`` app's own catalogue. An image made with ``pip install .`` needs no write at run
  time, so a read-only root filesystem is fine; an editable install (``pip install -e .``) compiles them next to
  the ``.po`` files;
- at start, ``core.apps.CoreConfig.ready`` calls ``ensure_compiled`` for every ``LOCALE_PATHS`` catalogue whose
  ``.mo`` is missing or older than its ``.po`` (a fresh checkout run as it is, a ``.po`` edited since the
  install): written next to the ``.po`` when that directory is writable, otherwise into a directory of its own
  (under ``DATA_DIR``, else a new private temporary directory) that goes before it in ``LOCALE_PATHS``; when
  nothing is writable it logs a warning and the service answers in English rather than failing to start;
- ``manage.py compile_translations`` (``serve.sh``, the test run) compiles them explicitly.

Every write is atomic (a temporary file in the same directory, then ``os.replace``), so workers starting together
never read half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import polib

logger = logging.getLogger(__name__)


def _catalogues(locale_dir: Path) -> Iterator[Path]:
    """The ``.po`` files of a locale directory (``<lang>/LC_MESSAGES/<domain>.po``)."""
    yield from sorted(Path(locale_dir).glob("*/LC_MESSAGES/*.po"))


def _is_fresh(mo_path: Path, po_path: Path) -> bool:
    return mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime


def compile_catalogue(po_path: Path, mo_path: Path) -> None:
    """Write ``mo_path`` compiled from ``po_path``, atomically; raises ``OSError`` when it cannot be written."""
    data = polib.pofile(str(po_path)).to_binary()
    mo_path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=mo_path.parent, prefix=f".{mo_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide it from a server running as another user
        os.replace(temporary, mo_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def compile_catalogues(locale_dirs: list[Path]) -> list[Path]:
    """Write ``X.mo`` next to every ``X.po`` that is newer than it; return the files written."""
    written = []
    for locale_dir in locale_dirs:
        for po_path in _catalogues(locale_dir):
            mo_path = po_path.with_suffix(".mo")
            if not _is_fresh(mo_path, po_path):
                compile_catalogue(po_path, mo_path)
                written.append(mo_path)
    return written


def ensure_compiled(locale_dirs: list[Path], fallback_roots: list[Path]) -> list[Path]:
    """Make every catalogue of ``locale_dirs`` usable; return the locale directories to use, in order.

    A missing or stale ``.mo`` is compiled next to its ``.po``. Where that directory cannot be written (a
    read-only install), it is compiled under the first of ``fallback_roots`` that can be written, or else into a
    new private temporary directory, in a locale directory of its own that the answer puts just before the one it
    stands in for (the first of ``LOCALE_PATHS`` to have a message wins). Never raises for an unwritable
    filesystem: the catalogue is then left out with a warning, and those messages stay in English.
    """
    ordered: list[Path] = []
    for locale_dir in locale_dirs:
        substitute: Path | None = None
        for po_path in _catalogues(locale_dir):
            relative = po_path.relative_to(locale_dir).with_suffix(".mo")
            if _is_fresh(locale_dir / relative, po_path):
                continue
            try:
                compile_catalogue(po_path, locale_dir / relative)
                continue
            except OSError as exc:
                logger.info("cannot write %s (%s): compiling it elsewhere", locale_dir / relative, exc.strerror)
            substitute = _compile_elsewhere(locale_dir, po_path, relative, fallback_roots, substitute)
        if substitute is not None:
            ordered.append(substitute)
        ordered.append(locale_dir)
    return ordered


def _compile_elsewhere(
    locale_dir: Path, po_path: Path, relative: Path, fallback_roots: list[Path], chosen: Path | None
) -> Path | None:
    """Compile ``po_path`` into a substitute locale directory for ``locale_dir``; return the one used (``chosen``,
    when an earlier catalogue of the same directory already found one), or ``None`` when none could be written."""
    # One directory per source directory, named after its path: two sources never write over each other.
    name = "compiled-" + hashlib.sha256(str(locale_dir.resolve()).encode()).hexdigest()[:16]
    candidates = [chosen] if chosen is not None else [root / name for root in fallback_roots]
    for candidate in candidates:
        try:
            if not _is_fresh(candidate / relative, po_path):
                compile_catalogue(po_path, candidate / relative)
            return candidate
        except OSError:
            continue
    if chosen is None:
        private: Path | None = None
        try:
            private = Path(tempfile.mkdtemp(prefix="userdir-locale-"))  # mode 0700, this process's own
            compile_catalogue(po_path, private / relative)
            return private
        except OSError as exc:
            if private is not None:
                shutil.rmtree(private, ignore_errors=True)
            logger.warning(
                "translations unavailable: cannot compile %s anywhere (%s); messages stay in English",
                po_path,
                exc.strerror,
            )
    return chosen
