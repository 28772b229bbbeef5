#!/bin/sh
# One-shot (compose service catalog-init): makes the Polaris catalog and the lakehouse's principal, idempotently.
#   - catalog $POLARIS_CATALOG, base location $LAKEHOUSE_WAREHOUSE, and one per domain in $POLARIS_DOMAINS on the S3 endpoint $S3_ENDPOINT (path-style,
#     no STS: Polaris vends no credentials, clients use their own S3 keys);
#   - principal lakehouse, whose client id and secret are set to LAKEHOUSE_CATALOG_CREDENTIAL ("id:secret", the
#     OAuth2 client credentials Spark and pyiceberg send), with principal role lakehouse -> catalog role
#     lakehouse_content, granted CATALOG_MANAGE_CONTENT (tables, namespaces, views; not the catalog itself).
# Logs in as the realm's root principal (POLARIS_ROOT_CLIENT_ID/SECRET, made by catalog-bootstrap). Secrets go
# to curl on its standard input (-K -), never in its arguments.
set -eu

: "${POLARIS_URL:?}" "${POLARIS_CATALOG:?}" "${LAKEHOUSE_WAREHOUSE:?}" "${S3_ENDPOINT:?}"
: "${POLARIS_ROOT_CLIENT_ID:?}" "${POLARIS_ROOT_CLIENT_SECRET:?}" "${LAKEHOUSE_CATALOG_CREDENTIAL:?}"
case "$LAKEHOUSE_CATALOG_CREDENTIAL" in
  ?*:?*) ;;
  *) echo "LAKEHOUSE_CATALOG_CREDENTIAL: expected client_id:client_secret" >&2; exit 1 ;;
esac
CLIENT_ID="${LAKEHOUSE_CATALOG_CREDENTIAL%%:*}"
CLIENT_SECRET="${LAKEHOUSE_CATALOG_CREDENTIAL#*:}"
MGMT="$POLARIS_URL/api/management/v1"

token="$(printf 'user = "%s:%s"\n' "$POLARIS_ROOT_CLIENT_ID" "$POLARIS_ROOT_CLIENT_SECRET" \
  | curl --silent --show-error --fail -K - "$POLARIS_URL/api/catalog/v1/oauth/tokens" \
      -d grant_type=client_credentials -d scope=PRINCIPAL_ROLE:ALL \
  | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p')"
[ -n "$token" ] || { echo "no token from $POLARIS_URL" >&2; exit 1; }

# call METHOD PATH [JSON]: fails on any HTTP error but 409 (already exists), which makes a rerun converge.
call() {
  code="$(printf 'header = "Authorization: Bearer %s"\n' "$token" \
    | curl --silent --show-error -K - -o /tmp/polaris-response -w '%{http_code}' -X "$1" "$MGMT$2" \
        -H 'Content-Type: application/json' ${3:+-d "$3"})"
  case "$code" in
    2??|409) ;;
    *) echo "$1 $2: HTTP $code" >&2; cat /tmp/polaris-response >&2; exit 1 ;;
  esac
}

call POST /principals '{"principal": {"name": "lakehouse"}}'
# The secret goes in a file curl reads, not in the process list.
printf '{"clientId": "%s", "clientSecret": "%s"}' "$CLIENT_ID" "$CLIENT_SECRET" > /tmp/reset.json
call POST /principals/lakehouse/reset @/tmp/reset.json
rm -f /tmp/reset.json
call POST /principal-roles '{"principalRole": {"name": "lakehouse"}}'
call PUT /principals/lakehouse/principal-roles '{"principalRole": {"name": "lakehouse"}}'
# catalog NAME LOCATION: an Iceberg catalog whose tables live under LOCATION, its content managed by the lakehouse.
catalog() {
  call POST /catalogs "{\"catalog\": {\"name\": \"$1\", \"type\": \"INTERNAL\", \"readOnly\": false,
    \"properties\": {\"default-base-location\": \"$2\"},
    \"storageConfigInfo\": {\"storageType\": \"S3\", \"allowedLocations\": [\"$2\"],
      \"endpoint\": \"$S3_ENDPOINT\", \"endpointInternal\": \"$S3_ENDPOINT\", \"pathStyleAccess\": true,
      \"stsUnavailable\": true}}}"
  call POST "/catalogs/$1/catalog-roles" '{"catalogRole": {"name": "lakehouse_content"}}'
  call PUT "/catalogs/$1/catalog-roles/lakehouse_content/grants" \
    '{"grant": {"type": "catalog", "privilege": "CATALOG_MANAGE_CONTENT"}}'
  call PUT "/principal-roles/lakehouse/catalog-roles/$1" '{"catalogRole": {"name": "lakehouse_content"}}'
}

# Side by side, never nested (Polaris refuses overlapping catalog locations): <warehouse>/<domain>/<layer>/<table>,
# the platform's pipeline being the domain "platform" here, which the S3 role policies' prefixes expect.
catalog "$POLARIS_CATALOG" "$LAKEHOUSE_WAREHOUSE/platform"
# Each domain pipeline's own catalog (settings.in_domain: <catalog>_<domain> at <warehouse>/<domain>).
for domain in ${POLARIS_DOMAINS:-}; do
  catalog "${POLARIS_CATALOG}_$domain" "$LAKEHOUSE_WAREHOUSE/$domain"
done
echo "catalogs $POLARIS_CATALOG (domains: ${POLARIS_DOMAINS:-none}) and principal lakehouse ready"
