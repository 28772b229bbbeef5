"""Person names found by their context, not by a model: the places real text puts names next to structure.

spaCy's small NER model reads prose well and structure badly: on changelogs, licence files, package
metadata and mail headers it misses names in the places they are most certain to be. These patterns find
them there, each a context that says "a person's name is here":

- next to an address: ``Full Name <a@b>``, ``Full Name (a@b)``, ``a@b (Full Name)``; the name may be in
  lower case or all caps when its words also appear in the address's local part (``jane doe <jdoe@x>``);
- after a header or trailer label: ``From:``, ``Author:``, ``Maintainer:``, ``Signed-off-by:``,
  ``Reported-by:``, ``Co-authored-by:``, ``Reviewed-by:`` and their kin (any case of the name's words);
- after a credit: ``Thanks to``, ``Patch by``, ``Written by``, ``Reported by``, ``Contributed by`` ...;
- in an introduction or a sign-off: ``this is``, ``my name is``, ``I'm``, ``talking to``, ``Regards,`` ...;
- changelog section headers ``[ Full Name ]`` and trailers `` -- Full Name <a@b>`` (any case), copyright
  holders (``Copyright (c) 2009-2012 Full Name``, ``© 2004 Full Name``, the year-led continuation lines of
  a Debian copyright file, and the next holders after ``,``, ``&`` or ``and``), changelog bullets about
  people (``Add Full Name to Uploaders``);
- ``(Full Name)``: two or more capitalized words in parentheses that the batch never uses in lower case.

Every candidate is cut to the words that can be a name: not stop words, not words of organisations
(``Foundation``, ``Team``, ``Inc`` ...), not weekdays or months, not words the context itself is made of,
not followed by a company suffix. The words of a weak context (credits, parentheses) must also not be
common words of the batch (``lexicon``): "(Apache License)" is no name; a single word only counts in a sure
context and when it is a known name (``known_names``: the person-name lists of Faker's locales).

The same module keeps the NER model honest on such text: ``plausible_person`` drops the model's PERSON
spans that cannot be names (field names, products, identifiers, shouted legal text) and cuts the others to
one line of name characters. Pure ``regex``; no model, no Presidio.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import regex as re

SCORE = 0.85  # as sure as an NER entity: each context says a name is there

# One word of a name: letters with inner apostrophes, hyphens or dots (O'Brien, Jean-Luc, W.C.A.), or an
# initial (J.).
_WORD = r"[\p{L}](?:[\p{L}'’\-.]*[\p{L}])?\.?"
_TOKEN = re.compile(_WORD)
# Up to seven words separated by spaces or tabs on one line (the cut below keeps at most four that are not
# particles: "Jeroen Ruigrok van der Werven").
_NAME = rf"{_WORD}(?:[ \t]{{1,2}}{_WORD}){{0,6}}"

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
_INTRODUCTIONS = (
    "this[ \t]+is|my[ \t]+name[ \t]+is|my[ \t]+name['’]s|name[ \t]+is|i[ \t]*['’][ \t]*m|i[ \t]+am|"
    "(?:you(?:['’]re|[ \t]+are)[ \t]+)?(?:talking|speaking|chatting)[ \t]+(?:to|with)|"
    "(?:kind[ \t]+|best[ \t]+|warm[ \t]+)?regards,?|cheers,|sincerely,|yours,"
)
_YEARS = r"(?:\d{4}(?:[ \t]*[-–,/][ \t]*(?:\d{2,4}|present))*(?:[ \t]*[-–])?[ \t,]*)+"
_ALIAS = r"(?:\([^()\n]{1,40}\)[ \t]*)?"  # "ChangZhuo Chen (陳昌倬) <...>": a name's other spelling
_EMAIL = r"(?:mailto:)?(?P<local>[\w.+\-]+)@[\w\-]+(?:\.[\w\-]+)*"

# (pattern, strong, any case): strong contexts take any capitalized word that is no common word of its
# own kind; "any case" ones (the whole bracket or trailer is the name) also take lower-case names.
_CONTEXTS: list[tuple[re.Pattern[str], bool, bool]] = [
    # a@b (Full Name)  /  <a@b> (Full Name)
    (re.compile(rf"{_EMAIL}>?[ \t]*\((?P<n>{_NAME})\)"), True, False),
    # Headers and trailers: From: Full Name, Signed-off-by: Full Name ...
    (re.compile(rf"(?im)(?<![\w-])(?:{_HEADERS})[ \t]*:[ \t]*(?P<n>{_NAME})"), True, False),
    # Changelog trailer: " -- Full Name <a@b>  date" (whatever the address looks like)
    (re.compile(rf"(?m)^[ \t]?--[ \t](?P<n>{_NAME})(?=[ \t]*{_ALIAS}(?:<|$))"), True, True),
    # Changelog section header: [ Full Name ]
    (re.compile(rf"(?m)^[ \t]*\[[ \t]*(?P<n>{_NAME})[ \t]*{_ALIAS}\][ \t]*$"), True, True),
    # Copyright holders: "Copyright (c) 2009-2012 Full Name", "© 2004 Full Name", "Copyright: Full Name 2011"
    (
        re.compile(
            rf"(?i)(?:copyright(?:[ \t]*(?:\(c\)|©|:))*|©)[ \t]*(?:\(c\)|©)?[ \t]*(?:{_YEARS})?"
            rf"(?:(?-i:by)[ \t]+)?(?P<n>(?-i:{_NAME}))"
        ),
        True,
        False,
    ),
    # ... and the year-led continuation lines of a Debian copyright file
    (
        re.compile(rf"(?m)^[ \t]+(?:(?:\(c\)|©)[ \t]*)?{_YEARS}(?P<n>{_NAME})(?=[ \t]*(?:<|\(|$|,|&|and\b))"),
        True,
        False,
    ),
    # ... and the same lines once a normalizer has stripped their indent: less sure, so a weak context
    (
        re.compile(rf"(?m)^(?:(?:\(c\)|©)[ \t]*)?{_YEARS}(?P<n>{_NAME})(?=[ \t]*(?:<|\(|$|,|&|and\b))"),
        False,
        False,
    ),
    # A Markdown link to a person's profile: [Full Name](https://github.com/handle)
    (
        re.compile(
            rf"\[(?P<n>{_NAME})\]\(https?://(?:www\.)?(?:github\.com|gitlab\.com|twitter\.com|x\.com)/"
        ),
        False,
        False,
    ),
    # Changelog bullets about people: "Add Full Name to Uploaders", "Remove Full Name from Uploaders"
    (
        re.compile(
            rf"(?i)(?<!\w)(?:add|added|remove|removed|drop|dropped|welcome)[ \t]+(?P<n>(?-i:{_NAME}))[ \t]+"
            r"(?:to|from|as)[ \t]+(?:the[ \t]+)?(?:list[ \t]+of[ \t]+)?(?:uploaders|(?:co-?)?maintainers?|"
            r"authors|contributors|committers)"
        ),
        True,
        False,
    ),
    # Credits: Thanks to Full Name, Patch by Full Name ...
    (re.compile(rf"(?i)(?<!\w)(?:{_CREDITS})[ \t]+(?P<n>(?-i:{_NAME}))"), False, False),
    # Introductions in chats and mail: "this is Full Name", "my name is ...", "I'm ...", "you're talking to ..."
    # (the small NER model misses names it has not seen in them: "hi, this is Olusegun Kowalczyk.")
    (re.compile(rf"(?i)(?<!\w)(?:{_INTRODUCTIONS})[ \t]+(?P<n>(?-i:{_NAME}))"), False, False),
    # (Full Name)
    (re.compile(rf"\((?P<n>{_NAME})\)"), False, False),
]
# Full Name <a@b>  /  Full Name (a@b)  /  Full Name [a@b]: found from the address backwards (a pattern that
# starts with the name would try a name at every word of every text).
_BRACKETED_EMAIL = re.compile(rf"[<(\[][ \t]*{_EMAIL}")
_NAME_BEFORE = re.compile(rf"(?P<n>{_NAME})[ \t]*{_ALIAS}$")  # "Petr Sorfa (Initial Maintainer) <a@b>"
# After a holder: "and Second Name", ", Third Name", "& Fourth Name" (copyright lines, credits).
_MORE = re.compile(rf"[ \t]*(?:,|&|and)[ \t]+(?:(?:\(c\)|©)[ \t]*)?(?:{_YEARS})?(?P<n>{_NAME})")
# A company suffix right after a holder makes it an organisation: "Red Hat, Inc.", "MARA Systems AB".
_COMPANY = re.compile(
    r"[ \t]*,?[ \t]*(?i:Inc|Ltd|LLC|L\.L\.C|GmbH|AB|AG|SA|S\.A|SAS|SARL|Corp|Corporation|Co|Limited|e\.V|"
    r"B\.V|BV|NV|Oy|Pty|PLC|KK|K\.K|S\.L|Srl|s\.r\.o|ASA|A/S)\b"
)

# Cheap test (RE2 and Python syntax) that a text can hold any of the contexts above: the engine runs the
# patterns only on the documents of a batch where this matches.
TRIGGER = r"@|\(|\[|(?i:copyright|thank|credit|by|from|author|maintainer|contact|uploader|owner|cc|--)"

# Words that are never (part of) a person's name, on top of spaCy's stop words.
ORG_WORDS = frozenset(
    """team teams project projects developers developer contributors contributor community foundation inc
    incorporated llc ltd limited gmbh corp corporation co company authority group labs lab software systems
    university institute organization organisation association consortium authors author maintainers
    maintainer debian ubuntu python apache mozilla google microsoft github gitlab linux gnu kde gnome the
    free open source license licence copyright holders holder list mailing
    support security admin administrator info sales help desk service services bugs bug tracker devel dev
    users user staff members member packaging package packages core release releases docs documentation
    network networks data technologies technology solutions research lab laboratory
    contributing maintenance upstream ab ag sa sas sarl srl kk bv nv oy plc asa pty""".split()
)
CALENDAR = frozenset(
    """mon monday tue tues tuesday wed weds wednesday thu thur thurs thursday fri friday sat saturday sun sunday
    jan january feb february mar march apr april may jun june jul july aug august sep sept september oct
    october nov november dec december""".split()
)
# Month names that are also first names ("Jan Engelhardt", "June Carter"): a name with another word.
_CALENDAR_NAMES = frozenset({"jan", "april", "may", "june", "august"})
PARTICLES = frozenset("van von der den de del della da di du la le bin ibn al dos das do y st.".split())
# Stop words that are also first names ("Will Thompson", "Per Olofsson"): capitalized in a sure context, names.
NAME_STOP_WORDS = frozenset({"will", "may", "bill", "mine", "ben", "don", "amen", "sue", "per", "van"})
_MAX_WORDS = 4


def _name_words(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text, start, end)]


def _acceptable(
    word: str, strong: bool, any_case: bool, local: str, stop: frozenset[str], lexicon: frozenset[str]
) -> bool:
    low = word.lower().rstrip(".")
    if low in PARTICLES:
        return True
    if low in ORG_WORDS or (low in CALENDAR and low not in _CALENDAR_NAMES) or low in _CONTEXT_WORDS:
        return False
    if low in stop and not (strong and word[0].isupper() and low in NAME_STOP_WORDS):
        return False
    if len(low) == 1 and not word.endswith("."):
        return False  # a lone letter without its dot is no initial ("A" as in "a patch")
    if word[0].isupper():
        # Weak contexts: a capitalized common word of the batch ("License", "Windows") is no name.
        return strong or low not in lexicon
    # Lower case: where the whole bracket is the name ("[ gregor herrmann ]"), or next to an address whose
    # local part holds it ("jane doe <jdoe@x>").
    return any_case or (bool(local) and len(low) >= 2 and low in local)


def _cut(
    words: list[tuple[int, int, str]],
    strong: bool,
    any_case: bool,
    local: str,
    stop: frozenset[str],
    lexicon: frozenset[str],
    from_right: bool,
) -> tuple[int, int] | None:
    """The run of acceptable words next to the context (the name's end for an address, else its start)."""
    seq = list(reversed(words)) if from_right else words
    kept: list[tuple[int, int, str]] = []
    for w in seq:
        if sum(x[2].lower() not in PARTICLES for x in kept) == _MAX_WORDS:
            break
        if not _acceptable(w[2], strong, any_case, local, stop, lexicon):
            if not from_right and w[2].lower().rstrip(".") in ORG_WORDS:
                return (
                    None  # "Python Software Foundation": the words before an organisation word are its name
                )
            break
        kept.append(w)
    while kept and kept[-1][2].lower() in PARTICLES:  # a particle alone at the edge is not the name
        kept.pop()
    if not kept or all(w[2].lower() in PARTICLES for w in kept):
        return None
    if len(kept) == 1 and len(kept[0][2].rstrip(".")) == 1:
        return None  # a lone initial
    if len(kept) < 2 and (
        not strong
        or kept[0][2].lower().rstrip(".") in lexicon
        or kept[0][2].lower().rstrip(".") in CALENDAR
        or kept[0][2].lower() not in known_names()
    ):
        return None  # a single word is too often a product or a company, unless sure and a known name
    if not any(w[2][0].isupper() for w in kept) and not (local or any_case):
        return None
    start, end = min(w[0] for w in kept), max(w[1] for w in kept)
    return start, end


# Words of the contexts themselves and of what follows a holder ("All rights reserved", "et al."): they end
# a name without making it an organisation's.
_CONTEXT_WORDS = frozenset(
    "from author authors maintainer maintainers reported signed reviewed acked tested suggested by "
    "thanks thank credit credits patch patches written contributed originally mailto copyright cc to "
    "contact uploader uploaders owner committer others rights reserved et al".split()
)


def context_names(
    text: str, stop: frozenset[str], lexicon: frozenset[str] = frozenset()
) -> list[tuple[int, int]]:
    """[start, end) of person names that a context marks in ``text``, merged, in order."""
    found: set[tuple[int, int]] = set()
    for m in _BRACKETED_EMAIL.finditer(text):
        line_start = max(text.rfind("\n", 0, m.start()) + 1, m.start() - 200)
        before = _NAME_BEFORE.search(text, line_start, m.start())
        if before:
            words = _name_words(text, *before.span("n"))
            span = _cut(words, True, False, m.group("local").lower(), stop, lexicon, True)
            if span and not _COMPANY.match(text, span[1]):
                found.add(span)
    for pattern, strong, any_case in _CONTEXTS:
        for m in pattern.finditer(text, overlapped=False):
            s, e = m.span("n")
            local = (m.group("local") or "").lower() if "local" in m.groupdict() else ""
            # An address after the name: the name ends at the address, so cut from the right.
            from_right = m.start("n") == m.start()
            span = _cut(_name_words(text, s, e), strong, any_case, local, stop, lexicon, from_right)
            while span and not _COMPANY.match(text, span[1]):
                found.add(span)
                if from_right:
                    break
                more = _MORE.match(text, span[1])  # the next holder of a list
                if not more:
                    break
                s, e = more.span("n")
                span = _cut(_name_words(text, s, e), strong, any_case, "", stop, lexicon, False)
    return _merge(found)


_NER_CHARS = re.compile(r"[\p{L}][\p{L}'’. \-]*")
# An identifier, not a name: a capital after a lower-case letter (LookupError, MacOS), unless the name's
# own prefixes explain it (McQueen, MacDonald, DeVito, LeBlanc, DiCaprio, O'Brien).
CAMEL = re.compile(r"^(?!(?:Mc|Mac|De|Le|La|Di|Du|Van|Von|Fitz|St)\p{Lu})\p{L}*\p{Ll}\p{Lu}")
_SHOUT = re.compile(r"\b\p{Lu}{3,}\b")


@cache
def known_names() -> frozenset[str]:
    """First and last names of every locale Faker ships (~60,000): a gazetteer an NER PERSON span must
    meet with at least one of its words. Loaded once per worker (~0.4 s)."""
    import importlib
    import pkgutil

    import faker.providers.person as person

    out: set[str] = set()
    for mod in pkgutil.iter_modules(person.__path__):
        provider = importlib.import_module(f"{person.__name__}.{mod.name}").Provider
        for attr in (
            "first_names",
            "first_names_male",
            "first_names_female",
            "first_names_nonbinary",
            "last_names",
            "last_names_male",
            "last_names_female",
        ):
            value = provider.__dict__.get(attr)
            if isinstance(value, dict):
                value = list(value)
            if isinstance(value, list | tuple | set | frozenset):
                out.update(v.lower() for v in value if isinstance(v, str))
    return frozenset(out)


def plausible_person(
    text: str, start: int, end: int, stop: frozenset[str], common: frozenset[str]
) -> tuple[int, int] | None:
    """An NER PERSON span cut to one line of name characters, or None when it cannot be a name.

    Real technical text is full of capitalized words spaCy's small model calls PERSON: field names
    ("Format", "Bug-Database:"), products ("Java", "MacOS X"), identifiers ("LookupError"), shouted legal
    text ("INCLUDING NEGLIGENCE"). A span stays when it starts with a capital, holds no word of an
    organisation or a date, is not followed by a company suffix or by ``:`` as a field label, and at least
    one of its words is a known first or last name (``known_names``) while not all of them are common
    words of the batch (``common``: lower-case words its prose uses)."""
    m = _NER_CHARS.match(text, start, end)
    if not m or not m.group()[0].isupper():
        return None
    end = m.end()
    while end > start and text[end - 1] in " -'’":
        end -= 1
    raw = text[start:end].split()
    words = [w.lower().rstrip(".") for w in raw]
    if not words or any(w in ORG_WORDS or (w in CALENDAR and w not in _CALENDAR_NAMES) for w in words):
        return None
    if all(w in CALENDAR or w in PARTICLES for w in words):
        return None  # "May", "June" alone
    if any(CAMEL.match(w) for w in raw) or (len(raw) > 1 and len(raw[-1]) == 1):
        return None  # "LookupError", "MacOS X"
    if all(w in common or w in stop or w in PARTICLES for w in words):
        return None
    if len(words) == 1 and (len(words[0]) < 3 or words[0] in common):
        return None
    names = known_names()
    if not any(part in names for w in words for part in w.split("-")):
        return None
    if text[start:end].isupper():
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line = text[line_start : line_end if line_end >= 0 else len(text)]
        if any(w in common or w in stop for w in words) or len(_SHOUT.findall(line)) >= len(words) + 3:
            return None  # shouted legal text, not a name in capitals
    after = text[end : end + 2]
    if _COMPANY.match(text, end) or (
        after.startswith(":") and text[text.rfind("\n", 0, start) + 1 : start].strip() == ""
    ):
        return None
    return start, end


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
