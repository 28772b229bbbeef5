"""Person names found by their context, not by a model: the places real text puts names next to structure.

spaCy's small NER model reads prose well and structure badly: on changelogs, licence files, package
metadata and mail headers it misses names in the places they are most certain to be. These patterns find
them there, each a context that says "a person's name is here":

- next to an address: ``Full Name <a@b>``, ``Full Name (a@b)``, ``a@b (Full Name)``; the name may be in
  lower case or all caps when its words also appear in the address's local part (``jane doe <jdoe@x>``);
- after a header or trailer label: ``From:``, ``Author:``, ``Maintainer:``, ``Signed-off-by:``,
  ``Reported-by:``, ``Co-authored-by:``, ``Reviewed-by:`` and their kin (any case of the name's words);
- after a credit: ``Thanks to``, ``Patch by``, ``Written by``, ``Reported by``, ``Contributed by`` ...;
- changelog section headers ``[ Full Name ]`` and copyright holders (``Copyright (c) 2009-2012 Full Name``,
  and the year-led continuation lines of a Debian copyright file);
- ``(Full Name)``: two or more capitalized words in parentheses that the batch never uses in lower case.

Every candidate is cut to the words that can be a name: not stop words, not words of organisations
(``Foundation``, ``Team``, ``Project`` ...), not weekdays or months, not words the context itself is made
of. The words of a weak context (credits, parentheses) must also not be common words of the batch
(``lexicon``): "(Apache License)" is no name. Pure ``regex``; no model, no Presidio.
"""

from __future__ import annotations

from collections.abc import Iterable

import regex as re

SCORE = 0.85  # as sure as an NER entity: each context says a name is there

# One word of a name: letters with inner apostrophes, hyphens or dots (O'Brien, Jean-Luc, J.R.R.), or an
# initial (J.).
_WORD = r"[\p{L}](?:[\p{L}'’\-]*[\p{L}])?\.?"
_TOKEN = re.compile(_WORD)
# Up to five words separated by single spaces or tabs on one line (the cut below keeps at most four).
_NAME = rf"{_WORD}(?:[ \t]{{1,2}}{_WORD}){{0,4}}"

_HEADERS = (
    "from|author|authors|maintainer|maintainers|signed-off-by|reported-by|co-authored-by|reviewed-by|"
    "acked-by|tested-by|suggested-by|requested-by|helped-by|reviewer|original-author|upstream-author|"
    "upstream-contact|uploaders?|changed-by|contact|cc|committer|written-by|debian-maintainer|owner"
)
_CREDITS = (
    "thanks(?:[ \t]+(?:to|go(?:es)?[ \t]+to))?|thank[ \t]+you|credits?[ \t]+(?:to|go(?:es)?[ \t]+to)|"
    "patch(?:es)?[ \t]+(?:from|by)|(?:written|reported|contributed|suggested|originally|pointed[ \t]+out|"
    "implemented|fixed|submitted|spotted|noticed|maintained|developed|created|authored|designed|"
    "translated|packaged|reviewed|tested|requested|proposed|sponsored|prepared|found|sent|provided)"
    "[ \t]+by|(?:work|code|a[ \t]+patch|an[ \t]+idea)[ \t]+(?:of|by|from)|courtesy[ \t]+of|"
    "with[ \t]+help[ \t]+from|help[ \t]+from|ported[ \t]+by|dedicated[ \t]+to"
)
_YEARS = r"(?:\d{4}(?:[ \t]*[-–,/][ \t]*(?:\d{2,4}|present))*[ \t,]*)+"
_EMAIL = r"(?:mailto:)?(?P<local>[\w.+\-]+)@[\w\-]+(?:\.[\w\-]+)*"

# (pattern, how sure the context is): strong contexts take any case, weak ones capitalized words only.
_CONTEXTS: list[tuple[re.Pattern[str], bool]] = [
    # Full Name <a@b>  /  Full Name (a@b)  /  Full Name [a@b]
    (re.compile(rf"(?P<n>{_NAME})[ \t]*[<(\[][ \t]*{_EMAIL}"), True),
    # a@b (Full Name)  /  <a@b> (Full Name)
    (re.compile(rf"{_EMAIL}>?[ \t]*\((?P<n>{_NAME})\)"), True),
    # Headers and trailers: From: Full Name, Signed-off-by: Full Name ...
    (re.compile(rf"(?im)(?<![\w-])(?:{_HEADERS})[ \t]*:[ \t]*(?P<n>{_NAME})"), True),
    # Changelog trailer: " -- Full Name <a@b>  date" (also caught by the address context; kept for
    # trailers whose address is missing or mangled)
    (re.compile(rf"(?m)^[ \t]?--[ \t](?P<n>{_NAME})(?=[ \t]*(?:<|$))"), True),
    # Changelog section header: [ Full Name ]
    (re.compile(rf"(?m)^[ \t]*\[[ \t]*(?P<n>{_NAME})[ \t]*\][ \t]*$"), True),
    # Copyright holders, also the year-led continuation lines of a Debian copyright file
    (
        re.compile(
            rf"(?i)copyright(?:[ \t]*(?:\(c\)|©|:))*[ \t]*(?:\(c\)|©)?[ \t]*{_YEARS}(?:(?-i:by)[ \t]+)?"
            rf"(?P<n>(?-i:{_NAME}))"
        ),
        True,
    ),
    (re.compile(rf"(?m)^[ \t]+{_YEARS}(?P<n>{_NAME})(?=[ \t]*(?:<|$|,))"), True),
    # Credits: Thanks to Full Name, Patch by Full Name ...
    (re.compile(rf"(?i)(?<!\w)(?:{_CREDITS})[ \t]+(?P<n>(?-i:{_NAME}))"), False),
    # (Full Name)
    (re.compile(rf"\((?P<n>{_NAME})\)"), False),
]
# Cheap test (RE2 and Python syntax) that a text can hold any of the contexts above: the engine runs the
# patterns only on the documents of a batch where this matches.
TRIGGER = r"@|\(|\[|(?i:copyright|thank|credit|by|from|author|maintainer|contact|uploader|owner|cc|--)"

