#!/usr/bin/env bash
# gencerts.sh DIR: a throwaway certificate authority and certificates for the
# demo and the tests, made with the openssl command-line tool.
#
#   ca.pem, ca.key          the test CA (clients verify the server against it;
#                           a server given --client-ca ca.pem trusts its clients)
#   server.pem, server.key  CN=localhost, subjectAltName DNS:localhost, IP:127.0.0.1
#   client.pem, client.key  CN=fairpay-test-client, for mutual TLS
#   client2.pem, client2.key
#                           CN=fairpay-test-client-2, a second client
#   client-expired.pem, client-expired.key
#                           CN=fairpay-test-client-expired, signed by the CA
#                           but valid only in January 2020
#   other-ca.pem, other-ca.key
#                           a second CA that nothing trusts
#   client-other.pem, client-other.key
#                           CN=fairpay-test-client-other, signed by other-ca
#   server2.pem, server2.key
#                           like server.pem, with another key and serial (for
#                           the test of the server's certificate reload)
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

# sign NAME SUBJECT EXTENSIONS [ISSUER]: NAME.key and NAME.pem signed by the
# CA (or by ISSUER.pem and ISSUER.key).
sign() {
	local name=$1 subj=$2 ext=$3 issuer=${4:-ca} tmp
	tmp=$(mktemp -d)
	newkey "$tmp/$name.key"
	openssl req -new -key "$tmp/$name.key" -subj "$subj" -out "$tmp/$name.csr" 2>/dev/null ||
		die "could not make the $name request"
	printf '%s\n' "$ext" >"$tmp/ext.cnf"
	openssl x509 -req -in "$tmp/$name.csr" -CA "$dir/$issuer.pem" -CAkey "$dir/$issuer.key" \
		-CAcreateserial -CAserial "$tmp/ca.srl" -days "$days" -sha256 \
		-extfile "$tmp/ext.cnf" -out "$tmp/$name.pem" 2>/dev/null ||
		die "could not sign the $name certificate"
	# Key first, certificate last: a file set is complete once the .pem exists.
	mv "$tmp/$name.key" "$dir/$name.key"
	mv "$tmp/$name.pem" "$dir/$name.pem"
	rm -rf "$tmp"
}

# sign_expired NAME SUBJECT EXTENSIONS: like sign, but the certificate was
# valid only in January 2020 (openssl x509 -req cannot set past dates; the
# ca command can, with a throwaway database).
sign_expired() {
	local name=$1 subj=$2 ext=$3 tmp
	tmp=$(mktemp -d)
	newkey "$tmp/$name.key"
	openssl req -new -key "$tmp/$name.key" -subj "$subj" -out "$tmp/$name.csr" 2>/dev/null ||
		die "could not make the $name request"
	: >"$tmp/index.txt"
	echo 1000 >"$tmp/serial"
	cat >"$tmp/ca.cnf" <<EOF
[ca]
default_ca = expired
[expired]
database = $tmp/index.txt
new_certs_dir = $tmp
serial = $tmp/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
[ext]
$ext
EOF
	openssl ca -batch -notext -config "$tmp/ca.cnf" -cert "$dir/ca.pem" -keyfile "$dir/ca.key" \
		-startdate 20200101000000Z -enddate 20200131000000Z -extensions ext \
		-in "$tmp/$name.csr" -out "$tmp/$name.pem" >/dev/null 2>&1 ||
		die "could not sign the $name certificate"
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
	rm -f "$dir/server.pem" "$dir/server.key" "$dir/client.pem" "$dir/client.key" \
		"$dir/client2.pem" "$dir/client2.key" "$dir/client-expired.pem" \
		"$dir/client-expired.key" "$dir/server2.pem" "$dir/server2.key"
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

server_ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1"
client_ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"

if [ ! -s "$dir/client2.pem" ] || [ ! -s "$dir/client2.key" ]; then
	sign client2 "/CN=fairpay-test-client-2" "$client_ext"
fi

if [ ! -s "$dir/server2.pem" ] || [ ! -s "$dir/server2.key" ]; then
	sign server2 "/CN=localhost" "$server_ext"
fi

if [ ! -s "$dir/client-expired.pem" ] || [ ! -s "$dir/client-expired.key" ]; then
	sign_expired client-expired "/CN=fairpay-test-client-expired" "$client_ext"
fi

# A client certificate from a CA the server does not trust.
if [ ! -s "$dir/other-ca.pem" ] || [ ! -s "$dir/other-ca.key" ]; then
	newkey "$dir/other-ca.key"
	openssl req -new -x509 -key "$dir/other-ca.key" -subj "/CN=fairpay other CA" \
		-days "$days" -sha256 -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" -out "$dir/other-ca.pem" \
		2>/dev/null || die "could not make the other CA certificate"
	rm -f "$dir/client-other.pem" "$dir/client-other.key"
fi
if [ ! -s "$dir/client-other.pem" ] || [ ! -s "$dir/client-other.key" ]; then
	sign client-other "/CN=fairpay-test-client-other" "$client_ext" other-ca
fi

# Certificates are public; keys stay private to the owner.
chmod 644 "$dir/ca.pem" "$dir/server.pem" "$dir/client.pem" "$dir/client2.pem" \
	"$dir/server2.pem" "$dir/client-expired.pem" "$dir/other-ca.pem" "$dir/client-other.pem"
chmod 600 "$dir/ca.key" "$dir/server.key" "$dir/client.key" "$dir/client2.key" \
	"$dir/server2.key" "$dir/client-expired.key" "$dir/other-ca.key" "$dir/client-other.key"
