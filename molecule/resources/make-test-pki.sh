#!/usr/bin/env bash
# A throwaway test PKI on the controller, made with openssl for the security
# scenario (and the demo, should it want TLS):
#
#   make-test-pki.sh DIR NAME[=ADDRESS] ...
#
# DIR/ca.pem (the CA certificate; its key stays in DIR/ca.key) and, for each
# NAME, DIR/NAME.pem: a certificate and its private key, signed by that CA,
# valid for 2 days, for server and client use (mongod presents it to clients
# and, as a client, to the other members and to itself over localhost). Its
# names: DNS:NAME, DNS:localhost, IP:127.0.0.1 and IP:ADDRESS when given. The
# name "controller" gets a client certificate of another organisation, for
# the controller's own connections. Files that exist are kept; everything is
# mode 0600. Nothing here is a real secret: the directory is the scenario's
# ephemeral one and is deleted with it.
set -euo pipefail
dir=$1
shift
umask 077
mkdir -p "$dir"
cd "$dir"

ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
if [[ ! -f ca.pem ]]; then
  openssl req -x509 "${ec[@]}" -days 2 -subj "/O=quorum.mongodb tests/CN=throwaway molecule CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.pem 2>/dev/null
fi
for spec in "$@"; do
  name=${spec%%=*}
  address=${spec#"$name"}
  address=${address#=}
  [[ -f $name.pem ]] && continue
  if [[ $name == controller ]]; then
    subject="/O=quorum.mongodb test clients/CN=$name"
    extensions="extendedKeyUsage=clientAuth"
  else
    subject="/O=quorum.mongodb tests/CN=$name"
    extensions="subjectAltName=DNS:$name,DNS:localhost,IP:127.0.0.1${address:+,IP:$address}
extendedKeyUsage=serverAuth,clientAuth"
  fi
  openssl req -new "${ec[@]}" -subj "$subject" -keyout "$name.key" -out "$name.csr" 2>/dev/null
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out "$name.crt" \
    -extfile <(printf '%s\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n' "$extensions") \
    2>/dev/null
  cat "$name.crt" "$name.key" > "$name.pem"
  rm -f "$name.csr" "$name.crt" "$name.key"
done
