"""The Airflow side: the DAG factory and the operators that ``dags/`` wire. Runs in the Airflow env only."""
