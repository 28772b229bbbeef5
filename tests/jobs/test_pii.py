"""The ``pii`` pipe and its engine on the generated labeled set: no Spark, no JVM.

Quality is asserted against floors per entity and against plain Presidio on the same text; the fast path
(triggers, windows, NER near candidates) against the reference path (every recognizer and NER on every
whole text); scrubbed text against the leak scan; pseudonyms across documents, runs and salts.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import ValidationError

from llm_lakehouse.core.pii import engine as pii_engine
from llm_lakehouse.core.pii.engine import get_engine
from llm_lakehouse.core.pii.policy import ENTITIES, NER, STRUCTURED, PiiPolicy
from llm_lakehouse.core.pii.presidio import transformers_unavailable
from llm_lakehouse.core.pii.scan import structured_hits
from llm_lakehouse.core.pii.windows import resolve
from llm_lakehouse.core.pipes import REGISTRY, build_pipe, pipe_columns
from llm_lakehouse.core.pipes.base import DROP_COLUMNS, with_drop_columns
from llm_lakehouse.core.tables import _ARROW
from llm_lakehouse.devtools.pii_eval import make_corpus, make_eval_set, plain_presidio, score

ALL = tuple(ENTITIES)
THRESHOLDS = dict.fromkeys(ALL, 0.35)
SALT_ENV = "LAKEHOUSE_TEST_PII_SALT"
SALT = "test-salt-0123456789abcdef"
OTHER_SALT = "another-salt-fedcba9876543210"

# (precision floor, recall floor) per entity on the labeled set. The issue asks recall 1.0 of email, IP,
# SSN, IBAN and (valid) cards, and >= 0.9 of PERSON; the rest are set a little under what was measured
# (docs/pii.md has the numbers) so that a regression fails.
FLOORS = {
    "EMAIL_ADDRESS": (0.99, 1.0),
    "IP_ADDRESS": (0.99, 1.0),
    "US_SSN": (0.99, 1.0),
    "IBAN_CODE": (0.99, 1.0),
    "CREDIT_CARD": (0.97, 1.0),
    "PHONE_NUMBER": (0.85, 0.97),
    "URL": (0.95, 1.0),
    "AWS_ACCESS_KEY": (0.99, 1.0),
    "PRIVATE_KEY": (0.99, 1.0),
    "API_TOKEN": (0.99, 1.0),
    "PERSON": (0.80, 0.90),
    "LOCATION": (0.90, 0.80),
}


@pytest.fixture(scope="module")
def eval_docs():
    return make_eval_set(300)


@pytest.fixture(scope="module")
def eng():
    return get_engine(ALL)


@pytest.fixture(scope="module")
def fast(eng, eval_docs):
    return [resolve(s, THRESHOLDS) for s in eng.analyze([d.text for d in eval_docs])]


@pytest.fixture(scope="module")
def reference(eng, eval_docs):
    return [resolve(s, THRESHOLDS) for s in eng.analyze([d.text for d in eval_docs], reference=True)]


@pytest.fixture(scope="module")
def presidio(eval_docs):
    analyzer = plain_presidio()
    entities = [e for e in ALL if e in analyzer.get_supported_entities("en")]
    return entities, [
        analyzer.analyze(d.text, language="en", entities=entities, score_threshold=0.35) for d in eval_docs
    ]


def batch_of(texts, sources=None) -> pa.RecordBatch:
    n = len(texts)
    return with_drop_columns(
        pa.RecordBatch.from_pydict(
            {
                "doc_id": pa.array([f"t/{i}" for i in range(n)], pa.string()),
                "source": pa.array(sources or ["support"] * n, pa.string()),
                "text": pa.array(texts, pa.string()),
            }
        )
    )


# ----------------------------------------------------------------------------------------- quality


def test_eval_set_covers_every_entity_and_is_deterministic(eval_docs):
    seen = {g.entity for d in eval_docs for g in d.spans}
    assert seen == set(ALL)
    again = make_eval_set(300)
    assert [d.text for d in again] == [d.text for d in eval_docs]
    for d in eval_docs[:50]:  # spans point at the planted values
        for g in d.spans:
            assert d.text[g.start : g.end].strip() == d.text[g.start : g.end] != ""


@pytest.mark.parametrize("entity", ALL)
def test_precision_and_recall_floors(entity, eval_docs, fast):
    s = score(eval_docs, fast, ALL)[entity]
    p_floor, r_floor = FLOORS[entity]
    assert s.gold > 0
    assert s.recall >= r_floor, f"{entity} recall {s.recall:.3f} < {r_floor} ({s.found}/{s.gold})"
    assert s.precision >= p_floor, f"{entity} precision {s.precision:.3f} < {p_floor}"


def test_recall_never_below_plain_presidio(eval_docs, fast, presidio):
    entities, plain = presidio
    ours, theirs = score(eval_docs, fast, entities), score(eval_docs, plain, entities)
    for e in entities:
        assert ours[e].recall >= theirs[e].recall, (e, ours[e].recall, theirs[e].recall)
    # and the custom recognizers are why: plain Presidio misses some valid cards and phones
    assert theirs["CREDIT_CARD"].recall < 1.0 == ours["CREDIT_CARD"].recall


def test_fast_path_finds_what_the_reference_path_finds(eval_docs, fast, reference):
    """Triggers and windows change nothing for structured entities; NER near candidates loses nothing."""
    for f, r in zip(fast, reference, strict=True):
        assert [s for s in f if s.entity in STRUCTURED] == [s for s in r if s.entity in STRUCTURED]
    sf, sr = score(eval_docs, fast, NER), score(eval_docs, reference, NER)
    for e in NER:
        assert sf[e].recall >= sr[e].recall, e


def test_fast_path_equals_reference_on_benchmark_corpus(eng):
    texts = make_corpus(60)
    f = [resolve(s, THRESHOLDS) for s in eng.analyze(texts)]
    r = [resolve(s, THRESHOLDS) for s in eng.analyze(texts, reference=True)]
    for a, b in zip(f, r, strict=True):
        assert [s for s in a if s.entity in STRUCTURED] == [s for s in b if s.entity in STRUCTURED]


def test_ner_reads_only_text_near_name_candidates(eng):
    """The design's cost driver, asserted: NER reads a fraction of the text, none of a text without names."""
    texts = make_corpus(100)
    before = dict(eng.stats)
    eng.analyze(texts)
    share = (eng.stats["ner_chars"] - before["ner_chars"]) / (eng.stats["chars"] - before["chars"])
    assert share < 0.4
    assert eng.ner_windows("the export finished after the second retry; restart the agent.") == []
    assert eng.ner_windows("please ask Maria about it") != []


