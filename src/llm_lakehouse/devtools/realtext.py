"""Real text on this machine that no one here wrote: readers shared by the benchmarks and the evaluations.

Man pages are roff sources (``/usr/share/man/<lang>/man1/*.gz``, every installed language); no renderer runs
(groff over 20,000 pages would take longer than a benchmark): requests and comments are dropped, section
names and inline markup kept as words.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

MAN = Path("/usr/share/man")

_ROFF_ESCAPE = re.compile(r"\\f[BIRP0-9]|\\f\(..|\\\*\(..|\\\*.|\\s[-+]?\d|\\&|\\\||\\\^|\\c")
_ROFF_CHAR = {r"\-": "-", r"\(em": "—", r"\(en": "–", r"\(aq": "'", r"\(dq": '"', r"\e": "\\", r"\ ": " "}


def read_text(path: Path) -> str | None:
    """A file's text, gunzipped when it ends in ``.gz``; None when it cannot be read."""
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    return raw.decode("utf-8", "replace")


def man_text(roff: str) -> str:
    """The text of a man page's roff source."""
    out = []
    for line in roff.splitlines():
        if line.startswith(('.\\"', "'\\\"", '\\"')):
            continue
        if line.startswith((".SH", ".SS")):
            out.append("\n" + line[3:].strip().strip('"'))
            continue
        if line.startswith((".B ", ".I ", ".BR ", ".IR ", ".BI ", ".RB ", ".IB ")):
            line = line.split(" ", 1)[1].replace('"', "")
        elif line.startswith((".PP", ".LP", ".P", ".TP", ".IP", ".sp", ".br")):
            out.append("")
            continue
        elif line.startswith((".", "'")):
            continue
        for code, char in _ROFF_CHAR.items():
            line = line.replace(code, char)
        out.append(_ROFF_ESCAPE.sub("", line))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def man_pages(
    lang: str | None = None, section: str = "man1", min_chars: int = 400
) -> Iterator[tuple[str, str]]:
    """(page name, text) of the installed man pages of ``lang`` (None: the untranslated English ones)."""
    root = MAN / lang / section if lang else MAN / section
    for path in sorted(root.glob("*.gz")):
        if path.is_symlink():
            continue
        text = man_text(read_text(path) or "")
        if len(text) >= min_chars:
            yield path.name.removesuffix(".gz"), text
