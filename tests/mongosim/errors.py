"""Server error codes and the exception that carries them to the client.

Codes and names are MongoDB's (src/mongo/base/error_codes.yml, as listed in
SEMANTICS.md section 1).
"""

CODE_NAMES = {
    1: "InternalError",
    2: "BadValue",
    4: "NoSuchKey",
    6: "HostUnreachable",
    7: "HostNotFound",
    9: "FailedToParse",
    11: "UserNotFound",
    13: "Unauthorized",
    14: "TypeMismatch",
    18: "AuthenticationFailed",
    20: "IllegalOperation",
    23: "AlreadyInitialized",
    26: "NamespaceNotFound",
    27: "IndexNotFound",
    31: "RoleNotFound",
    40: "ConflictingUpdateOperators",
    43: "CursorNotFound",
    48: "NamespaceExists",
    50: "MaxTimeMSExpired",
    51: "DuplicateKeyValue",
    52: "DollarPrefixedFieldName",
    59: "CommandNotFound",
    64: "WriteConcernFailed",
    66: "ImmutableField",
    67: "CannotCreateIndex",
    72: "InvalidOptions",
    73: "InvalidNamespace",
    74: "NodeNotFound",
    76: "NoReplicationEnabled",
    79: "UnknownReplWriteConcern",
    85: "IndexOptionsConflict",
    86: "IndexKeySpecsConflict",
    89: "NetworkTimeout",
    91: "ShutdownInProgress",
    93: "InvalidReplicaSetConfig",
    94: "NotYetInitialized",
    95: "NotSecondary",
    96: "OperationFailed",
    100: "UnsatisfiableWriteConcern",
    103: "NewReplicaSetConfigurationIncompatible",
    104: "NodeNotElectable",
    108: "InconsistentReplicaSetNames",
    109: "ConfigurationInProgress",
    110: "CannotInitializeNodeWithData",
    115: "CommandNotSupported",
    117: "ConflictingOperationInProgress",
    121: "DocumentValidationFailure",
    136: "CappedPositionLost",
    166: "CommandNotSupportedOnView",
    168: "InvalidPipelineOperator",
    189: "PrimarySteppedDown",
    262: "ExceededTimeLimit",
    286: "ChangeStreamHistoryLost",
    308: "CurrentConfigNotCommittedYet",
    9001: "SocketException",
    10107: "NotWritablePrimary",
    11000: "DuplicateKey",
    11600: "InterruptedAtShutdown",
    11601: "Interrupted",
    11602: "InterruptedDueToReplStateChange",
    13435: "NotPrimaryNoSecondaryOk",
    13436: "NotPrimaryOrSecondary",
    31368: "Location31368",
    31372: "Location31372",
    31373: "Location31373",
    31382: "Location31382",
    51764: "Location51764",
}

# Errors after which a retryable write may be retried (the server adds the
# RetryableWriteError label for them on 4.4+; drivers rely on it).
RETRYABLE_WRITE_CODES = frozenset(
    {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}
)

# "State change" errors: replies carry the server's topologyVersion so that
# drivers can tell a stale error from a fresh one.
STATE_CHANGE_CODES = frozenset({91, 189, 10107, 11600, 11602, 13435, 13436})


def code_name(code):
    return CODE_NAMES.get(code, "Location%d" % code)


class CommandError(Exception):
    """A command failure with a server error code.

    ``extra`` fields are appended to the error reply (e.g. ``writeErrors``).
    """

    def __init__(self, code, message, extra=None, code_name_override=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra or {}
        self.code_name = code_name_override or code_name(code)

    def to_reply(self):
        reply = {"ok": 0.0, "errmsg": self.message, "code": self.code, "codeName": self.code_name}
        reply.update(self.extra)
        return reply


class StartupError(Exception):
    """Start-up failure: the process prints the message and exits with ``exit_code``."""

    def __init__(self, message, exit_code=2, lines=None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.lines = lines or [message]
