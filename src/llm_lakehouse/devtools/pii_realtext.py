"""A labeled PII evaluation set of real text already on the machine, labeled from structured fields.

``make_eval_set`` (``pii.eval``) is text the project wrote; this set is text nobody in the project wrote:

* ``metadata``: the ``*.dist-info/METADATA`` files of the Python packages installed in the project's envs
  (``.venvs/jobs``, ``.venvs/airflow``, the running interpreter's site-packages), header block and long
  description;
* ``changelog``: Debian's ``/usr/share/doc/*/changelog.Debian.gz``;
* ``copyright``: Debian's machine-readable (DEP-5, ``Format: ...copyright-format...``)
  ``/usr/share/doc/*/copyright``.

All of them exist on a fresh Debian 12 machine after ``make setup``. Entities: PERSON and EMAIL_ADDRESS.

Label rules (no detector is involved anywhere; values come from structured fields only):

1. Values. METADATA: ``Author`` and ``Maintainer`` (names, split on ``,`` ``;`` ``&`` `` and ``; a
   ``Name <addr>`` inside them counts too), ``Author-email`` and ``Maintainer-email`` (RFC 5322 lists,
   parsed with ``email.utils.getaddresses``: display names are names, addresses are emails). Changelogs:
   the trailer line of every entry (`` -- Full Name <email>  date``) and the ``[ Full Name ]`` lines that
   attribute the changes of a multi-maintainer entry. Copyright: the ``Copyright:``,
   ``Upstream-Contact:`` and ``Upstream-Author:`` fields with their continuation lines, one holder a line,
   after removing ``Copyright``/``(C)``/``©``/``by`` and years (``2009-2012, 2015``).
2. A name is a PERSON only if it looks like one by a lexical rule: after dropping a title (``Dr.``,
   ``Prof.``, ``Mr.``...) it has 2-4 words, each a capitalised word of letters, apostrophes and hyphens,
   an all-caps surname next to such a word, an initial (``J.``, ``J.R.``), or a particle inside the name
   (``van``, ``de``, ``von``...); no digits, no ``@``, and no organisation word (Team, Project,
   Developers, Contributors, Foundation, Inc, LLC, Ltd, Software, University, Authors, Debian, Python...;
   ``ORG_WORDS``). A holder followed by ``, Inc.``-style suffixes stays one (organisation) value, and in
   a value the bare names after a company (``Inc``, ``Ltd``, ``GmbH``...) are dropped: they are its
   address (``Precision Insight, Inc., Cedar Park, Texas``); ``All rights reserved`` is dropped; a
   parenthesised comment (``Laszlo Boszormenyi (GCS)``) is dropped. A changelog signature written all in
   lower case (``gregor herrmann``) is taken as written.
3. An email is an EMAIL_ADDRESS if it has the plain ``local@host.tld`` shape (``EMAIL``).
4. The lexicon is every accepted name and email from every such field of every file scanned, not only
   the documents kept: a maintainer of one package thanked in another's changelog is still labeled.
5. Every exact occurrence of a lexicon value in a document is labeled: names case-sensitively, with
   single spaces between words as in the field, on whole-word boundaries (not next to a letter, digit or
   ``_``, nor to a hyphen or apostrophe joined to one: ``Pierre Dupont`` is not labeled inside
   ``Jean-Pierre Dupont``; a possessive ``'s`` stays outside the span); emails where an email-shaped
   token of the text is exactly a lexicon email. Overlapping spans keep the longest (then the first).

Documents: a file's text cut at a line boundary to at most ``MAX_CHARS`` (changelogs: whole entries from
the newest, one entry cut if it alone is longer). Identical files (one source package's docs under several
binary packages, one distribution in both envs) count once; the project's own ``llm_lakehouse`` METADATA
is left out. Selection is deterministic: files are listed sorted, deduplicated, and ordered by a SHA-1 of
a machine-independent key (``metadata:<dist-info dir>``, ``changelog:<package>``, ``copyright:<package>``).
Each kind gets a third of the documents; about ``EMPTY_SHARE`` of them have no label at all (a precision
check): files without a label first, then, since those are few, the later ``MAX_CHARS`` chunks of long
METADATA and copyright files (long descriptions, license texts; key ``...#<n>``) that have none. A kind
that runs short is made up from the others, and missing unlabeled documents by labeled ones.

Known limits, so the numbers are read right: only 2-4 word names from fields are gold, so a lone first
name ("thanks to Bob"), a name written differently ("Smith, John") or a person who never appears in a
field is unlabeled, and a detector that finds it is counted as a false positive; likewise an email-shaped
string that is in no field. Precision on this set is a lower bound. Most PERSON labels sit in the very
structures they were read from (changelog signatures, ``Copyright:`` lines, ``Author`` headers), so a
detector that reads those structures scores high recall there; the labels in free text (names thanked in
changelog bullets, cited in descriptions and license texts) are the harder, more independent part.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import re
import sys
import sysconfig
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from email.utils import getaddresses
from pathlib import Path

from llm_lakehouse.core.settings import REPO_ROOT
from llm_lakehouse.devtools.pii_eval import Gold, LabeledDoc

KINDS = ("metadata", "changelog", "copyright")
_OWN_DIST = "llm_lakehouse-"
MAX_CHARS = 6000
EMPTY_SHARE = 0.15
_MORE_CHUNKS = 3
_CHANGELOG_BYTES = 4 << 20  # decompressed bytes read per changelog for its trailers (gcc's is ~1.5 MB)

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_EMAIL_TOKEN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+")

# Lower-case words that make a name an organisation, a project or a role rather than a person.
ORG_WORDS = frozenset(
    """
    team teams project projects developers developer development contributors contributor foundation inc
    incorporated llc ltd limited corporation corp co company companies authority community group labs lab
    laboratory laboratories software university universität universite université organization
    organisation association consortium authors author maintainers maintainer debian ubuntu python the
    gmbh ag sa bv ab oy kk plc pty srl spa systems technologies technology institute council society
    trust network networks solutions enterprises services research center centre alliance initiative
    committee board department office members member others copyright holders holder contact support
    admin administrator unknown various see list mailing packaging packagers janitor bot pipeline salsa
    github gitlab google microsoft apple oracle ibm intel amazon mozilla redhat hat microsystems
    canonical apache gnu kde gnome linux free public domain docker snowflake pydantic explosion pallets
    aiohttp jupyter sympy numpy scipy pandas spark hugging face huggingface anaconda openai meta facebook
    twitter netflix uber yahoo nvidia qualcomm samsung sony hp hewlett packard dell cisco vmware
    silicon graphics digital equipment unicode consortium regents california mit stanford berkeley
    cambridge oxford college school academy agency government national international global world wide
    web internet data cloud open source code library libraries toolkit framework tools project's rights
    reserved fsf europe general discussion information engineering computing laboratoire institut instituto
    universiteit universidad università universitat universitet högskolan hogskolan ecole école normale
    superieure supérieure stichting centrum audio force command sailburuordetza politikarako floor street
    suite avenue boston massachusetts carnegie mellon telecom
    """.split()
)
_PARTICLES = frozenset(
    "van von der den de del della di da du des la le lo dos das do ten ter bin ibn al el y zu st".split()
)
_TITLES = re.compile(r"^(?:(?:Dr|Prof|Professor|Mr|Mrs|Ms|Mx|Sir)\.?\s+)+")
_INITIALS = re.compile(r"(?:[^\W\d_]\.)+|[^\W\d_]")
_NAME_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’-](?=[^\W\d_]))*")
_COMPANY = re.compile(
    r"\b(?:Inc|Ltd|LLC|GmbH|Corp|Corporation|Co|S\.A|AG|B\.V|AB|Oy|K\.K|PLC|Pty|Limited|Incorporated)\b", re.I
)
_ORG_SUFFIX = re.compile(r",\s*(?=(?:Inc|Ltd|LLC|GmbH|Corp|Co|S\.?A|A\.?G|B\.?V|AB|Oy|K\.?K|PLC|Pty)\b)")
_COPYRIGHT_PREFIX = re.compile(
    r"^(?:copyright\b|\(c\)|©|portions\b|parts\b|by\b|:|,|-|\d+(?:\s*[-–]\s*\d+)?|\s)+", re.I
)
_TRAILER = re.compile(r"^ -- (.+?)\s*<([^<>\s]+)>", re.M)
_ATTRIBUTION = re.compile(r"^\s+\[ (.+?) \]\s*$", re.M)
_ENTRY_HEAD = re.compile(r"^\S.*\(.*\).*;.*$", re.M)
_WORD = re.compile(r"[^\W\d_]+")


@dataclass
class RealDoc(LabeledDoc):
    """A ``LabeledDoc`` that says where it came from: ``kind`` (one of ``KINDS``) and ``key``."""

    kind: str = ""
    key: str = ""


@dataclass(frozen=True)
class _File:
    kind: str
    key: str
    text: str  # the document text (cut)
    names: tuple[str, ...]  # raw name values from the structured fields (before the person rule)
    emails: tuple[str, ...]
    more: tuple[str, ...] = ()  # the next chunks of a long file: candidates for unlabeled documents only
    signatures: tuple[str, ...] = ()  # changelog signatures: names that may be written in lower case


def looks_like_person(name: str, signature: bool = False) -> bool:
    """The lexical PERSON rule (module docstring, rule 2) on a name already stripped of its title.

    ``signature``: the value is a changelog signature, where a name written all in lower case
    (``gregor herrmann``) is taken as written."""
    if any(c.isdigit() or c == "@" for c in name):
        return False
    words = name.split(" ")
    if not 2 <= len(words) <= 4 or any(w.lower().strip(".,'’") in ORG_WORDS for w in words):
        return False
    if signature and name.islower() and all(_NAME_WORD.fullmatch(w) for w in words):
        return True
    normal = 0
    for i, w in enumerate(words):
        if 0 < i < len(words) - 1 and w in _PARTICLES:
            continue
        if _INITIALS.fullmatch(w):
            if not w[0].isupper() or i == len(words) - 1:
                return False
            continue
        if not _NAME_WORD.fullmatch(w) or not w[0].isupper():
            return False
        normal += not w.isupper()
        if w.isupper() and len(w) < 3:
            return False
    return normal >= 1 and not words[-1].islower()


def _clean_name(raw: str) -> str:
    name = re.sub(r"\([^()]*\)", " ", raw)  # a comment: "Laszlo Boszormenyi (GCS)", "Name (中文)"
    name = " ".join(name.replace('"', " ").split()).strip(" ,;:.()[]")
    name = re.sub(r"\s+(?:et al\.?|and others|& others)$", "", name, flags=re.I)
    return _TITLES.sub("", name).strip()


def _split_holders(value: str) -> tuple[list[str], list[str]]:
    """Names and emails of a free-form holder value: ``A <a@x>, B and C``; ``, Inc.`` stays attached."""
    value = _ORG_SUFFIX.sub(" ", value)
    names, emails = [], []
    for m in re.finditer(r"([^<>,;&()]*?)\s*[<(]([^<>()\s]+@[^<>()\s]+)[>)]", value):
        names.append(m.group(1))
        emails.append(m.group(2))
    rest = re.sub(r"[<(][^<>()\s]+@[^<>()\s]+[>)]", ",", value)
    for m in EMAIL.finditer(rest):
        emails.append(m.group())
    rest = EMAIL.sub(",", rest)
    rest = re.sub(r"[.,]?\s*all rights reserved\.?", " ", rest, flags=re.I)
    for part in re.split(r"\s*(?:,|;|&|\band\b|\bwith\b)\s*", rest):
        if _COMPANY.search(part):
            break  # after a company come its address's parts: "Inc., Cedar Park, Texas"
        names.append(part)
    return names, emails


def _cut(text: str, limit: int = MAX_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    return text[: cut + 1] if cut > 0 else text[:limit]


def _more(text: str) -> tuple[str, ...]:
    """The chunks after the first (``_cut`` pieces, at most ``_MORE_CHUNKS``), blank ones left out."""
    out, pos = [], len(_cut(text))
    while pos < len(text) and len(out) < _MORE_CHUNKS:
        piece = _cut(text[pos:])
        pos += len(piece)
        if piece.strip():
            out.append(piece)
    return tuple(out)


# ---------------------------------------------------------------- sources


def _metadata(path: Path) -> _File:
    text = path.read_text(encoding="utf-8", errors="replace")
    head = HeaderParser().parsestr(text, headersonly=True)
    names: list[str] = []
    emails: list[str] = []
    for field in ("Author", "Maintainer"):
        for v in head.get_all(field) or []:
            n, e = _split_holders(" ".join(str(v).split()))
            names += n
            emails += e
    for field in ("Author-email", "Maintainer-email"):
        for n, e in getaddresses([" ".join(str(v).split()) for v in head.get_all(field) or []]):
            names += _split_holders(n)[0] if n else []
            emails.append(e)
    key = f"metadata:{path.parent.name}"
    return _File("metadata", key, _cut(text), tuple(names), tuple(emails), _more(text))


def _changelog_chunk(text: str) -> str:
    heads = [m.start() for m in _ENTRY_HEAD.finditer(text)] + [len(text)]
    end = heads[1] if len(heads) > 1 else len(text)
    for nxt in heads[2:]:
        if nxt > MAX_CHARS:
            break
        end = nxt
    return _cut(text[:end].rstrip("\n") + "\n")


def _changelog(path: Path, raw: bytes) -> _File:
    with gzip.open(io.BytesIO(raw)) as f:
        text = f.read(_CHANGELOG_BYTES).decode("utf-8", errors="replace")
    names = [m.group(1) for m in _TRAILER.finditer(text)]
    emails = [m.group(2) for m in _TRAILER.finditer(text)]
    for m in _ATTRIBUTION.finditer(text):
        n, e = _split_holders(m.group(1))
        names += n
        emails += e
    key = f"changelog:{path.parent.name}"
    return _File("changelog", key, _changelog_chunk(text), (), tuple(emails), signatures=tuple(names))


def _dep5_fields(text: str, wanted: set[str]) -> Iterator[str]:
    """Each line of the wanted fields' values (first line and continuation lines)."""
    current = None
    for line in text.splitlines():
        if line[:1] in (" ", "\t"):
            if current in wanted and line.strip() != ".":
                yield line.strip()
            continue
        m = re.match(r"([A-Za-z][A-Za-z0-9-]*):\s*(.*)$", line)
        current = m.group(1).lower() if m else None
        if current in wanted and m and m.group(2).strip():
            yield m.group(2).strip()


