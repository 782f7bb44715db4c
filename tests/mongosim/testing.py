"""Helpers the project's test suites share: polling for a condition and a throwaway PKI.

Standard library only (plus the ``openssl`` command), so the molecule scenarios
can run it on the controller too::

    python3 -m mongosim.testing pki DIR NAME[=ADDRESS] ...

``wait_for`` is the one polling loop of tests/mongosim/tests and
tests/integration (their conftests keep their own defaults and pass the
errors to retry on); ``make_test_pki`` is the one CA recipe of those suites'
TLS fixtures and of molecule/resources/make-test-pki.sh.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time


def wait_for(predicate, timeout, interval, what="condition", retry_on=()):
    """Poll ``predicate`` until it returns a truthy value and return that value.

    An exception of a class in ``retry_on`` counts as "not yet" (the last one is
    in the message); after ``timeout`` seconds an AssertionError fails the test.
    """
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except retry_on as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last error: %r)" % (timeout, what, last_error))


# Names get a client certificate of another organisation (no server names): the
# controller's own connections in the molecule scenarios.
CLIENT_ONLY_NAMES = ("controller",)
_EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(directory, *args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=directory)


def make_test_pki(directory, specs, organisation="quorum.mongodb tests",
                  client_organisation="quorum.mongodb test clients", ca_name="throwaway test CA"):
    """A throwaway CA in ``directory`` and, for each ``NAME[=ADDRESS]`` of ``specs``, ``NAME.pem``.

    ``ca.pem`` is the CA certificate (its key stays in ``ca.key``). Each
    ``NAME.pem`` holds a certificate and its private key, signed by that CA,
    valid for 2 days, for server and client use (a member presents it to clients
    and, as a client, to the other members and to itself over localhost), with
    the names DNS:NAME, DNS:localhost, IP:127.0.0.1 and IP:ADDRESS when given.
    A name in CLIENT_ONLY_NAMES gets a client certificate of
    ``client_organisation`` instead. Files that exist are kept; every file is mode 0600. Returns
    ``{"ca": path of ca.pem, NAME: path of NAME.pem, ...}``.
    """
    directory = os.fspath(directory)
    old_umask = os.umask(0o077)
    try:
        os.makedirs(directory, exist_ok=True)
        paths = {"ca": os.path.join(directory, "ca.pem")}
        if not os.path.exists(paths["ca"]):
            _openssl(directory, "req", "-x509", *_EC_KEY, "-days", "2",
                     "-subj", "/O=%s/CN=%s" % (organisation, ca_name), "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", "ca.key", "-out", "ca.pem")
        for spec in specs:
            name, _sep, address = spec.partition("=")
            paths[name] = os.path.join(directory, name + ".pem")
            if os.path.exists(paths[name]):
                continue
            if name in CLIENT_ONLY_NAMES:
                subject = "/O=%s/CN=%s" % (client_organisation, name)
                extensions = "extendedKeyUsage=clientAuth\n"
            else:
                subject = "/O=%s/CN=%s" % (organisation, name)
                extensions = ("subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1%s\n"
                              "extendedKeyUsage=serverAuth,clientAuth\n" % (name, ",IP:" + address if address else ""))
            extensions += "keyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n"
            with tempfile.TemporaryDirectory(dir=directory) as work:
                key, csr, crt, ext = (os.path.join(work, "cert." + suffix) for suffix in ("key", "csr", "crt", "cnf"))
                with open(ext, "w") as handle:
                    handle.write(extensions)
                _openssl(directory, "req", "-new", *_EC_KEY, "-subj", subject, "-keyout", key, "-out", csr)
                _openssl(directory, "x509", "-req", "-in", csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                         "-days", "2", "-out", crt, "-extfile", ext)
                with open(paths[name], "w") as pem, open(crt) as cert, open(key) as private:
                    pem.write(cert.read() + private.read())
        return paths
    finally:
        os.umask(old_umask)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m mongosim.testing", description=__doc__.split("\n", maxsplit=1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    pki = commands.add_parser("pki", help="make a throwaway CA and certificates (see make_test_pki)")
    pki.add_argument("directory")
    pki.add_argument("specs", nargs="+", metavar="NAME[=ADDRESS]")
    args = parser.parse_args(argv)
    try:
        make_test_pki(args.directory, args.specs, ca_name="throwaway molecule CA")
    except subprocess.CalledProcessError as exc:
        sys.stderr.write("openssl failed: %s\n%s" % (" ".join(exc.cmd), exc.stderr.decode(errors="replace")))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
