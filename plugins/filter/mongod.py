# -*- coding: utf-8 -*-
# Copyright: quorum.mongodb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters the mongod role uses to build and check mongod.conf and the keyFile.

* ``mongod_conf`` merges the role's settings with the user's free-form
  ``mongod_config_extra`` and drops every unset (``None``) value and every
  section left empty, so ``to_nice_yaml`` of the result is exactly the file.
  A ``None`` in the extra dict removes a key the role would otherwise write.
* ``mongod_conf_problems`` lists the options in a rendered configuration that
  the chosen MongoDB release refuses at start-up (removed options, keys that
  are not allowed in a config file, contradictory settings), so the role fails
  in preflight instead of leaving a member that cannot start.
* ``mongod_keyfile_problems`` applies mongod's keyFile content rules.
* ``mongod_conf_restart_digest`` fingerprints a rendered configuration
  without the settings the role applies to a running mongod instead
  (``RUNTIME_SETTINGS``), so that a change of only those needs no restart.
* ``mongod_tls_stage`` plans a change of ``net.tls.mode`` on a running set:
  the mode each pass writes, the modes set at run time, and the members a
  lower mode restarts.
* ``mongod_tls_problems`` checks a member's TLS files on the controller
  before they are written: the key belongs to the certificate, the certificate
  is valid now, it was issued by a CA of the CA file, and it names the member.
* ``mongod_unit_properties`` and ``mongod_files_changed_since`` read
  ``systemctl show`` and ``stat`` output to find files that changed after the
  running mongod started, i.e. members that run an outdated configuration.