@pytest.mark.parametrize(
    "card",
    [
        "2221 0000 0000 0009",
        "4111 1111 1111 1111 003",
        "6759 6498 2643 8453",
        "2131 000000 00001",
        "5018 0000 0009",
    ],
    ids=["mastercard-2series", "visa-19", "maestro-16", "jcb-2131", "maestro-12"],
)
def test_card_formats_presidio_misses(card, eng):
    from llm_lakehouse.core.pii.recognizers import luhn_ok

    assert luhn_ok(card.replace(" ", ""))
    text = f"Please charge card {card} today."
    found = resolve(eng.analyze([text])[0], THRESHOLDS)
    assert [(s.entity, text[s.start : s.end]) for s in found] == [("CREDIT_CARD", card)]


@pytest.mark.parametrize(
    "text",
    [
        "Order number 4111 1111 1111 1112 was cancelled.",
        "Ticket 1234 5678 9012 3456 is closed.",
        "Reference 5500-0000-0000-0005 is void.",
        "Build 2026.11.03 ran on version 3.11.7.",
    ],
)
def test_card_lookalikes_failing_luhn_are_not_cards(text, eng):
    assert [s for s in resolve(eng.analyze([text])[0], THRESHOLDS) if s.entity == "CREDIT_CARD"] == []


