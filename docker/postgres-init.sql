-- Runs once, on an empty data directory (the postgres image's /docker-entrypoint-initdb.d), as POSTGRES_USER.
-- One server, two databases, each owned by its own role so that neither application can touch the other's
-- tables: "airflow" (Airflow's metadata) and "iceberg_catalog" (the Iceberg JDBC catalog that Spark and
-- pyiceberg share). Role names and passwords come from the container's environment through psql's \getenv
-- (PostgreSQL 15+), so no secret is written in this file or in docker-compose.yml.
\set ON_ERROR_STOP on
\getenv airflow_user AIRFLOW_DB_USER
\getenv airflow_password AIRFLOW_DB_PASSWORD
\getenv catalog_user CATALOG_DB_USER
\getenv catalog_password CATALOG_DB_PASSWORD

CREATE ROLE :"airflow_user" LOGIN PASSWORD :'airflow_password';
-- Since PostgreSQL 15 the public schema belongs to pg_database_owner: the owning role may create tables in it.
CREATE DATABASE airflow OWNER :"airflow_user";

CREATE ROLE :"catalog_user" LOGIN PASSWORD :'catalog_password';
CREATE DATABASE iceberg_catalog OWNER :"catalog_user";
