"""BSON value ordering, equality and document paths, as MongoDB compares them.

Comparison follows the server's canonical type order: MinKey < null <
numbers < strings < objects < arrays < binary < ObjectId < bool < date <
timestamp < regex < MaxKey. Numbers of different BSON types compare by value.
"""

import datetime
import re

import bson
from bson.binary import Binary
from bson.code import Code
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp

_RE_TYPE = type(re.compile(""))


def type_rank(value):
    if isinstance(value, MinKey):
        return 0
    if value is None:
        return 1
    if isinstance(value, bool):
        return 8
    if isinstance(value, (int, float, Decimal128)):
        return 2
    if isinstance(value, str):
        return 3
    if isinstance(value, dict):
        return 4
    if isinstance(value, (list, tuple)):
        return 5
    if isinstance(value, (bytes, Binary)):
        return 6
    if isinstance(value, ObjectId):
        return 7
    if isinstance(value, datetime.datetime):
        return 9
    if isinstance(value, Timestamp):
        return 10
    if isinstance(value, (Regex, _RE_TYPE)):
        return 11
    if isinstance(value, Code):
        return 12
    if isinstance(value, MaxKey):
        return 13
    return 14


def _num(value):
    if isinstance(value, Decimal128):
        return float(value.to_decimal())
    return value


def compare(a, b):
    """Return -1, 0 or 1 like the server's BSON comparison."""
    ra, rb = type_rank(a), type_rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra in (0, 1, 13):
        return 0
    if ra == 2:
        x, y = _num(a), _num(b)
        return (x > y) - (x < y)
    if ra == 4:
        ka, kb = list(a.items()), list(b.items())
        for (k1, v1), (k2, v2) in zip(ka, kb):
            t1, t2 = type_rank(v1), type_rank(v2)
            if t1 != t2:
                return -1 if t1 < t2 else 1
            if k1 != k2:
                return -1 if k1 < k2 else 1
            c = compare(v1, v2)
            if c:
                return c
        return (len(ka) > len(kb)) - (len(ka) < len(kb))
    if ra == 5:
        for v1, v2 in zip(a, b):
            c = compare(v1, v2)
            if c:
                return c
        return (len(a) > len(b)) - (len(a) < len(b))
    if ra == 6:
        x, y = bytes(a), bytes(b)
        if len(x) != len(y):
            return -1 if len(x) < len(y) else 1
        sa, sb = getattr(a, "subtype", 0), getattr(b, "subtype", 0)
        if sa != sb:
            return -1 if sa < sb else 1
        return (x > y) - (x < y)
    if ra == 7:
        x, y = a.binary, b.binary
        return (x > y) - (x < y)
    if ra == 10:
        x, y = (a.time, a.inc), (b.time, b.inc)
        return (x > y) - (x < y)
    if ra == 11:
        x, y = _regex_parts(a), _regex_parts(b)
        return (x > y) - (x < y)
    try:
        return (a > b) - (a < b)
    except TypeError:
        x, y = repr(a), repr(b)
        return (x > y) - (x < y)


def _regex_parts(value):
    if isinstance(value, Regex):
        return (value.pattern, str(value.flags))
    return (value.pattern, str(value.flags))


def equal(a, b):
    return type_rank(a) == type_rank(b) and compare(a, b) == 0


class SortKey:
    """Wraps a value so Python's sort uses BSON order."""

    __slots__ = ("value", "reverse")

    def __init__(self, value, reverse=False):
        self.value = value
        self.reverse = reverse

    def __lt__(self, other):
        c = compare(self.value, other.value)
        return c > 0 if self.reverse else c < 0

    def __eq__(self, other):
        return compare(self.value, other.value) == 0

    # Only for sorting: BSON equality (1 == 1.0 == Int64(1), ...) has no matching
    # hash here, so stay unhashable, as defining __eq__ alone already made it.
    __hash__ = None


def id_key(value):
    """A hashable key for an ``_id`` value with MongoDB's equality rules."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", value)
    if isinstance(value, Decimal128):
        return ("n", float(value.to_decimal()))
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, ObjectId):
        return ("o", value.binary)
    if value is None:
        return ("z",)
    if isinstance(value, datetime.datetime):
        return ("d", value)
    return ("x", bson.encode({"": value}))


def bson_type_name(value):
    names = {0: "minKey", 1: "null", 2: "double", 3: "string", 4: "object", 5: "array", 6: "binData",
             7: "objectId", 8: "bool", 9: "date", 10: "timestamp", 11: "regex", 12: "javascript", 13: "maxKey"}
    rank = type_rank(value)
    if rank == 2:
        if isinstance(value, Int64):
            return "long"
        if isinstance(value, int):
            return "int"
        if isinstance(value, Decimal128):
            return "decimal"
    return names.get(rank, "unknown")


MISSING = object()


def get_path(doc, path):
    """Plain dotted lookup without array expansion (MISSING if absent)."""
    node = doc
    for part in path.split("."):
        if isinstance(node, dict):
            if part not in node:
                return MISSING
            node = node[part]
        elif isinstance(node, list) and part.isdigit():
            index = int(part)
            if index >= len(node):
                return MISSING
            node = node[index]
        else:
            return MISSING
    return node


def path_values(doc, path):
    """All values a query path reaches, expanding arrays along the way.

    Returns a list of (value, from_array_expansion) pairs; an array found at
    the end is returned itself and its elements are returned too.
    """
    parts = path.split(".")
    out = []

    def walk(node, i, expanded):
        if i == len(parts):
            out.append((node, expanded))
            if isinstance(node, list):
                for item in node:
                    out.append((item, True))
            return
        part = parts[i]
        if isinstance(node, dict):
            if part in node:
                walk(node[part], i + 1, expanded)
            else:
                out.append((MISSING, expanded))
        elif isinstance(node, list):
            if part.isdigit() and int(part) < len(node):
                walk(node[int(part)], i + 1, expanded)
            for item in node:
                if isinstance(item, dict):
                    walk(item, i, True)
        else:
            out.append((MISSING, expanded))

    walk(doc, 0, False)
    return out
