# The Iceberg REST catalog of docker-compose.yml: Apache Iceberg's REST catalog server (the iceberg-rest-fixture
# image, same Iceberg version as the Spark runtime jar) over a JDBC catalog in PostgreSQL, writing table
# metadata to MinIO with S3FileIO. The image ships the SQLite JDBC driver only; the PostgreSQL one comes from
# Debian, as in the other images. Configured by CATALOG_* variables (CATALOG_JDBC_USER -> jdbc.user,
# CATALOG_S3_PATH__STYLE__ACCESS -> s3.path-style-access) and the AWS SDK's AWS_* variables.
ARG ICEBERG_VERSION=1.10.2

FROM debian:bookworm-slim AS jdbc
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libpostgresql-jdbc-java \
 && cp -L /usr/share/java/postgresql.jar /postgresql.jar

FROM apache/iceberg-rest-fixture:${ICEBERG_VERSION}
COPY --from=jdbc /postgresql.jar /usr/lib/iceberg-rest/postgresql.jar
# -cp rather than the image's `java -jar`, which ignores any classpath but the jar's own. The server logs its
# catalog properties, jdbc.password included, at INFO on start: that logger is set to WARN.
CMD ["java", "-Dorg.slf4j.simpleLogger.log.org.apache.iceberg.rest.RESTCatalogServer=warn", \
     "-cp", "iceberg-rest-adapter.jar:postgresql.jar", "org.apache.iceberg.rest.RESTCatalogServer"]