def _copyright(path: Path, text: str) -> _File:
    names: list[str] = []
    emails: list[str] = []
    for line in _dep5_fields(text, {"copyright", "upstream-contact", "upstream-author"}):
        n, e = _split_holders(_COPYRIGHT_PREFIX.sub("", line))
        names += [_COPYRIGHT_PREFIX.sub("", x) for x in n]
        emails += e
    key = f"copyright:{path.parent.name}"
    return _File("copyright", key, _cut(text), tuple(names), tuple(emails), _more(text))


def default_roots() -> list[Path]:
    """The project's env site-packages (and the running interpreter's), then ``/usr/share/doc``."""
    roots = sorted(REPO_ROOT.glob(".venvs/*/lib/python3*/site-packages"))
    roots.append(Path(sysconfig.get_paths()["purelib"]))
    roots += [Path(p) for p in sys.path if p.endswith("site-packages")]
    roots.append(Path("/usr/share/doc"))
    out: list[Path] = []
    for r in roots:
        if r.is_dir() and r.resolve() not in {o.resolve() for o in out}:
            out.append(r)
    return out


def _scan(roots: Iterable[Path]) -> list[_File]:
    files: list[_File] = []
    seen_paths: set[Path] = set()
    seen_keys: set[str] = set()
    seen_content: set[bytes] = set()

    def fresh(path: Path, key: str, content: bytes) -> bool:
        real = path.resolve()
        digest = hashlib.sha1(content).digest()
        if real in seen_paths or key in seen_keys or digest in seen_content:
            return False
        seen_paths.add(real)
        seen_keys.add(key)
        seen_content.add(digest)
        return True

    for root in roots:
        for p in sorted(root.glob("*.dist-info/METADATA")):
            if p.parent.name.startswith(_OWN_DIST):
                continue  # the project's own package: text the project wrote
            data = p.read_bytes()
            if fresh(p, f"metadata:{p.parent.name}", data):
                files.append(_metadata(p))
        for p in sorted(root.glob("*/changelog.Debian.gz")):
            data = p.read_bytes()
            if fresh(p, f"changelog:{p.parent.name}", data):
                try:
                    files.append(_changelog(p, data))
                except (OSError, EOFError):
                    continue
        for p in sorted(root.glob("*/copyright")):
            data = p.read_bytes()
            head = data[:200].decode("utf-8", errors="replace")
            dep5 = head.startswith("Format:") and ("copyright-format" in head or "dep5" in head.lower())
            if dep5 and fresh(p, f"copyright:{p.parent.name}", data):
                files.append(_copyright(p, data.decode("utf-8", errors="replace")))
    return files