# Words that are never (part of) a person's name, on top of spaCy's stop words.
ORG_WORDS = frozenset(
    """team teams project projects developers developer contributors contributor community foundation inc
    incorporated llc ltd limited gmbh corp corporation co company authority group labs lab software systems
    university institute organization organisation association consortium authors author maintainers
    maintainer debian ubuntu python apache mozilla google microsoft github gitlab linux gnu kde gnome the
    free open source license licence copyright holders holder others all rights reserved list mailing
    support security admin administrator info sales help desk service services bugs bug tracker devel dev
    users user staff members member packaging package packages core release releases docs documentation
    network networks data technologies technology solutions research lab laboratory
    contributing maintenance upstream""".split()
)
CALENDAR = frozenset(
    """mon monday tue tues tuesday wed weds wednesday thu thur thurs thursday fri friday sat saturday sun sunday
    jan january feb february mar march apr april may jun june jul july aug august sep sept september oct
    october nov november dec december""".split()
)
PARTICLES = frozenset("van von der den de del della da di du la le bin ibn al dos das do y st.".split())
_MAX_WORDS = 4


def _name_words(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text, start, end)]


def _acceptable(word: str, strong: bool, local: str, stop: frozenset[str], lexicon: frozenset[str]) -> bool:
    low = word.lower().rstrip(".")
    if low in PARTICLES:
        return True
    if low in stop or low in ORG_WORDS or low in CALENDAR or low in _CONTEXT_WORDS:
        return False
    if len(low) == 1 and not word.endswith("."):
        return False  # a lone letter without its dot is no initial ("A" as in "a patch")
    if word[0].isupper():
        # Weak contexts: a capitalized common word of the batch ("License", "Windows") is no name.
        return strong or word.isupper() or low not in lexicon
    # Lower case: only next to an address whose local part holds it ("jane doe <jdoe@x>").
    return bool(local) and len(low) >= 2 and low in local


def _cut(
    words: list[tuple[int, int, str]],
    strong: bool,
    local: str,
    stop: frozenset[str],
    lexicon: frozenset[str],
    from_right: bool,
) -> tuple[int, int] | None:
    """The run of acceptable words next to the context (the name's end for an address, else its start)."""
    seq = list(reversed(words)) if from_right else words
    kept: list[tuple[int, int, str]] = []
    for w in seq:
        if len(kept) == _MAX_WORDS or not _acceptable(w[2], strong, local, stop, lexicon):
            break
        kept.append(w)
    while kept and kept[-1][2].lower() in PARTICLES:  # a particle alone at the edge is not the name
        kept.pop()
    if not kept or all(w[2].lower() in PARTICLES for w in kept):
        return None
    if not strong and len(kept) < 2:
        return None  # weak contexts: a single word is too often a product or a place
    if not any(w[2][0].isupper() for w in kept) and not local:
        return None
    start, end = min(w[0] for w in kept), max(w[1] for w in kept)
    return start, end


_CONTEXT_WORDS = frozenset(
    "from author authors maintainer maintainers reported signed reviewed acked tested suggested by "
    "thanks thank credit credits patch patches written contributed originally mailto copyright cc to "
    "contact uploader uploaders owner committer".split()
)


def context_names(
    text: str, stop: frozenset[str], lexicon: frozenset[str] = frozenset()
) -> list[tuple[int, int]]:
    """[start, end) of person names that a context marks in ``text``, merged, in order."""
    found: set[tuple[int, int]] = set()
    for pattern, strong in _CONTEXTS:
        for m in pattern.finditer(text, overlapped=False):
            s, e = m.span("n")
            local = (m.group("local") or "").lower() if "local" in m.groupdict() else ""
            # An address after the name: the name ends at the address, so cut from the right.
            from_right = m.start("n") == m.start()
            words = _name_words(text, s, e)
            span = _cut(words, strong, local, stop, lexicon, from_right)
            if span:
                found.add(span)
    return _merge(found)


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(e, out[-1][1]))
        else:
            out.append((s, e))
    return out


def calendar_only(text: str) -> bool:
    """Whether a span's words are all weekday or month names (or numbers): "Mon", "Sun 12", "May 2009"."""
    words = [w.lower().rstrip(".") for w in re.findall(r"\w+\.?", text)]
    return bool(words) and all(w in CALENDAR or w.isdigit() for w in words)
