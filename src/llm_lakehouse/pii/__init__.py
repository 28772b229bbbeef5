"""PII detection and scrubbing for the ``pii`` pipe, the leak scan and the PII audit.

``policy`` (pydantic only) is what a spec configures; ``engine`` and ``recognizers`` need Presidio and spaCy
(jobs env) and are imported lazily by the pipe; ``scan`` and ``audit`` are what a job calls after a run.
"""