"""

from __future__ import annotations

import calendar
import datetime
import hashlib
import ipaddress
import json
import re
import time

import yaml
from ansible.errors import AnsibleFilterError

# net.tls.mode in the order a running set goes up (tests/mongosim/SEMANTICS.md section 9.4), as the member module
# knows them. Not from mongodb_member: that imports pymongo, and every worker that uses a filter of this collection
# imports this file.
from ansible_collections.quorum.mongodb.plugins.module_utils.tls_modes import TLS_MODES

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtensionOID
except ImportError:  # pragma: no cover - cryptography comes with ansible-core
    x509 = None

# (dotted key, first release series that refuses it, why / what instead).
# Sources: MongoDB's configuration-file option mapping and its changelog; see
# tests/mongosim/SEMANTICS.md section 10 (options releases removed).
REMOVED_OPTIONS = (
    ("storage.mmapv1", (4, 2), "MMAPv1 was removed in 4.2"),
    ("storage.repairPath", (4, 2), "removed in 4.2"),
    ("replication.secondaryIndexPrefetch", (4, 2), "removed with MMAPv1 in 4.2"),
    ("storage.indexBuildRetry", (4, 4), "removed in 4.4"),
    ("net.serviceExecutor", (5, 0), "removed in 5.0"),
    ("storage.journal.enabled", (6, 1), "journaling is always on since 6.1; remove the key"),
)
# Keys mongod never accepts in a config file, whatever the release.
FORBIDDEN_IN_FILE = (
    ("security.enableLocalhostAuthBypass", "set it under setParameter instead"),
    ("security.authSchemaVersion", "it cannot be set in a config file"),
)
# Settings of mongod.conf that the role applies to a running mongod, so that changing only them needs no
# restart (tests/mongosim/SEMANTICS.md section 11.1): the oplog's size is resized with replSetResizeOplog
# and is read from the file only when the oplog is created; the minimum retention is sent with it.
RUNTIME_SETTINGS = (
    "replication.oplogSizeMB",
    "storage.oplogMinRetentionHours",
)
# Set at run time as mongod_tls_stage plans it (setParameter tlsMode), when mongod allows the move.
TLS_MODE_SETTING = "net.tls.mode"
BASE64_KEY = re.compile(r"^[A-Za-z0-9+/=]*$")
KEY_WHITESPACE = re.compile(r"[\t\n\v\f\r ]")


def _merge(base, extra):
    if not isinstance(extra, dict):
        raise AnsibleFilterError("mongod_conf: mongod_config_extra must be a dictionary, got %s" % type(extra).__name__)
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _prune(value):
    if isinstance(value, dict):
        pruned = {}
        for key, raw in value.items():
            item = _prune(raw)
            if item is None or (isinstance(item, dict) and not item):
                continue
            pruned[key] = item
        return pruned
    if isinstance(value, (list, tuple)):
        return [_prune(item) for item in value]
    return value


def mongod_conf(settings, extra=None):
    """Settings merged with the free-form extra dict, unset values and empty sections dropped."""
    if not isinstance(settings, dict):
        raise AnsibleFilterError("mongod_conf: expected a dictionary of settings, got %s" % type(settings).__name__)
    return _prune(_merge(settings, extra if extra is not None else {}))


def _series(version):
    match = re.match(r"^\s*(\d+)\.(\d+)", str(version))
    if not match:
        raise AnsibleFilterError("mongod_conf_problems: cannot read a MongoDB release series from %r "
                                 "(expected X.Y such as 8.0)" % (version,))
    return int(match.group(1)), int(match.group(2))


def _lookup(conf, dotted):
    node = conf
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def mongod_conf_problems(conf, version, variable="mongod_config_extra"):
    """Options in ``conf`` that mongod ``version`` refuses to start with, as messages."""
    series = _series(version)
    problems = []
    for dotted, since, why in REMOVED_OPTIONS:
        present, _value = _lookup(conf, dotted)
        if present and series >= since:
            problems.append("%s is not accepted by MongoDB %d.%d (%s): remove it from %s"
                            % (dotted, series[0], series[1], why, variable))
    for dotted, why in FORBIDDEN_IN_FILE:
        if _lookup(conf, dotted)[0]:
            problems.append("%s is refused in mongod.conf (%s): remove it from %s" % (dotted, why, variable))
    present, value = _lookup(conf, "replication.enableMajorityReadConcern")
    if present and value is not True and series >= (5, 0):
        problems.append("replication.enableMajorityReadConcern can only be true since MongoDB 5.0: remove it from %s"
                        % variable)
    if _lookup(conf, "net.bindIp")[0] and _lookup(conf, "net.bindIpAll")[1] is True:
        problems.append("net.bindIp and net.bindIpAll are both set: use mongod_bind_ip, or mongod_bind_ip_all: true, "
                        "not both")
    present, value = _lookup(conf, "processManagement.fork")
    if present and value is True:
        problems.append("processManagement.fork: true would make mongod leave the foreground and systemd would "
                        "see the service exit: remove it from %s" % variable)
    present, value = _lookup(conf, "replication.oplogSizeMB")
    if present and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
        problems.append("replication.oplogSizeMB must be a number greater than 0 (mongod_oplog_size_mb), got %r"
                        % (value,))
    return problems


def mongod_keyfile_problems(content, variable="mongod_keyfile_content"):
    """mongod's keyFile rules for ``content`` (one key, or a list of keys during a rotation)."""
    if content is None or (isinstance(content, str) and not content.strip()):
        return ["%s is empty: give a key of 6 to 1024 base64 characters (for example the output of "
                "'openssl rand -base64 756')" % variable]
    keys = content if isinstance(content, (list, tuple)) else [content]
    if not keys:
        return ["%s is an empty list: give at least one key" % variable]
    problems = []
    if len(keys) > 2:
        problems.append("%s holds %d keys; mongod refuses a keyFile with more than two (the key the members run "
                        "with and the new one, during a rotation; the role stages a rotation by itself, so one "
                        "key is enough)" % (variable, len(keys)))
    for index, key in enumerate(keys):
        where = variable if len(keys) == 1 and not isinstance(content, (list, tuple)) else "%s[%d]" % (variable, index)
        if not isinstance(key, str):
            problems.append("%s must be a string" % where)
            continue
        stripped = KEY_WHITESPACE.sub("", key)
        if not BASE64_KEY.match(stripped):
            problems.append("%s has characters outside the base64 alphabet (A-Z a-z 0-9 + / =); mongod refuses "
                            "such a key" % where)
        if not 6 <= len(stripped) <= 1024:
            problems.append("%s is %d characters long without whitespace; mongod needs 6 to 1024"
                            % (where, len(stripped)))
    return problems


