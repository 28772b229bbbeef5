"""Quality gates: expectations declared in the spec (``rules``), checked with Great Expectations on the
day a job wrote to its write-audit-publish branch (``gate``), before ``jobs/wap.py`` publishes it."""