# ---------------------------------------------------------------- labeling


class Lexicon:
    """Accepted person names (indexed by their first letter run) and emails of every structured field."""

    def __init__(self, files: Iterable[_File]) -> None:
        names: set[str] = set()
        self.emails: set[str] = set()
        for f in files:
            for raw, signature in [(n, False) for n in f.names] + [(n, True) for n in f.signatures]:
                name = _clean_name(raw)
                if looks_like_person(name, signature):
                    names.add(name)
            self.emails.update(e for e in f.emails if EMAIL.fullmatch(e))
        self.names = names
        self._by_first: dict[str, list[str]] = {}
        for n in sorted(names, key=lambda n: (-len(n), n)):
            first = _WORD.match(n)
            if first:
                self._by_first.setdefault(first.group(), []).append(n)

    def spans(self, text: str) -> list[Gold]:
        found: list[Gold] = []
        for m in _WORD.finditer(text):
            cands = self._by_first.get(m.group())
            s = m.start()
            if not cands or not _boundary(text, s - 1, -1):
                continue
            for name in cands:
                e = s + len(name)
                if text.startswith(name, s) and _boundary(text, e, 1):
                    found.append(Gold("PERSON", s, e))
                    break
        for m in _EMAIL_TOKEN.finditer(text):
            token = m.group().rstrip(".-")
            if token in self.emails:
                found.append(Gold("EMAIL_ADDRESS", m.start(), m.start() + len(token)))
        return _longest_first(found)