def mongod_keyfile_keys(text):
    """The keys of a keyFile's ``text`` as mongod reads them: a YAML list of keys, or one key; whitespace dropped."""
    if text is None:
        return []
    text = str(text)
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        parsed = text
    raw = [str(key) for key in parsed] if isinstance(parsed, list) else [text]
    return [key for key in (KEY_WHITESPACE.sub("", item) for item in raw) if key]


def mongod_keyfile_stage(running, target):
    """The keyFile every member gets in this pass of a run, so that members never fail to authenticate each other.

    ``running`` maps each member to the text of the keyFile its mongod runs with (None: it runs without one, or
    nothing is known to run); ``target`` is the keyFile text asked for. mongod's rule (tests/mongosim/SEMANTICS.md
    section 9.1, from db/auth/security_key.cpp and client/authenticate.cpp): a file holds one or two keys; a
    member accepts a peer's login with either of its keys and, as a client, logs in with its first key and, when
    the peer refuses it, with its second. So two members authenticate each other exactly when their files share
    a key, in whatever order, and a rolling restart from one file to another is safe exactly when every file a
    member runs with during it shares a key with the new one (members not yet restarted already share keys).

    - Every running file shares a key with ``target`` (or nothing runs with a key: a new set): ``target`` now,
      ``stage: final``, one rolling restart for the members that run another file.
    - Otherwise ``stage: both``: the key all running files share (the first such key of the first member's
      file), then the first key of ``target``: ``[old, new]``. It shares ``old`` with every running member and
      ``new`` with ``target``, so after this roll a second one to ``target`` is safe. Two stages suffice because
      a member falls back to its second key; a third stage ([new, old] between them, so that no login is ever
      refused) would cost a rolling restart to save the refused first logins of members that still send the old
      key to members that hold only the new one. The old key goes first so that members in stage 1 send the key
      that every member not yet restarted holds.
    - No key is shared by all running files: ``problem`` says so (members that share no key cannot
      authenticate each other now; the role changes nothing).

    Returns ``{stage, keys, problem}``; ``keys`` (the staged file's keys, secrets) only for ``both``. Never puts a
    key in ``problem``.
    """
    wanted = mongod_keyfile_keys(target)
    files = dict((host, mongod_keyfile_keys(text)) for host, text in sorted((running or {}).items()))
    files = dict((host, keys) for host, keys in files.items() if keys)
    if all(set(keys) & set(wanted) for keys in files.values()):
        rotating = any(keys != wanted for keys in files.values())
        return {"stage": "final" if rotating else "none", "keys": None, "problem": None}
    first_host = sorted(files)[0]
    common = [key for key in files[first_host] if all(key in keys for keys in files.values())]
    if not common:
        return {"stage": "none", "keys": None,
                "problem": "the members run with keyFiles that share no key (%s), so some of them cannot "
                           "authenticate each other now; the role changes no keyFile. Give every member the "
                           "same keyFile by hand, restart them, then run again"
                           % ", ".join("%s: %d key(s)" % (host, len(keys)) for host, keys in files.items())}
    return {"stage": "both", "keys": [common[0], wanted[0]], "problem": None}


def _tls_rank(mode):
    return TLS_MODES.index(mode)


