"""PII detection and scrubbing for the ``pii`` pipe, and the leak scan.

``policy`` (pydantic only) is what a spec configures; ``engine`` and ``recognizers`` need Presidio and spaCy
(jobs env) and are imported lazily by the pipe; ``scan`` is the leak scan run after a build. The silver job
writes ``ops.pii_audit`` from the ``pii_counts`` column.
"""
