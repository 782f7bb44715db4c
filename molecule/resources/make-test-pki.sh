#!/usr/bin/env bash
# A throwaway test PKI on the controller for the security scenario (and the
# demo, should it want TLS):
#
#   make-test-pki.sh DIR NAME[=ADDRESS] ...
#
# DIR/ca.pem and, for each NAME, DIR/NAME.pem (certificate and key, for
# DNS:NAME, DNS:localhost, IP:127.0.0.1 and IP:ADDRESS; "controller" gets a
# client certificate). The recipe is tests/mongosim/testing.py's
# make_test_pki, the same one the pytest TLS fixtures use; it needs only
# python3's standard library and openssl. Nothing here is a real secret: the
# directory is the scenario's ephemeral one and is deleted with it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PYTHONPATH="$here/../../tests${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m mongosim.testing pki "$@"