def test_email_inside_url_is_found_and_replaced(eng):
    text = "Unsubscribe at https://news.example.com/u?email=jane.roe@example.org&x=1 now"
    found = {s.entity for s in resolve(eng.analyze([text])[0], THRESHOLDS)}
    assert {"EMAIL_ADDRESS", "URL"} <= found
    out = build_pipe("pii", {"entities": ["EMAIL_ADDRESS"]})(batch_of([text]))
    assert "jane.roe" not in out.column("text")[0].as_py()


# -------------------------------------------------------------------------------------------- pipe


def test_registry_and_columns():
    assert REGISTRY["pii"].name == "pii"
    cols = dict((n, t) for n, t, _ in pipe_columns(["pii"]))
    assert cols == {"pii_counts": "MAP<STRING, INT>", "pii_policy": "STRING"}
    assert all(t in _ARROW for t in cols.values())


def test_pipe_leaves_no_structured_pii_and_counts_what_it_replaced(eval_docs):
    texts = [d.text for d in eval_docs]
    out = build_pipe("pii", {"policy": "support"})(batch_of(texts))
    scrubbed = out.column("text").to_pylist()
    assert out.num_rows == len(texts)
    for d, s in zip(eval_docs, scrubbed, strict=True):
        for g in d.spans:
            if g.entity in STRUCTURED and g.entity != "URL":  # URL is not in the default policy
                assert d.text[g.start : g.end] not in s
    assert structured_hits(pa.array(texts))["EMAIL_ADDRESS"] == 240
    assert structured_hits(out.column("text")) == {}
    counts = [dict(c) for c in out.column("pii_counts").to_pylist()]
    assert sum(c.get("EMAIL_ADDRESS", 0) for c in counts) == 240
    assert set(out.column("pii_policy").to_pylist()) == {"support"}


# From a gcloud man page on this machine: the pipe replaces ``F::`` as an IPv6 address, and with it gone the
# ``::`` after ``<value>`` scores 0.45 instead of 0.1 (the recognizer reads its context), so a single pass
# left a span the quality gate's scan then found; a 320 MB day of real text was blocked by it.
GCLOUD = (
    "Specifies the mode of this IPv6 PDP. MODE must be one of:\ndelegation, "
    "external-ipv6-forwarding-rule-creation,\nexternal-ipv6-subnetwork-creation.\n\n-F::\n--field=<value>::\n"
    "        Output fields. By default it shows all but the wait_min fields\n"
)


def test_pipe_scrubs_what_its_replacements_uncover():
    assert structured_hits(pa.array([GCLOUD])) == {"IP_ADDRESS": 1}
    out = build_pipe("pii", {"policy": "public", "entities": ["IP_ADDRESS", "EMAIL_ADDRESS"]})(
        batch_of([GCLOUD, "mail a@example.org or <IP_ADDRESS> stays"], ["web", "web"])
    )
    assert structured_hits(out.column("text")) == {}
    assert [dict(c) for c in out.column("pii_counts").to_pylist()] == [
        {"IP_ADDRESS": 2},
        {"EMAIL_ADDRESS": 1},
    ]
    # A later pass never rewrites a placeholder that was in the text or that an earlier pass wrote.
    assert out.column("text")[1].as_py() == "mail <EMAIL_ADDRESS> or <IP_ADDRESS> stays"


