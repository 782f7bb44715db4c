"""The feature compatibility version: its document, its states, its transitions.

Pure rules (no I/O), after mongod's ``FCVTransitions`` table
(src/mongo/db/feature_compatibility_version.cpp) and the manual's
setFeatureCompatibilityVersion page; SEMANTICS.md section 11.1 says which fact
comes from where.

The FCV lives in one document of ``admin.system.version``::

    {_id: "featureCompatibilityVersion", version: "7.0"}                        steady
    {_id: ..., version: "7.0", targetVersion: "8.0"}                           upgrading 7.0 -> 8.0
    {_id: ..., version: "7.0", targetVersion: "7.0", previousVersion: "8.0"}   downgrading 8.0 -> 7.0

A binary of series L knows its own series and the last LTS before it; a
document naming anything else cannot be parsed, and mongod refuses to start on
it (exit code 62).
"""

DOC_ID = "featureCompatibilityVersion"
NAMESPACE = ("admin", "system.version")

# The last LTS release before each series we simulate (multiversion::GenericFCV::kLastLTS).
LAST_LTS = {"6.0": "5.0", "7.0": "6.0", "8.0": "7.0"}

EXIT_NEED_DOWNGRADE = 62   # ExitCode::needDowngrade, mongod's "Wrong mongod version" exit


class FCVError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def steady(version):
    return {"_id": DOC_ID, "version": version}


def upgrading(from_version, to_version):
    return {"_id": DOC_ID, "version": from_version, "targetVersion": to_version}


def downgrading(from_version, to_version):
    return {"_id": DOC_ID, "version": to_version, "targetVersion": to_version, "previousVersion": from_version}


def known_documents(binary):
    """The FCV documents a binary of series ``binary`` can parse, by state name."""
    latest, lts = binary, LAST_LTS[binary]
    return {
        latest: steady(latest),
        lts: steady(lts),
        "upgrading from %s to %s" % (lts, latest): upgrading(lts, latest),
        "downgrading from %s to %s" % (latest, lts): downgrading(latest, lts),
    }


def _fields(doc):
    return {k: doc[k] for k in ("version", "targetVersion", "previousVersion") if k in doc}


def state_of(doc, binary):
    """Name of the state ``doc`` is in for a binary of series ``binary``; FCVError if unknown."""
    wanted = _fields(doc)
    for name, known in known_documents(binary).items():
        if _fields(known) == wanted:
            return name
    latest, lts = binary, LAST_LTS[binary]
    raise FCVError(4926900, "Invalid featureCompatibilityVersion document in admin.system.version: %s. See "
                   "https://docs.mongodb.com/master/release-notes/%s-compatibility/#feature-compatibility. :: caused "
                   "by :: Invalid feature compatibility version value '%s'; expected '%s' or '%s'. See "
                   "https://docs.mongodb.com/master/release-notes/%s-compatibility/#feature-compatibility."
                   % (_shell(doc), binary, doc.get("version"), lts, latest, binary))


def _shell(doc):
    return "{ " + ", ".join('%s: "%s"' % (k, v) for k, v in doc.items()) + " }"


def startup_problem(doc, binary):
    """The fatal start-up message for a dbPath whose FCV document ``doc`` this binary cannot use, or None."""
    if doc is None:
        return None
    try:
        state_of(doc, binary)
    except FCVError as exc:
        return ("UPGRADE PROBLEM: Found an invalid featureCompatibilityVersion document (ERROR: Location%d: %s). "
                "If the current featureCompatibilityVersion is below %s, see the documentation on upgrading at "
                "https://docs.mongodb.com/master/release-notes/%s/#upgrade-procedures."
                % (exc.code, exc.message, LAST_LTS[binary], binary))
    return None


def parameter(doc, binary):
    """What ``getParameter: {featureCompatibilityVersion: 1}`` reports.

    No document (an arbiter, which never replicates admin.system.version, or a
    member that has not synced yet): the binary's last LTS.
    """
    if doc is None:
        return {"version": LAST_LTS[binary]}
    return _fields(doc)


def is_transitional(doc):
    return doc is not None and "targetVersion" in doc


def accepts_older_binaries(doc, binary):
    """True while members of the previous release may still talk to us: the FCV is the last LTS, steady."""
    return doc is None or _fields(doc) == {"version": LAST_LTS[binary]}


def plan(doc, requested, binary):
    """The documents setFeatureCompatibilityVersion writes, in order, to go from ``doc`` to ``requested``.

    [] when already there (the command is idempotent); FCVError when the
    transition is not permitted.
    """
    latest, lts = binary, LAST_LTS[binary]
    if requested not in (latest, lts):
        raise FCVError(2, "Invalid feature compatibility version value '%s'; expected '%s' or '%s'. See "
                       "https://docs.mongodb.com/master/release-notes/%s-compatibility/#feature-compatibility."
                       % (requested, lts, latest, binary))
    current = state_of(doc, binary) if doc is not None else latest
    if current == requested:
        return []
    if current == lts and requested == latest:
        return [upgrading(lts, latest), steady(latest)]
    if current == latest and requested == lts:
        return [downgrading(latest, lts), steady(lts)]
    if current.startswith("upgrading") and requested == latest:
        return [steady(latest)]
    if current.startswith("downgrading") and requested == lts:
        return [steady(lts)]
    if current.startswith("downgrading") and requested == latest:
        return [upgrading(lts, latest), steady(latest)]
    raise FCVError(5147403, "cannot set featureCompatibilityVersion to '%s' while featureCompatibilityVersion is "
                   "'%s'" % (requested, current))
