"""The build step pyproject.toml cannot express: compiled message catalogues in every install.

``pip install .`` builds a wheel: ``locale/<lang>/LC_MESSAGES/*.po`` are compiled into the wheel's
``core/locale/``, the ``core`` app's own locale directory, which Django searches without any setting. An image
built so has its Japanese catalogue before it first starts, and never needs to write one (read-only root
filesystems). ``pip install -e .`` compiles them next to the ``.po`` files, where ``LOCALE_PATHS`` looks.
Everything else is declared in pyproject.toml; polib is a build requirement there. At run time
``core.translations.ensure_compiled`` covers whatever an install did not (a checkout run as it is, a ``.po``
edited since).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import polib
from setuptools import setup
from setuptools.command.build_py import build_py

SOURCE = Path(__file__).resolve().parent / "locale"


def _compile(po_path: Path, mo_path: Path) -> None:
    mo_path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=mo_path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as out:
        out.write(polib.pofile(str(po_path)).to_binary())
    os.chmod(temporary, 0o644)
    os.replace(temporary, mo_path)


class BuildPyWithCatalogues(build_py):
    """``build_py``, then the ``.mo`` of every ``.po``: in the wheel's ``core/locale``, or in place when editable."""

    def run(self) -> None:
        super().run()
        for po_path in sorted(SOURCE.glob("*/LC_MESSAGES/*.po")):
            relative = po_path.relative_to(SOURCE).with_suffix(".mo")
            if self.editable_mode:
                _compile(po_path, SOURCE / relative)
            else:
                _compile(po_path, Path(self.build_lib) / "core" / "locale" / relative)


setup(cmdclass={"build_py": BuildPyWithCatalogues})