def test_pipe_keeps_dropped_rows_and_other_sources_untouched():
    texts = ["mail bob@example.com", "mail ann@example.com", "mail joe@example.com", None]
    batch = batch_of(texts, ["support", "support", "docs", "support"])
    i = batch.schema.get_field_index("drop_reason")
    batch = batch.set_column(i, "drop_reason", pa.array(["earlier", None, None, "empty_text"], pa.string()))
    out = build_pipe("pii", {"policy": "chats", "sources": ["support"]})(batch)
    assert out.column("text").to_pylist() == [texts[0], "mail <EMAIL_ADDRESS>", texts[2], None]
    assert out.column("pii_counts").to_pylist() == [None, [("EMAIL_ADDRESS", 1)], None, None]
    assert out.column("pii_policy").to_pylist() == [None, "chats", None, None]
    for name in DROP_COLUMNS:
        assert out.column(name).to_pylist() == batch.column(name).to_pylist()
    # a second policy for the docs source fills in its rows and keeps the first policy's
    out2 = build_pipe("pii", {"policy": "docs", "sources": ["docs"], "default_operator": {"type": "redact"}})(
        out
    )
    assert out2.column("text").to_pylist() == [texts[0], "mail <EMAIL_ADDRESS>", "mail ", None]
    assert out2.column("pii_policy").to_pylist() == [None, "chats", "docs", None]


def test_default_policy_takes_every_row_no_earlier_step_scanned():
    texts = ["mail bob@example.com", "mail ann@example.com", "mail joe@example.com", "mail kim@example.com"]
    batch = batch_of(texts, ["web", "support", "my_adhoc_feed", None])
    out = build_pipe("pii", {"policy": "public", "sources": ["web"], "default_operator": {"type": "redact"}})(
        batch
    )
    out = build_pipe("pii", {"policy": "strict", "sources": ["support"], "default": True})(out)
    assert out.column("pii_policy").to_pylist() == ["public", "strict", "strict", "strict"]
    assert out.column("text").to_pylist() == ["mail ", *["mail <EMAIL_ADDRESS>"] * 3]


def test_metadata_keeps_only_the_policys_fields_scrubbed():
    import json

    meta = [
        {
            "customer_email": "ann.lee@example.com",  # not kept: dropped whole
            "channel": "phone, call back on 212-555-0187",
            "card": 4111111111111111,  # a number is scanned too
            "tags": ["vip", {"owner": "ops@example.com"}],
            "n": 3,
        },
        {"channel": "chat"},
        "not an object",
    ]
    batch = batch_of(["hello there"] * 4, ["support"] * 4)
    batch = batch.append_column("metadata", pa.array([*(json.dumps(m) for m in meta), None], pa.string()))
    params = {"policy": "chats", "sources": ["support"], "keep_fields": ["channel", "card", "tags", "n"]}
    out = build_pipe("pii", params)(batch)
    got = out.column("metadata").to_pylist()
    assert json.loads(got[0]) == {
        "channel": "phone, call back on <PHONE_NUMBER>",
        "card": "<CREDIT_CARD>",
        "tags": ["vip", {"owner": "<EMAIL_ADDRESS>"}],
        "n": 3,
    }
    assert json.loads(got[1]) == {"channel": "chat"} and got[2] == "{}" and got[3] is None
    assert dict(out.column("pii_counts")[0].as_py()) == {
        "CREDIT_CARD": 1,
        "EMAIL_ADDRESS": 1,
        "PHONE_NUMBER": 1,
    }
    assert structured_hits(out.column("metadata")) == {}


def test_operators_redact_mask_replace():
    text = "Call 212-555-0187 or mail bob@example.com, card 4111 1111 1111 1111."
    params = {
        "entities": ["PHONE_NUMBER", "EMAIL_ADDRESS", "CREDIT_CARD"],
        "operators": {
            "PHONE_NUMBER": {"type": "redact"},
            "EMAIL_ADDRESS": {"type": "replace", "value": "[email]"},
            "CREDIT_CARD": {"type": "mask", "keep_last": 4},
        },
    }
    out = build_pipe("pii", params)(batch_of([text])).column("text")[0].as_py()
    assert out == "Call  or mail [email], card ***************1111."


