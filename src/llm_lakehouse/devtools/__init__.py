"""Development tools, not the product's runtime: the Airflow standalone harness, the sample corpus generator and
the labeled PII evaluation sets."""
