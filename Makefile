# LLM Lakehouse. `make setup && make run` on a fresh machine; `make test` runs the suite.
SHELL := /bin/bash
JOBS := .venvs/jobs/bin
AIRFLOW := .venvs/airflow/bin
export LAKEHOUSE_HOME ?= $(CURDIR)/var

.PHONY: setup run run-prod stop test test-jobs test-airflow lint docs bench sample clean up down

setup:            ## install Debian packages, both envs, the Iceberg and JDBC jars
	bash scripts/setup.sh

run:              ## start Airflow standalone, build one day of the sample corpus, print counts
	bash scripts/run.sh

run-prod:         ## the production topology as local processes (PostgreSQL, Redis, Airflow + Celery, Spark standalone), then the sample days
	bash scripts/run_prod.sh

stop:             ## stop everything `make run` or `make run-prod` started
	bash scripts/stop.sh

test: test-jobs test-airflow   ## the whole suite (the README's test command; .ci/run calls it)

test-jobs:        ## pipes, ingest, Spark + Iceberg jobs, CLI (jobs env)
	$(JOBS)/python -m pytest --durations=15 tests/jobs

test-airflow:     ## DAG import, dag.test(), standalone end to end, browser (Airflow env)
	PATH="$(CURDIR)/$(JOBS):$$PATH" $(AIRFLOW)/python -m pytest --durations=15 tests/airflow

lint:            ## ruff, the one-way layers of src/llm_lakehouse (import-linter, contracts in pyproject.toml), the governance policy over every spec
	$(JOBS)/ruff check src dags spark_jobs tests bench scripts plugins
	$(JOBS)/ruff format --check src dags spark_jobs tests bench scripts plugins
	$(JOBS)/lint-imports
	$(JOBS)/lakehouse governance check

bench:            ## the side-by-side benchmarks on a quiet machine (~2 h: the 320 MB and 1 GB points take most): bench/results/<date>.md
	[ -x .venvs/bench/bin/python ] || bash bench/setup_datatrove.sh
	$(JOBS)/python bench/suite.py

docs:             ## redraw docs/images/architecture.png from the spec (the screenshots come from make test-airflow)
	$(JOBS)/python -m llm_lakehouse.devtools.architecture

sample:           ## regenerate the bundled sample corpus into the landing zone
	$(JOBS)/lakehouse sample --out $(LAKEHOUSE_HOME)/landing

clean: stop
	rm -rf var build .venvs

up:               ## build the images and start the compose stack (Airflow, Spark, MinIO, Iceberg REST, DataHub); needs .env
	docker compose -p llm-lakehouse up -d --build

down:             ## stop the compose stack; its volumes stay (`docker compose down -v` deletes the data)
	docker compose -p llm-lakehouse down