def test_pseudonyms_stable_across_documents_and_runs_and_salted(monkeypatch):
    texts = [
        "Customer: my name is Maria Gonzalez, mail maria.g@example.com.",
        "Escalated by Maria Gonzalez (maria.g@example.com) on Monday.",
    ]
    params = {
        "operators": {"PERSON": {"type": "hash"}, "EMAIL_ADDRESS": {"type": "hash"}},
        "salt_env": SALT_ENV,
    }
    monkeypatch.setenv(SALT_ENV, SALT)
    run1 = build_pipe("pii", params)(batch_of(texts)).column("text").to_pylist()
    run2 = build_pipe("pii", params)(batch_of(list(reversed(texts)))).column("text").to_pylist()
    assert run2 == list(reversed(run1))  # another run, other order: same output
    tokens = [set(re.findall(r"<([A-Z_]+_[0-9a-f]{16})>", t)) for t in run1]
    shared = tokens[0] & tokens[1]
    assert any(t.startswith("PERSON_") for t in shared) and any(
        t.startswith("EMAIL_ADDRESS_") for t in shared
    )
    assert all("Maria" not in t and "maria" not in t for t in run1)
    assert all(SALT not in t for t in run1)
    monkeypatch.setenv(SALT_ENV, OTHER_SALT)
    other = build_pipe("pii", params)(batch_of(texts)).column("text").to_pylist()
    other_tokens = set(re.findall(r"<([A-Z_]+_[0-9a-f]{16})>", other[0]))
    assert len(other_tokens) == len(tokens[0]) == 2 and other_tokens.isdisjoint(tokens[0])


def test_missing_salt_fails_naming_the_variable_not_a_value(monkeypatch):
    monkeypatch.delenv(SALT_ENV, raising=False)
    params = {"operators": {"PERSON": {"type": "hash"}}, "salt_env": SALT_ENV}
    with pytest.raises(ValueError, match=SALT_ENV):
        build_pipe("pii", params)
    monkeypatch.setenv(SALT_ENV, "short")
    with pytest.raises(ValueError, match="at least 16 bytes") as err:
        build_pipe("pii", params)
    assert "short" not in str(err.value)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"entities": ["EMAIL", "PERSON"]}, "unknown entities"),
        ({"operators": {"PERSON": {"type": "hash"}}}, "salt_env"),
        ({"operators": {"PERSON": {"type": "hash"}}, "salt_env": "s3cr3t-value!"}, "NAME of an environment"),
        ({"ner_backend": "transformers"}, "transformers_model"),
        ({"default_operator": {"type": "encrypt"}}, "default_operator"),
    ],
)
def test_policy_rejects_bad_specs(params, message):
    with pytest.raises(ValidationError, match=message):
        PiiPolicy(**params)


def test_spec_with_pii_steps_loads(tmp_path: Path):
    from llm_lakehouse.core.spec import load_spec

    spec = Path(__file__).resolve().parents[2] / "pipelines" / "corpus_nightly.yaml"
    steps = [p for p in load_spec(spec).silver.pipes if p.pipe == "pii"]
    assert [(s.params["policy"], s.params["sources"], s.params.get("default")) for s in steps] == [
        ("public_text", ["web", "docs"], None),
        ("support_chat", ["support"], True),
    ]
    # Pseudonyms instead of placeholders: a hash operator with the salt's env var name.
    text = (
        spec.read_text()
        .replace(
            "      default_operator: {type: replace}          # <EMAIL_ADDRESS>, <PERSON> ...",
            "      default_operator: {type: replace}\n      salt_env: PII_SALT\n"
            "      operators: {PERSON: {type: hash}, CREDIT_CARD: {type: mask, keep_last: 4}}",
            1,
        )
        .replace("      operators:\n        CREDIT_CARD: {type: mask, keep_last: 4}\n", "", 1)
    )
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    support = next(p for p in load_spec(path).silver.pipes if p.params.get("policy") == "support_chat")
    assert support.params["salt_env"] == "PII_SALT" and support.params["operators"]["PERSON"] == {
        "type": "hash"
    }