def _boundary(text: str, i: int, step: int) -> bool:
    """Whether ``text[i]``, next to a name, ends the word: not a letter, digit or ``_``, nor a hyphen or
    apostrophe joining a word (``Jean-Pierre``, ``O'Brien``; ``-Brian Goetz`` under a letter and
    ``Spencer's`` are fine)."""
    if not 0 <= i < len(text):
        return True
    c = text[i]
    if c.isalnum() or c == "_":
        return False
    joins = "-" if step > 0 else "-'’"  # after a name an apostrophe is a possessive ("Spencer's") or a quote
    return c not in joins or not (0 <= i + step < len(text) and text[i + step].isalnum())


def _longest_first(spans: list[Gold]) -> list[Gold]:
    kept: list[Gold] = []
    for g in sorted(spans, key=lambda g: (-(g.end - g.start), g.start, g.entity)):
        if all(g.end <= k.start or k.end <= g.start for k in kept):
            kept.append(g)
    return sorted(kept, key=lambda g: (g.start, g.end))


def _order(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()


def _quotas(total: int, parts: int) -> list[int]:
    return [total // parts + (i < total % parts) for i in range(parts)]


def _roots(roots: Sequence[str | Path] | None) -> list[Path]:
    return [Path(r) for r in roots] if roots is not None else default_roots()


def build_lexicon(roots: Sequence[str | Path] | None = None) -> Lexicon:
    """The lexicon ``make_realtext_set`` labels with (rule 4), for checks and reports."""
    return Lexicon(_scan(_roots(roots)))


def make_realtext_set(max_docs: int = 400, roots: Sequence[str | Path] | None = None) -> list[LabeledDoc]:
    """Up to ``max_docs`` ``RealDoc``s, a third of each kind, ~``EMPTY_SHARE`` of them with no label.

    ``roots``: directories holding ``*.dist-info/METADATA``, ``*/changelog.Debian.gz`` or ``*/copyright``;
    ``default_roots()`` when None.
    """
    files = _scan(_roots(roots))
    lex = Lexicon(files)
    # Candidates in a stable order: a file's first chunk; for unlabeled documents also its later chunks
    # (license texts, long descriptions), each identical text once.
    firsts: dict[str, list[tuple[str, str]]] = {k: [] for k in KINDS}
    laters: dict[str, list[tuple[str, str]]] = {k: [] for k in KINDS}
    seen: set[str] = {f.text for f in files}
    for f in files:
        firsts[f.kind].append((f.key, f.text))
        for i, text in enumerate(f.more, 1):
            if text not in seen:
                seen.add(text)
                laters[f.kind].append((f"{f.key}#{i}", text))
    memo: dict[str, RealDoc] = {}

    def doc(kind: str, key: str, text: str) -> RealDoc:
        if key not in memo:
            memo[key] = RealDoc(text, lex.spans(text), kind=kind, key=key)
        return memo[key]

    def pool(kind: str, labeled: bool) -> Iterator[RealDoc]:
        cands = sorted(firsts[kind], key=lambda c: _order(c[0]))
        if not labeled:
            cands += sorted(laters[kind], key=lambda c: _order(c[0]))
        for key, text in cands:
            d = doc(kind, key, text)
            if bool(d.spans) == labeled:
                yield d

    pools = {(k, lab): pool(k, lab) for k in KINDS for lab in (True, False)}
    picked: dict[tuple[str, bool], list[RealDoc]] = {key: [] for key in pools}

    def fill(labeled: bool, quotas: Sequence[int]) -> int:
        """Takes ``quotas[i]`` docs of ``KINDS[i]``; a kind that runs short is made up from the others."""

        def take(kind: str, n: int) -> int:
            got = list(itertools.islice(pools[(kind, labeled)], n))
            picked[(kind, labeled)] += got
            return n - len(got)

        short = sum(take(k, q) for k, q in zip(KINDS, quotas, strict=True))
        for k in KINDS:
            short = take(k, short) if short else 0
        return short

    n_empty = round(max_docs * EMPTY_SHARE)
    fill(True, _quotas(max_docs - n_empty, len(KINDS)))
    missing_empty = fill(False, _quotas(n_empty, len(KINDS)))
    fill(True, _quotas(missing_empty, len(KINDS)))  # too few unlabeled texts: labeled ones instead
    return [d for k in KINDS for lab in (True, False) for d in picked[(k, lab)]]


def stats(docs: Sequence[LabeledDoc]) -> dict[str, int]:
    """Counts for reports and tests: documents per kind, empty documents, labels per entity."""
    out: dict[str, int] = {"docs": len(docs), "empty": sum(not d.spans for d in docs)}
    for d in docs:
        kind = getattr(d, "kind", "")
        out[f"docs_{kind}"] = out.get(f"docs_{kind}", 0) + 1
        for g in d.spans:
            out[g.entity] = out.get(g.entity, 0) + 1
    return out
