"""Document validation: a collection's ``validator`` (query operators and a
subset of ``$jsonSchema``), ``validationLevel`` and ``validationAction``.

Facts from the manual (core/schema-validation/, reference/operator/query/jsonSchema/,
reference/command/collMod/) and src db/catalog/collection_impl.cpp
(checkValidation, checkValidatorCanBeUsedOnNs), db/matcher/schema/json_schema_parser.cpp:

- a failing write is 121 DocumentValidationFailure "Document failed validation"
  with ``errInfo.failingDocumentId``; ``validationAction: "warn"`` writes the
  document and logs a warning instead;
- ``validationLevel``: ``strict`` (default, every insert and update), ``moderate``
  (updates of documents that already failed are not checked), ``off``;
- ``bypassDocumentValidation: true`` on the write skips it;
- no validators on the admin, local and config databases or on system.*
  collections (72 InvalidOptions);
- an unknown ``$jsonSchema`` keyword is 9 FailedToParse "Unknown $jsonSchema keyword: <k>".

mongosim implements the ``$jsonSchema`` keywords listed in SUPPORTED below; a
keyword mongod knows but mongosim does not is refused when the validator is set
(2 BadValue, saying so) rather than silently ignored.
"""

import re

from bson.int64 import Int64

from . import query as q
from .bsonutil import MISSING, bson_type_name
from .errors import CommandError

SUPPORTED = {"bsonType", "required", "properties", "enum", "minimum", "maximum", "exclusiveMinimum",
             "exclusiveMaximum", "minLength", "maxLength", "pattern", "additionalProperties", "minItems",
             "maxItems", "items", "title", "description", "type"}
KNOWN_TO_MONGOD = SUPPORTED | {"allOf", "anyOf", "oneOf", "not", "multipleOf", "minProperties", "maxProperties",
                               "patternProperties", "dependencies", "uniqueItems", "additionalItems",
                               "encrypt", "encryptMetadata"}
BSON_TYPES = {"double", "string", "object", "array", "binData", "undefined", "objectId", "bool", "date", "null",
              "regex", "dbPointer", "javascript", "symbol", "javascriptWithScope", "int", "timestamp", "long",
              "decimal", "minKey", "maxKey", "number"}
JSON_TYPES = {"object": {"object"}, "array": {"array"}, "number": {"int", "long", "double", "decimal"},
              "boolean": {"bool"}, "null": {"null"}, "string": {"string"}}
LEVELS = ("off", "strict", "moderate")
ACTIONS = ("error", "warn", "errorAndLog")


def check_validator_allowed(db, coll):
    if db in ("admin", "local", "config"):
        raise CommandError(72, "Document validators are not allowed on collections in the %s database" % db)
    if coll.startswith("system."):
        raise CommandError(72, "Document validators not allowed on system collection %s.%s" % (db, coll))


def check_options(level=None, action=None, command="collMod"):
    if level is not None and level not in LEVELS:
        raise CommandError(2, "Enumeration value '%s' for field '%s.validationLevel' is not a valid value."
                           % (level, command))
    if action is not None and action not in ACTIONS:
        raise CommandError(2, "Enumeration value '%s' for field '%s.validationAction' is not a valid value."
                           % (action, command))


def check_validator(validator):
    """Refuse, before anything is stored, a validator mongosim could not enforce."""
    if not isinstance(validator, dict):
        raise CommandError(14, "BSON field 'validator' is the wrong type, expected type 'object'")
    for key, value in validator.items():
        if key == "$jsonSchema":
            _check_schema(value)
        elif key in ("$where", "$near", "$nearSphere", "$text", "$geoNear"):
            raise CommandError(2, "%s is not allowed in collection validators" % key)
        elif key == "$expr":
            raise CommandError(2, "mongosim does not implement $expr in validators")
    rest = {k: v for k, v in validator.items() if k != "$jsonSchema"}
    q.matches({}, rest)  # raises mongod's errors for unknown operators


