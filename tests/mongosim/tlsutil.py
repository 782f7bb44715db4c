"""TLS for client and member connections (Python's ssl module), following
net.tls.* (SEMANTICS.md section 9.4)."""

import ssl
import time

from .errors import CommandError, StartupError


def server_context(opts):
    """The context used to accept TLS connections, or None when TLS is disabled."""
    if opts.tls_mode == "disabled":
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _disable_protocols(ctx, opts.tls_value("disabledProtocols"))
    cert = opts.tls_value("certificateKeyFile")
    try:
        ctx.load_cert_chain(cert, password=opts.tls_value("certificateKeyFilePassword"))
    except (OSError, ssl.SSLError) as exc:
        raise StartupError("Cannot read certificate file: %s %s" % (cert, exc), exit_code=1) from exc
    ca = opts.tls_value("CAFile")
    if ca:
        try:
            ctx.load_verify_locations(ca)
        except (OSError, ssl.SSLError) as exc:
            raise StartupError("Cannot read certificate authority file: %s %s" % (ca, exc), exit_code=1) from exc
        if opts.tls_value("allowInvalidCertificates"):
            ctx.verify_mode = ssl.CERT_NONE
        elif opts.tls_value("allowConnectionsWithoutCertificates"):
            ctx.verify_mode = ssl.CERT_OPTIONAL
        else:
            ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        # Without a CA file, client certificate validation is bypassed.
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def client_context(opts):
    """Context for connections to other members: TLS with preferTLS/requireTLS,
    plain with allowTLS or disabled."""
    if opts.tls_mode not in ("preferTLS", "requireTLS"):
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    cluster_file = opts.tls_value("clusterFile") or opts.tls_value("certificateKeyFile")
    password = opts.tls_value("clusterPassword") or opts.tls_value("certificateKeyFilePassword")
    ctx.load_cert_chain(cluster_file, password=password)
    ca = opts.tls_value("clusterCAFile") or opts.tls_value("CAFile")
    if ca and not opts.tls_value("allowInvalidCertificates"):
        ctx.load_verify_locations(ca)
        ctx.check_hostname = not opts.tls_value("allowInvalidHostnames")
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _disable_protocols(ctx, value):
    if not value:
        return
    names = {p.strip() for p in str(value).split(",")}
    if "TLS1_2" in names:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3


def _certificate_valid_now(path):
    """Whether the first certificate in ``path`` is within its validity period (notBefore..notAfter)."""
    try:
        decoded = ssl._ssl._test_decode_cert(path)  # noqa: SLF001 - CPython's own PEM reader
    except (OSError, ssl.SSLError, ValueError):
        return False
    now = time.time()
    return ssl.cert_time_to_seconds(decoded["notBefore"]) <= now <= ssl.cert_time_to_seconds(decoded["notAfter"])


def rotated_contexts(opts):
    """(server context, client context) read again from the files net.tls names, for rotateCertificates
    (SEMANTICS.md section 9.5). A file that cannot be used raises CommandError 140 (InvalidSSLConfiguration)
    and nothing is replaced."""
    try:
        server = server_context(opts)
    except StartupError as exc:
        message = ("Can not set up PEM key file." if "certificate authority" not in str(exc)
                   else "cannot read certificate authority file: %s" % opts.tls_value("CAFile"))
        raise CommandError(140, message) from exc
    try:
        client = client_context(opts)
    except (OSError, ssl.SSLError) as exc:
        raise CommandError(140, "Can not set up ssl clusterFile.") from exc
    for name in ("certificateKeyFile", "clusterFile"):
        path = opts.tls_value(name)
        if path and not _certificate_valid_now(path):
            raise CommandError(140, "The provided SSL certificate is expired or not yet valid.")
    return server, client
