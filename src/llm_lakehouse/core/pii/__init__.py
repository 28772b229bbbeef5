"""PII detection and scrubbing for the ``pii`` pipe, and the leak scan.

``policy`` (pydantic only) is what a spec configures. ``engine`` is the detector, built on ``windows`` (spans,
views, where to look), ``ner`` (spaCy's NER component), ``presidio`` (the bridge to Presidio) and
``recognizers``; those need Presidio and spaCy (jobs env) and are imported lazily by the pipe. ``anonymize``
replaces spans; ``canary`` plants known values and checks they are gone; ``scan`` is the leak scan of the
quality gate. The silver job writes ``ops.pii_audit`` from the ``pii_counts`` column.
"""