def _check_schema(schema):
    if not isinstance(schema, dict):
        raise CommandError(9, "$jsonSchema must be an object", code_name_override="FailedToParse")
    for key, value in schema.items():
        if key not in KNOWN_TO_MONGOD:
            raise CommandError(9, "Unknown $jsonSchema keyword: %s" % key)
        if key not in SUPPORTED:
            raise CommandError(2, "mongosim does not implement the $jsonSchema keyword '%s'" % key)
        if key == "bsonType":
            for name in value if isinstance(value, list) else [value]:
                if name not in BSON_TYPES:
                    raise CommandError(2, "Unknown type name alias: %s" % name)
        elif key == "type":
            for name in value if isinstance(value, list) else [value]:
                if name not in JSON_TYPES:
                    raise CommandError(2, "Unknown type name alias: %s" % name)
        elif key == "required":
            if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                raise CommandError(9, "$jsonSchema keyword 'required' must be a nonempty array of strings")
        elif key == "properties":
            if not isinstance(value, dict):
                raise CommandError(14, "$jsonSchema keyword 'properties' must be an object")
            for sub in value.values():
                _check_schema(sub)
        elif key == "items":
            for sub in value if isinstance(value, list) else [value]:
                _check_schema(sub)
        elif key == "additionalProperties" and isinstance(value, dict):
            _check_schema(value)


def _type_of(value):
    return bson_type_name(value)


def _schema_ok(value, schema):
    """Does ``value`` (MISSING for an absent field) satisfy ``schema``?"""
    if value is MISSING:
        return True  # only 'required' makes a field mandatory
    name = _type_of(value)
    if "bsonType" in schema:
        wanted = schema["bsonType"] if isinstance(schema["bsonType"], list) else [schema["bsonType"]]
        if not any(w == name or (w == "number" and name in ("int", "long", "double", "decimal")) for w in wanted):
            return False
    if "type" in schema:
        wanted = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(name in JSON_TYPES[w] for w in wanted):
            return False
    if "enum" in schema and not any(q.matches({"v": value}, {"v": {"$eq": e}}) and _type_of(e) == name
                                    or e == value for e in schema["enum"]):
        return False
    numeric = isinstance(value, (int, float, Int64)) and not isinstance(value, bool)
    if numeric:
        if "minimum" in schema and (value < schema["minimum"] or
                                    (schema.get("exclusiveMinimum") and value == schema["minimum"])):
            return False
        if "maximum" in schema and (value > schema["maximum"] or
                                    (schema.get("exclusiveMaximum") and value == schema["maximum"])):
            return False
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            return False
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return False
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return False
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            return False
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return False
        items = schema.get("items")
        if isinstance(items, dict) and not all(_schema_ok(v, items) for v in value):
            return False
        if isinstance(items, list) and not all(_schema_ok(v, s) for v, s in zip(value, items)):
            return False
    if isinstance(value, dict):
        for field in schema.get("required", []):
            if field not in value:
                return False
        props = schema.get("properties", {})
        for field, sub in props.items():
            if not _schema_ok(value.get(field, MISSING), sub):
                return False
        extra = schema.get("additionalProperties", True)
        if extra is not True:
            for field, sub_value in value.items():
                if field in props:
                    continue
                if extra is False:
                    return False
                if isinstance(extra, dict) and not _schema_ok(sub_value, extra):
                    return False
    return True


def passes(doc, validator):
    schema = validator.get("$jsonSchema")
    if schema is not None and not _schema_ok(doc, schema):
        return False
    rest = {k: v for k, v in validator.items() if k != "$jsonSchema"}
    return q.matches(doc, rest) if rest else True


def error_info(doc):
    # mongod adds details.schemaRulesNotSatisfied (per rule); mongosim does not.
    return {"failingDocumentId": doc.get("_id"), "details": {}}


def failure(doc):
    return CommandError(121, "Document failed validation", extra={"errInfo": error_info(doc)},
                        code_name_override="DocumentValidationFailure")


def check_write(ctx, coll, new, old=None, log=None):
    """Raise 121 if ``new`` may not be written to ``coll`` (``old``: the
    document an update replaces)."""
    if coll is None or ctx.body.get("bypassDocumentValidation"):
        return
    options = coll.options or {}
    validator = options.get("validator")
    if not validator:
        return
    level = options.get("validationLevel", "strict")
    if level == "off":
        return
    if level == "moderate" and old is not None and not passes(old, validator):
        return
    if passes(new, validator):
        return
    action = options.get("validationAction", "error")
    if action == "warn":
        if log is not None:
            log.warning("STORAGE", 20294, "Document would fail validation",
                        {"namespace": "%s.%s" % (ctx.db, coll.name), "document": {"_id": new.get("_id")}})
        return
    raise failure(new)