def test_airflow_side_imports_no_heavy_library():
    code = (
        "import sys; import llm_lakehouse.core.pipes, llm_lakehouse.core.pii.policy; "
        "bad = [m for m in ('presidio_analyzer', 'spacy', 'faker', 'torch') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_spacy_engine_loads_without_torch_which_stays_importable():
    # spaCy (thinc) and Presidio import torch and transformers when installed: seconds per Spark worker.
    code = """
import sys
from llm_lakehouse.core.pii.engine import get_engine
from llm_lakehouse.core.pii.presidio import transformers_unavailable
eng = get_engine(("PERSON", "EMAIL_ADDRESS"))
loaded = sorted({"torch", "transformers"} & set(sys.modules))
assert not loaded, loaded
text = "Thanks to John Smith <john@example.com> for the fix."
assert {s.entity for s in eng.analyze([text])[0]} == {"PERSON", "EMAIL_ADDRESS"}
import torch, transformers
from sentence_transformers import SentenceTransformer
# A transformers pii step after a spaCy one in the same worker is told why it falls back.
assert "spaCy pii step loaded Presidio first" in transformers_unavailable("cpu")
"""
    subprocess.run([sys.executable, "-c", code], check=True)


def test_presidio_log_records_never_carry_values(eng, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("presidio-analyzer").error("Failed to validate text %s", "DE89370400440532013000")
    assert "Failed to validate text" in caplog.text
    assert "DE89370400440532013000" not in caplog.text


# ------------------------------------------------------------------------------------ GPU fallback


def _cuda_visible() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(_cuda_visible(), reason="the CPU fallback is what this checks; a GPU worker has CUDA")
@pytest.mark.parametrize("device", ["auto", "cuda"])
def test_transformers_backend_falls_back_to_cpu_spacy_with_a_log_line(device, tmp_path, caplog):
    # torch and transformers are installed (the embeddings need them); what is missing here is a CUDA GPU.
    assert transformers_unavailable(device) in (
        "no CUDA device",
        "device=auto found no CUDA device",
    )
    caplog.set_level(logging.WARNING, logger="llm_lakehouse.core.pii")
    eng = get_engine(("PERSON", "EMAIL_ADDRESS"), "transformers", device, transformers_model=str(tmp_path))
    assert eng.ner_backend == "spacy"
    assert any("falling back to CPU spaCy" in r.getMessage() for r in caplog.records)
    text = "Please ask Maria Gonzalez about the invoice."
    spans = resolve(eng.analyze([text])[0], dict.fromkeys(("PERSON", "EMAIL_ADDRESS"), 0.35))
    assert [(s.entity, text[s.start : s.end]) for s in spans] == [("PERSON", "Maria Gonzalez")]
    assert "Maria" not in caplog.text


def test_transformers_backend_reads_presidio_artifacts(monkeypatch):
    """The GPU path's plumbing with a stand-in for Presidio's TransformersNlpEngine (no torch here)."""

    class Ent:
        def __init__(self, label, s, e):
            self.label_, self.start_char, self.end_char = label, s, e

    class FakeEngine:
        def process_batch(self, texts, language, batch_size=1):
            for t in texts:
                i = t.find("Maria")
                ents = [Ent("PERSON", i, i + 5), Ent("ORGANIZATION", 0, 3)] if i >= 0 else []
                yield t, type("A", (), {"entities": ents, "scores": [0.99] * len(ents)})()

    monkeypatch.setattr(pii_engine, "transformers_unavailable", lambda device: None)
    monkeypatch.setattr(pii_engine, "transformers_engine", lambda *a: FakeEngine())
    eng = pii_engine.Engine(("PERSON",), "transformers", "cuda", transformers_model="/nonexistent")
    assert eng.ner_backend == "transformers"
    text = "Escalated to Maria today."
    spans = resolve(eng.analyze([text])[0], {"PERSON": 0.35})
    assert [(s.entity, text[s.start : s.end], s.score) for s in spans] == [("PERSON", "Maria", 0.99)]


# -------------------------------------------------------------------------------------------- audit


def test_spec_validation_does_not_need_the_secret(monkeypatch):
    # Airflow validates the spec without the secret; only building the pipe on a worker reads it.
    monkeypatch.delenv(SALT_ENV, raising=False)
    policy = PiiPolicy(operators={"PERSON": {"type": "hash"}}, salt_env=SALT_ENV)
    assert policy.operator("PERSON").type == "hash" and policy.salt_env == SALT_ENV


# ------------------------------------------------------------------------------- real-text shapes

PERSON_T = {"PERSON": 0.35, "EMAIL_ADDRESS": 0.35, "PHONE_NUMBER": 0.35, "LOCATION": 0.6}


def found(eng, text: str) -> list[tuple[str, str]]:
    return [(s.entity, text[s.start : s.end]) for s in resolve(eng.analyze([text])[0], PERSON_T)]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        (" -- Jane Doe <jane@debian.org>  Mon, 01 Jan 2024 10:00:00 +0000", "Jane Doe"),
        ("  * Fix the build. Thanks to Bob Smith <bob@example.org>.", "Bob Smith"),
        ("  [ Maria Gonzalez ]\n  * New upstream release.", "Maria Gonzalez"),
        ("Copyright 2009 John Q. Public <jqp@example.com>", "John Q. Public"),
        ("Copyright (c) 2010-2012, 2015 Mary Ann Evans\nAll rights reserved.", "Mary Ann Evans"),
        (
            "Files: *\nCopyright: 2001 Wolfgang Amadeus\n           2004-2006 Hildegard Bingen\n",
            "Hildegard Bingen",
        ),
        ("  * Handle empty files (Alice Walker)", "Alice Walker"),
        ("Reported-by: Linus Torvalds\n", "Linus Torvalds"),
        ("Co-authored-by: ana lopez <ana.lopez@example.org>", "ana lopez"),
        ("Signed-off-by: JOHN SMITH <js@kernel.org>", "JOHN SMITH"),
        ("From: JOHN\nSubject: build fails", "JOHN"),
        ("Author: Guido van Rossum\nAuthor-email: guido@python.org", "Guido van Rossum"),
        ("maintained by jdoe@example.net (Jean-Luc O'Brien) since 2004", "Jean-Luc O'Brien"),
        # as silver sees them: the normalize pipe has stripped the continuation lines' indent
        ("Copyright:\n2001 Wolfgang Amadeus\n2004-2006 Hildegard Bingen\n", "Hildegard Bingen"),
        ("Copyright (C) 2006,2008 Jan Arne Petersen", "Jan Arne Petersen"),
        ("Petr Sorfa (Initial Maintainer) <petr@example.org>", "Petr Sorfa"),
        ("| Czech | cs_CZ | [Adam Schubert](https://github.com/salamek) |", "Adam Schubert"),
    ],
)
def test_names_marked_by_structure_are_found(eng, text, name):
    assert ("PERSON", name) in found(eng, text)