def mongod_tls_stage(live, target, restart_only=None):
    """How a running set reaches the TLS mode ``target`` without two members ever unable to talk.

    ``live`` maps each member to the tlsMode its running mongod uses (None: not running, or not known). What a
    pair of members needs (SEMANTICS.md section 9.4): a member sends TLS to the others in preferTLS and
    requireTLS, plain in allowTLS; it accepts both in allowTLS and preferTLS, TLS only in requireTLS, plain only
    in disabled. So members one mode apart always talk, and allowTLS with requireTLS, or disabled with
    preferTLS or above, do not.

    - Up from disabled: every member is restarted into allowTLS (the TLS files with it), ``conf_mode``
      allowTLS, and once all run it the modes above are set at run time (``raise``, ``raise_when: after``),
      then the final mode is written to mongod.conf (no restart: the mode is set at run time and the restart
      digest leaves it out).
    - Up from allowTLS or preferTLS: ``conf_mode`` is ``target``, and every member below it is raised at run
      time first (``raise_when: before``), one mode at a time on all members before the next, so that a
      restart this run needs for another reason starts members into the mode the others already run.
    - Down: a running mongod never lowers its mode, so each member above ``target`` is restarted into it
      (``restart``); safe when they all run ``target`` or the mode just above it. Further down is refused
      (``problem``): one mode per run.

    ``restart_only`` names members whose mode cannot be set at run time: arbiters, which hold no users, so no
    client may run setParameter there. With one of them running, a change is one mode per run, each member
    restarted into it (safe for members one mode apart); more is refused, naming the next mode.

    Returns ``{conf_mode, raise, raise_when, restart, problem}``: ``raise`` the modes to set at run time in
    order, ``restart`` the members to restart because they run another mode than the one a restart gives.
    """
    if target not in TLS_MODES:
        raise AnsibleFilterError("mongod_tls_stage: %r is not a TLS mode (%s)" % (target, ", ".join(TLS_MODES)))
    known = dict((host, mode) for host, mode in sorted((live or {}).items()) if mode)
    for host, mode in known.items():
        if mode not in TLS_MODES:
            raise AnsibleFilterError("mongod_tls_stage: %s runs %r, not a TLS mode" % (host, mode))
    plan = {"conf_mode": target, "raise": [], "raise_when": "none", "restart": [], "problem": None}
    if not known:
        return plan
    ranks = [_tls_rank(mode) for mode in known.values()]
    low, high, want = min(ranks), max(ranks), _tls_rank(target)

    def hosts_in(rank):
        return [host for host, mode in known.items() if _tls_rank(mode) == rank]

    if want >= high:
        if low == 0 and want > 0:
            if high > _tls_rank("preferTLS"):
                plan["problem"] = (
                    "%s run tlsMode disabled and %s requireTLS, so they cannot reach each other now, and a "
                    "member restarted into allowTLS could not reach %s either; set the members that run "
                    "requireTLS to preferTLS by hand (a restart with net.tls.mode preferTLS), then run again"
                    % (", ".join(hosts_in(0)), ", ".join(hosts_in(high)), ", ".join(hosts_in(high))))
                return plan
            plan["conf_mode"] = "allowTLS"
            plan["raise"] = list(TLS_MODES[2:want + 1])
            plan["raise_when"] = "after" if plan["raise"] else "none"
        else:
            plan["raise"] = list(TLS_MODES[max(low, 1) + 1:want + 1]) if low < want else []
            plan["raise_when"] = "before" if plan["raise"] else "none"
        arbiters = sorted(set(restart_only or ()) & set(known))
        if plan["raise"] and arbiters:
            if low >= want - 1:
                plan.update(conf_mode=target, raise_when="none", problem=None,
                            restart=[host for host in known if _tls_rank(known[host]) < want])
                plan["raise"] = []
            else:
                plan["raise"], plan["raise_when"] = [], "none"
                plan["problem"] = (
                    "%s: an arbiter holds no users, so no client may set its tlsMode at run time, and a set "
                    "with one goes up one mode per run, each member restarted into it. Set mongod_tls_mode to "
                    "%s and run site.yml, then go on to %s"
                    % (", ".join(arbiters), TLS_MODES[low + 1], target))
        return plan
    if low >= want and high == want + 1:
        plan["restart"] = hosts_in(high)
        return plan
    step = TLS_MODES[high - 1]
    plan["problem"] = (
        "mongod_tls_mode is %s, and %s run %s: a running mongod only raises its tlsMode, so going down is "
        "one rolling restart per mode, and members two modes apart cannot reach each other. Set "
        "mongod_tls_mode to %s and run site.yml, then go on to %s"
        % (target, ", ".join(hosts_in(high)), TLS_MODES[high], step, target))
    return plan


