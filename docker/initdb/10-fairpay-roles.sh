#!/usr/bin/env bash
# Run once by the postgres image, as it creates the cluster
# (/docker-entrypoint-initdb.d): the roles of docker/compose.yaml.
#
#   fairpay_owner  LOGIN, owns the database: runs the migrations
#   fairpay_app    NOLOGIN, the grants of migrations/0003 (made there too)
#   fairpayd       LOGIN, a member of fairpay_app only: the server
#
# fairpayd is not a member of the owner, and nothing but the superuser is
# more than it, so a server session that leaves --db-role (SET ROLE NONE,
# RESET ROLE) is still held to fairpay_app's grants. The owner may grant
# fairpay_app (0003 makes it a member) but creates no roles.
set -euo pipefail

# The passwords go from the secret files to psql's variables inside psql
# (\set with a backquoted cat), never through a command line; :'var' quotes
# them safely. Empty files are refused first.
for f in /run/secrets/owner_password /run/secrets/fairpayd_password; do
	[ -s "$f" ] && [ -n "$(tr -d '[:space:]' <"$f")" ] || {
		echo "fairpay roles: empty password in $f" >&2
		exit 1
	}
done

psql -X -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-v db="$POSTGRES_DB" <<'SQL'
\set owner_pw `cat /run/secrets/owner_password`
\set fairpayd_pw `cat /run/secrets/fairpayd_password`
CREATE ROLE fairpay_owner LOGIN PASSWORD :'owner_pw';
ALTER DATABASE :"db" OWNER TO fairpay_owner;
CREATE ROLE fairpay_app NOLOGIN;
GRANT fairpay_app TO fairpay_owner WITH ADMIN OPTION;
CREATE ROLE fairpayd LOGIN PASSWORD :'fairpayd_pw' IN ROLE fairpay_app;
SQL