@pytest.mark.parametrize(
    "text",
    [
        "Released on Mon, 01 Jan 2024; next release in Sun 14 Feb or in May 2025.",
        "See the (Apache License) and (GNU General Public License) for details.",
        "Thanks to the Python Packaging Authority <pypa-dev@python.org> for the tooling.",
        "Maintainer: Debian Python Team <team+python@tracker.debian.org>",
        "Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>",
        "Please contact us at <help@example.com> or open an issue (Closes: #1234).",
    ],
)
def test_no_person_in_dates_licences_and_organisations(eng, text):
    assert [v for e, v in found(eng, text) if e == "PERSON"] == []


def test_email_shaped_identifiers_are_addresses_but_version_pins_are_not(eng):
    text = "In-Reply-To: <2011gv2324@host.oz>\nssh admin@localhost\npip install pkg@1.2.3 or @types/node"
    assert [v for e, v in found(eng, text) if e == "EMAIL_ADDRESS"] == [
        "2011gv2324@host.oz",
        "admin@localhost",
    ]


def test_full_width_and_zero_width_forms_are_found_and_replaced_in_the_original():
    text = "Mail ｊｏｈｎ@ｅｘａｍｐｌｅ.ｃｏｍ or jo\u200bhn@exa\u200bmple.com, call ２１２-５５５-０１８７ today."
    out = build_pipe("pii", {"policy": "p"})(batch_of([text])).column("text")[0].as_py()
    assert out == "Mail <EMAIL_ADDRESS> or <EMAIL_ADDRESS>, call <PHONE_NUMBER> today."
    assert structured_hits(pa.array([text])) == {"EMAIL_ADDRESS": 2, "PHONE_NUMBER": 1}


