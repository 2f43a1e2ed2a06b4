#!/usr/bin/env bash
# gencerts.sh DIR: a throwaway certificate authority and certificates for the
# demo and the tests, made with the openssl command-line tool.
#
#   ca.pem, ca.key          the test CA (clients verify the server against it;
#                           a server given --client-ca ca.pem trusts its clients)
#   server.pem, server.key  CN=localhost, subjectAltName DNS:localhost, IP:127.0.0.1
#   client.pem, client.key  CN=fairpay-test-client, for mutual TLS
#
# EC P-256 keys, valid 30 days. Files already present are kept, so running it
# twice changes nothing; delete DIR to start over. Never use these in
# production: the CA key sits next to the certificates.
set -euo pipefail

die() {
	echo "gencerts.sh: $*" >&2
	exit 1
}

[ $# -eq 1 ] || { echo "usage: gencerts.sh DIR" >&2; exit 2; }
command -v openssl >/dev/null 2>&1 || die "openssl not found (make deps)"
dir=$1
mkdir -p "$dir"
umask 077
days=30

newkey() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null ||
		die "could not generate $1"
}

# sign NAME SUBJECT EXTENSIONS: NAME.key and NAME.pem signed by the CA.
sign() {
	local name=$1 subj=$2 ext=$3 tmp
	tmp=$(mktemp -d)
	newkey "$tmp/$name.key"
	openssl req -new -key "$tmp/$name.key" -subj "$subj" -out "$tmp/$name.csr" 2>/dev/null ||
		die "could not make the $name request"
	printf '%s\n' "$ext" >"$tmp/ext.cnf"
	openssl x509 -req -in "$tmp/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
		-CAcreateserial -CAserial "$tmp/ca.srl" -days "$days" -sha256 \
		-extfile "$tmp/ext.cnf" -out "$tmp/$name.pem" 2>/dev/null ||
		die "could not sign the $name certificate"
	# Key first, certificate last: a file set is complete once the .pem exists.
	mv "$tmp/$name.key" "$dir/$name.key"
	mv "$tmp/$name.pem" "$dir/$name.pem"
	rm -rf "$tmp"
}

if [ ! -s "$dir/ca.pem" ] || [ ! -s "$dir/ca.key" ]; then
	newkey "$dir/ca.key"
	openssl req -new -x509 -key "$dir/ca.key" -subj "/CN=fairpay test CA" -days "$days" \
		-sha256 -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" -out "$dir/ca.pem" 2>/dev/null ||
		die "could not make the CA certificate"
	# A new CA invalidates whatever it did not sign.
	rm -f "$dir/server.pem" "$dir/server.key" "$dir/client.pem" "$dir/client.key"
fi

if [ ! -s "$dir/server.pem" ] || [ ! -s "$dir/server.key" ]; then
	sign server "/CN=localhost" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1"
fi

if [ ! -s "$dir/client.pem" ] || [ ! -s "$dir/client.key" ]; then
	sign client "/CN=fairpay-test-client" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
fi

# Certificates are public; keys stay private to the owner.
chmod 644 "$dir/ca.pem" "$dir/server.pem" "$dir/client.pem"
chmod 600 "$dir/ca.key" "$dir/server.key" "$dir/client.key"
