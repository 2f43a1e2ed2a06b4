#!/bin/sh
# with-pgpass: run a program with libpq's password file written from a
# secret, so that the password is on no command line and in no environment
# variable (docker/compose.yaml's entrypoints).
#
# Usage: with-pgpass SECRET_FILE PROGRAM [ARGS...]
#
# SECRET_FILE holds the password alone (a docker secret, as the postgres
# image's *_FILE variables read them). The file libpq reads goes to
# $PGPASSFILE (compose puts it on a tmpfs that only the container's user may
# enter), mode 0600 as libpq requires, one line `*:*:*:*:PASSWORD` with `:`
# and `\` escaped; libpq then uses it for a connection string without a
# password.
set -eu

if [ $# -lt 2 ]; then
	echo "usage: with-pgpass SECRET_FILE PROGRAM [ARGS...]" >&2
	exit 2
fi
secret=$1
shift
: "${PGPASSFILE:?with-pgpass: set PGPASSFILE to where the password file goes}"

umask 077
# printf is a shell builtin: the password reaches sed on its standard input.
password=$(cat "$secret")
if [ -z "$password" ]; then
	echo "with-pgpass: $secret is empty" >&2
	exit 1
fi
escaped=$(printf '%s' "$password" | sed 's/[\\:]/\\&/g')
printf '*:*:*:*:%s\n' "$escaped" >"$PGPASSFILE"
unset password escaped
exec "$@"