def mongod_unit_properties(text):
    """``systemctl show`` output (``Key=Value`` lines) as a dictionary."""
    properties = {}
    for line in str(text).splitlines():
        key, sep, value = line.partition("=")
        if sep and key:
            properties[key.strip()] = value
    return properties


def _systemd_utc_seconds(timestamp):
    """Seconds since the epoch of a ``systemctl show`` timestamp printed with TZ=UTC."""
    match = re.match(r"^(?:[A-Za-z]{3} )?(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) UTC$", str(timestamp).strip())
    if not match:
        return None
    return calendar.timegm(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S"))


def mongod_files_changed_since(ctimes, started):
    """Paths whose change time is later than the start of the running mongod.

    ``ctimes`` maps each path to its change time in whole seconds (None for a
    path that does not exist), as ``quorum.mongodb.host_info`` returns them;
    ``started`` is the service's ``ExecMainStartTimestamp`` as ``systemctl
    show`` prints it with ``TZ=UTC``. Only files changed in a later second
    count, so a file written in the very second mongod started is not reported
    (the role's own writes are tracked separately). An unreadable timestamp
    reports nothing rather than guessing.
    """
    start = _systemd_utc_seconds(started)
    if start is None:
        return []
    return [path for path, seconds in (ctimes or {}).items()
            if isinstance(seconds, int) and not isinstance(seconds, bool) and seconds > start]


def _without(conf, dotted):
    """A copy of ``conf`` without the nested key ``dotted`` (sections left empty are dropped)."""
    head, _sep, rest = dotted.partition(".")
    if not isinstance(conf, dict) or head not in conf:
        return conf
    out = dict(conf)
    if rest:
        inner = _without(conf[head], rest)
        if isinstance(inner, dict) and not inner:
            del out[head]
        else:
            out[head] = inner
    else:
        del out[head]
    return out


def mongod_conf_restart_digest(conf, tls_mode_at_runtime=True):
    """sha256 of ``conf`` (a rendered mongod.conf, as a dict) without RUNTIME_SETTINGS: equal digests mean
    a mongod started with one file runs as the other asks, once the runtime settings are applied.

    ``net.tls.mode`` counts among them (mongod_tls_stage decides when it is set at run time, and when a mode
    above the asked one means a restart) unless ``tls_mode_at_runtime`` is false: the digest the role recorded
    before it set the mode at run time, still accepted from a record it wrote then."""
    if not isinstance(conf, dict):
        raise AnsibleFilterError("mongod_conf_restart_digest: expected the configuration as a dictionary, got %s"
                                 % type(conf).__name__)
    for dotted in RUNTIME_SETTINGS + ((TLS_MODE_SETTING,) if tls_mode_at_runtime else ()):
        conf = _without(conf, dotted)
    return hashlib.sha256(json.dumps(conf, sort_keys=True, default=str).encode("utf-8")).hexdigest()


_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
_PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----", re.S)


def _public_bytes(key):
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _validity(cert):
    """(notBefore, notAfter) as aware UTC datetimes, whatever the cryptography release."""
    if hasattr(cert, "not_valid_before_utc"):
        return cert.not_valid_before_utc, cert.not_valid_after_utc
    return (cert.not_valid_before.replace(tzinfo=datetime.timezone.utc),
            cert.not_valid_after.replace(tzinfo=datetime.timezone.utc))


def _names_of(cert):
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return [], []
    return ([name.lower() for name in san.get_values_for_type(x509.DNSName)],
            [str(address) for address in san.get_values_for_type(x509.IPAddress)])


def _name_matches(name, dns_names, ip_names):
    try:
        return str(ipaddress.ip_address(name)) in ip_names
    except ValueError:
        pass
    name = name.lower().rstrip(".")
    for pattern in dns_names:
        if pattern == name:
            return True
        if pattern.startswith("*.") and "." in name and name.split(".", 1)[1] == pattern[2:]:
            return True
    return False


def mongod_tls_problems(files, member, names=(), password=None, now=None):
    """What is wrong with a member's TLS files, as sentences naming the member and the variable; [] if nothing.

    ``files`` maps the variable to a controller path: ``certificate_key`` (mongod_tls_certificate_key_file_src,
    certificate and private key), ``ca`` (mongod_tls_ca_file_src, one or more CA certificates) and, when set,
    ``cluster`` (mongod_tls_cluster_file_src). Each certificate-key file must hold a private key that belongs to
    its first certificate, be valid at ``now`` (a datetime, UTC; default the current time), and be issued by a
    CA of the CA file (the signature checked). The member's certificate must name every entry of ``names``
    (DNS or IP subject alternative names, wildcards one level deep). mongod refuses, or clients reject, a
    member whose files break any of these (tests/mongosim/SEMANTICS.md sections 9.4 and 9.5).
    """
    if x509 is None:
        raise AnsibleFilterError("mongod_tls_problems needs the cryptography package on the controller")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    problems = []
    labels = {"certificate_key": "mongod_tls_certificate_key_file_src", "ca": "mongod_tls_ca_file_src",
              "cluster": "mongod_tls_cluster_file_src"}

    def say(kind, text):
        problems.append("%s: %s (%s) %s" % (member, labels[kind], files.get(kind), text))

    def read(kind):
        try:
            with open(files[kind], "r", encoding="ascii", errors="replace") as handle:
                return handle.read()
        except OSError as exc:
            say(kind, "cannot be read: %s" % exc.strerror)
            return None

    cas = []
    text = read("ca")
    if text is not None:
        for block in _PEM_CERT.findall(text):
            try:
                cas.append(x509.load_pem_x509_certificate(block.encode("ascii")))
            except ValueError:
                say("ca", "holds a certificate that cannot be parsed")
        if not cas and not problems:
            say("ca", "holds no CA certificate")
    for kind in ("certificate_key", "cluster"):
        if not files.get(kind):
            continue
        text = read(kind)
        if text is None:
            continue
        blocks, keys = _PEM_CERT.findall(text), _PEM_KEY.findall(text)
        if not blocks or not keys:
            say(kind, "must hold the member's certificate and its private key (PEM)")
            continue
        try:
            cert = x509.load_pem_x509_certificate(blocks[0].encode("ascii"))
            key = serialization.load_pem_private_key(keys[0].encode("ascii"),
                                                     password=password.encode("utf-8") if password else None)
        except (ValueError, TypeError) as exc:
            say(kind, "cannot be read as a certificate and a private key: %s" % exc)
            continue
        if _public_bytes(key.public_key()) != _public_bytes(cert.public_key()):
            say(kind, "holds a private key that does not belong to its certificate")
        start, end = _validity(cert)
        if not start <= now <= end:
            say(kind, "holds a certificate valid from %s to %s, not now (%s)"
                % (start.isoformat(), end.isoformat(), now.replace(microsecond=0).isoformat()))
        if cas and not _issued_by_one_of(cert, cas):
            say(kind, "holds a certificate issued by %s, which no CA of mongod_tls_ca_file_src (%s) signed"
                % (cert.issuer.rfc4514_string(), files.get("ca")))
        if kind == "certificate_key":
            dns_names, ip_names = _names_of(cert)
            missing = [name for name in names if not _name_matches(str(name), dns_names, ip_names)]
            if missing:
                say(kind, "holds a certificate that does not name %s (its names: %s)"
                    % (", ".join(missing), ", ".join(dns_names + ip_names) or "none"))
    return problems


def _load_certificates(blocks):
    """The certificates of PEM blocks that parse (the others are mongod_tls_problems' to report)."""
    found = []
    for block in blocks or []:
        try:
            found.append(x509.load_pem_x509_certificate(block.encode("ascii")))
        except ValueError:
            continue
    return found


def _issued_by_one_of(cert, cas):
    for ca in cas:
        if ca.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(ca)
            return True
        except Exception:  # noqa: BLE001 - any failure (bad signature, other key type) means not this CA
            continue
    return False


def _tls_side(files):
    """(server certificate, client certificate, CA certificates) of one member's TLS files, each file a list of
    PEM blocks; None when the member has no certificate (it runs without TLS files, or gets none)."""
    server = _load_certificates(files.get("certificate_key"))
    if not server:
        return None
    cluster = _load_certificates(files.get("cluster"))
    return server[0], (cluster or server)[0], _load_certificates(files.get("ca"))


def _pem_blocks(path, what):
    """The certificate blocks of the controller's file ``path`` (``what`` names it in an error)."""
    try:
        with open(path, "r", encoding="ascii", errors="replace") as handle:
            blocks = _PEM_CERT.findall(handle.read())
    except OSError as exc:
        raise AnsibleFilterError("%s %s cannot be read: %s" % (what, path, exc.strerror or exc)) from exc
    if not blocks:
        raise AnsibleFilterError("%s %s holds no PEM certificate (-----BEGIN CERTIFICATE-----)" % (what, path))
    return blocks


def mongod_tls_rotation_problems(members):
    """Why the TLS files this run installs cannot be rotated in, one member at a time; [] when they can.

    ``members``: one dict per member of the set: ``member`` (its name), ``running`` (the certificates of the
    files on the host now, host_info's RV certificates: ``certificate_key``, ``ca`` and ``cluster``, each a list
    of PEM blocks, or null) and ``new`` (the controller's files this run installs, the same keys as paths; a
    key left out or empty keeps the running file).

    The members take their new files one after the other (rotate_certificates.yml), so for a while some run the
    new files and others the old. Members keep reaching each other only if, in every mix, the certificate each
    presents (the server certificate, and as a client its cluster file's, else the same) is issued by a CA of
    the file the other runs with. A new CA and certificates issued by it in one run break that: the members
    not yet rotated refuse the rotated ones (tests/mongosim/SEMANTICS.md section 9.5). Members without
    certificates now (a new set, TLS not yet on) are not constrained.
    """
    if x509 is None:
        raise AnsibleFilterError("mongod_tls_rotation_problems needs the cryptography package on the controller")
    sides = []
    for m in members:
        running = m.get("running") or {}
        new = dict(running)
        for kind, path in (m.get("new") or {}).items():
            if path:
                new[kind] = _pem_blocks(path, "%s's new %s file" % (m["member"], kind))
        old_side, new_side = _tls_side(running), _tls_side(new)
        if old_side is None:
            continue
        states = [("current", old_side)]
        if new_side is not None and new_side != old_side:
            states.append(("new", new_side))
        sides.append((m["member"], states))
    problems = []
    for name, states in sides:
        for other, other_states in sides:
            if other == name:
                continue
            for label, (server, client, _cas) in states:
                for other_label, (_s, _c, other_cas) in other_states:
                    if label == other_label == "current":
                        continue
                    for role, cert in (("certificate", server), ("client certificate", client)):
                        if not _issued_by_one_of(cert, other_cas):
                            problems.append(
                                "%s's %s %s is issued by %s, which %s's %s CA file does not hold"
                                % (name, label, role, cert.issuer.rfc4514_string(), other, other_label))
    problems = sorted(set(problems))
    if problems:
        problems.append(
            "the members take their new TLS files one at a time, so for a while each must accept the others' old "
            "and new certificates. Change the CA in stages, one run each: first mongod_tls_ca_file_src holding the "
            "old and the new CA on every member, then the certificates issued by the new CA, then the new CA alone")
    return problems


class FilterModule:
    """mongod.conf and keyFile filters for the quorum.mongodb roles."""

    def filters(self):
        return {
            "mongod_conf": mongod_conf,
            "mongod_conf_restart_digest": mongod_conf_restart_digest,
            "mongod_tls_stage": mongod_tls_stage,
            "mongod_tls_rotation_problems": mongod_tls_rotation_problems,
            "mongod_conf_problems": mongod_conf_problems,
            "mongod_keyfile_problems": mongod_keyfile_problems,
            "mongod_keyfile_keys": mongod_keyfile_keys,
            "mongod_keyfile_stage": mongod_keyfile_stage,
            "mongod_tls_problems": mongod_tls_problems,
            "mongod_unit_properties": mongod_unit_properties,
            "mongod_files_changed_since": mongod_files_changed_since,
        }
