"""Compile the project's ``.po`` catalogues to ``.mo`` with polib (no GNU gettext needed on the machine).

Compiled files are build output: they are not in git, and install, serve and test compile them afresh.
"""

from __future__ import annotations

from pathlib import Path

import polib


def compile_catalogues(locale_dirs: list[Path]) -> list[Path]:
    """Write ``X.mo`` next to every ``X.po`` that is newer than it; return the files written."""
    written = []
    for locale_dir in locale_dirs:
        for po_path in sorted(Path(locale_dir).glob("*/LC_MESSAGES/*.po")):
            mo_path = po_path.with_suffix(".mo")
            if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
                continue
            polib.pofile(str(po_path)).save_as_mofile(str(mo_path))
            written.append(mo_path)
    return written