# ---------------------------------------------------------------------------------------- canaries


def _chain_outcome(steps):
    from llm_lakehouse.core.pipes import build_chain

    got: dict[str, list[int]] = {}

    def on_canaries(key, values):
        got[key] = [a + b for a, b in zip(got.get(key, [0, 0, 0]), values, strict=True)]

    chain = build_chain(steps, on_canaries=on_canaries)
    batch = batch_of(["Customer called about the invoice; the refund goes out tomorrow."] * 3)
    batch = batch.append_column("metadata", pa.array(['{"channel": "chat"}'] * 3, pa.string()))
    outs = [chain(batch) for _ in range(2)]  # two batches: canaries in each
    return outs, got


def test_canaries_ride_every_batch_and_leave_nothing_behind():
    strict = {"policy": "strict", "sources": ["support"], "default": True, "keep_fields": ["channel"]}
    public = {"policy": "public", "sources": ["web"], "entities": ["EMAIL_ADDRESS", "PHONE_NUMBER"]}
    outs, got = _chain_outcome([("pii", public), ("pii", strict), ("content_hash", {})])
    for out in outs:
        assert out.column("doc_id").to_pylist() == ["t/0", "t/1", "t/2"]  # canaries taken out again
    # [records, values planted, values survived] per policy and source, over both batches
    assert set(got) == {("public", "web"), ("strict", "support")}
    assert all(v[0] >= 2 and v[1] > v[0] and v[2] == 0 for v in got.values()), got


def test_canaries_catch_a_policy_that_misses_names():
    weak = {
        "policy": "weak",
        "default": True,
        "entities": ["PERSON", "EMAIL_ADDRESS"],
        "score_threshold": 0.9,
    }
    _, got = _chain_outcome([("pii", weak), ("content_hash", {})])
    assert got[("weak", "__canary__")][2] > 0  # names score 0.85 < 0.9: they survive, and the canaries say so


def test_the_shipped_policies_scrub_their_canaries_whatever_the_batch():
    """A big day runs hundreds of batches per task, each with the canaries of the next seed; one seed whose
    name the NER model misses blocks the whole day. It did on an 80 MB day of real text: "hi, this is
    Olusegun Kowalczyk." (seeds 8, 17, 23 ... of the first 60), found only at that scale."""
    from llm_lakehouse.core.pii import canary
    from llm_lakehouse.core.settings import REPO_ROOT
    from llm_lakehouse.core.spec import load_spec

    spec = load_spec(REPO_ROOT / "pipelines" / "corpus_nightly.yaml")
    pipes = [build_pipe("pii", s.params) for s in spec.silver.pipes if s.pipe == "pii"]
    planted = [c for seed in range(80) for p in pipes for c in canary.canaries_for(p.p, seed)]
    batch = batch_of(["The refund goes out tomorrow."])
    batch = canary.append(batch.append_column("metadata", pa.array([None], pa.string())), planted)
    for pipe in pipes:
        batch = pipe(batch)
    _, outcome = canary.check(batch, planted)
    survived = {key: v[2] for key, v in outcome.items() if v[2]}
    assert not survived and len(outcome) == 2, survived
