"""Query matching, update operators, projection, sort and a minimal
aggregation pipeline: enough of MongoDB's query language for our tests to
write, read and compare data on every member."""

import copy
import datetime
import re

from bson.int64 import Int64
from bson.regex import Regex

from .bsonutil import MISSING, SortKey, bson_type_name, compare, equal, get_path, path_values, type_rank
from .errors import CommandError

_RE_TYPE = type(re.compile(""))


def _bad(message, code=2):
    return CommandError(code, message)


# --------------------------------------------------------------------------- matching

def matches(doc, query):
    for key, cond in query.items():
        if key == "$and":
            if not all(matches(doc, q) for q in _clauses(key, cond)):
                return False
        elif key == "$or":
            if not any(matches(doc, q) for q in _clauses(key, cond)):
                return False
        elif key == "$nor":
            if any(matches(doc, q) for q in _clauses(key, cond)):
                return False
        elif key == "$comment":
            continue
        elif key.startswith("$"):
            raise _bad("unknown top level operator: %s. If you have a field name that starts with a '$' symbol, "
                       "consider using $getField or $setField." % key)
        elif not _match_field(doc, key, cond):
            return False
    return True


def _clauses(op, value):
    if not isinstance(value, list) or not value:
        raise _bad("%s must be a nonempty array" % op)
    for clause in value:
        if not isinstance(clause, dict):
            raise _bad("$or/$and/$nor entries need to be full objects")
    return value


def _is_operator_doc(cond):
    return isinstance(cond, dict) and cond and all(k.startswith("$") for k in cond)


def _match_field(doc, path, cond):
    if _is_operator_doc(cond):
        regex_options = cond.get("$options")
        for op, arg in cond.items():
            if op == "$options":
                if "$regex" not in cond:
                    raise _bad("$options needs a $regex")
                continue
            if not _match_operator(doc, path, op, arg, regex_options):
                return False
        return True
    return _match_operator(doc, path, "$eq", cond, None)


def _values(doc, path):
    return path_values(doc, path)


def _regex(arg, options=None):
    if isinstance(arg, Regex):
        flags = arg.flags
        pattern = arg.pattern
        if isinstance(flags, int):
            return re.compile(pattern, flags)
        arg, options = pattern, flags
    if isinstance(arg, _RE_TYPE):
        return arg
    flags = 0
    for ch in options or "":
        flags |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}.get(ch, 0)
    return re.compile(arg, flags)


def _match_operator(doc, path, op, arg, regex_options):
    values = _values(doc, path)
    present = [v for v, _expanded in values if v is not MISSING]
    if op == "$eq":
        if isinstance(arg, (Regex, _RE_TYPE)):
            rx = _regex(arg)
            return any(isinstance(v, str) and rx.search(v) for v in present)
        if arg is None:
            return any(v is None for v in present) or any(v is MISSING for v, _expanded in values) or not values
        return any(equal(v, arg) for v in present)
    if op == "$ne":
        return not _match_operator(doc, path, "$eq", arg, None)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        for v in present:
            if type_rank(v) != type_rank(arg) and not (v is None and arg is None):
                continue
            c = compare(v, arg)
            if (op == "$gt" and c > 0) or (op == "$gte" and c >= 0) or (op == "$lt" and c < 0) or \
                    (op == "$lte" and c <= 0):
                return True
        return False
    if op == "$in":
        if not isinstance(arg, list):
            raise _bad("$in needs an array")
        return any(_match_operator(doc, path, "$eq", item, None) for item in arg)
    if op == "$nin":
        if not isinstance(arg, list):
            raise _bad("$nin needs an array")
        return not any(_match_operator(doc, path, "$eq", item, None) for item in arg)
    if op == "$exists":
        exists = any(v is not MISSING for v, _expanded in values)
        return exists if arg else not exists
    if op == "$regex":
        rx = _regex(arg, regex_options)
        return any(isinstance(v, str) and rx.search(v) for v in present)
    if op == "$size":
        return any(isinstance(v, list) and len(v) == arg for v, expanded in values if not expanded)
    if op == "$all":
        if not isinstance(arg, list):
            raise _bad("$all needs an array")
        return bool(arg) and all(_match_operator(doc, path, "$eq", item, None) for item in arg)
    if op == "$elemMatch":
        for v, expanded in values:
            if isinstance(v, list) and not expanded:
                for item in v:
                    if _is_operator_doc(arg) and not any(k in ("$and", "$or", "$nor") for k in arg):
                        if _match_field({"x": item}, "x", arg):
                            return True
                    elif isinstance(item, dict) and matches(item, arg):
                        return True
        return False
    if op == "$not":
        if isinstance(arg, (Regex, _RE_TYPE)):
            return not _match_operator(doc, path, "$regex", arg, None)
        if not isinstance(arg, dict):
            raise _bad("$not needs a regex or a document")
        return not _match_field(doc, path, arg)
    if op == "$type":
        wanted = arg if isinstance(arg, list) else [arg]
        aliases = {1: "double", 2: "string", 3: "object", 4: "array", 5: "binData", 7: "objectId", 8: "bool",
                   9: "date", 10: "null", 11: "regex", 16: "int", 17: "timestamp", 18: "long", 19: "decimal"}
        names = {aliases.get(w, w) for w in wanted}
        for v in present:
            name = bson_type_name(v)
            if name in names or ("number" in names and type_rank(v) == 2):
                return True
        return False
    if op == "$mod":
        divisor, remainder = arg
        return any(isinstance(v, (int, float)) and not isinstance(v, bool) and int(v) % divisor == remainder
                   for v in present)
    if op == "$comment":
        return True
    raise _bad("unknown operator: %s" % op)


# --------------------------------------------------------------------------- updates

UPDATE_OPERATORS = ("$set", "$unset", "$inc", "$mul", "$min", "$max", "$rename", "$push", "$addToSet", "$pull",
                    "$pullAll", "$pop", "$currentDate", "$setOnInsert")


def is_operator_update(update):
    return isinstance(update, dict) and bool(update) and next(iter(update)).startswith("$")


def _parent(doc, path, create):
    parts = path.split(".")
    node = doc
    for part in parts[:-1]:
        if isinstance(node, list) and part.isdigit():
            index = int(part)
            while create and len(node) <= index:
                node.append(None)
            if index >= len(node):
                return None, parts[-1]
            if node[index] is None and create:
                node[index] = {}
            node = node[index]
            continue
        if not isinstance(node, dict):
            if create:
                raise CommandError(28, "Cannot create field '%s' in element {%s: %r}" % (part, parts[0], node),
                                   code_name_override="PathNotViable")
            return None, parts[-1]
        if part not in node:
            if not create:
                return None, parts[-1]
            node[part] = {}
        node = node[part]
    return node, parts[-1]


def _set(doc, path, value):
    parent, last = _parent(doc, path, True)
    if isinstance(parent, list) and last.isdigit():
        index = int(last)
        while len(parent) <= index:
            parent.append(None)
        parent[index] = value
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise CommandError(28, "Cannot create field '%s' in element %r" % (last, parent),
                           code_name_override="PathNotViable")


def _unset(doc, path):
    parent, last = _parent(doc, path, False)
    if isinstance(parent, dict):
        parent.pop(last, None)
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        parent[int(last)] = None


def _number(value, op, path):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CommandError(14, "Cannot apply %s to a value of non-numeric type. {_id: ...} has the field '%s' of "
                           "non-numeric type %s" % (op, path, bson_type_name(value)))
    return value


def _arith(current, operand, op):
    result = current + operand if op == "$inc" else current * operand
    if isinstance(current, Int64) or isinstance(operand, Int64):
        return Int64(result) if isinstance(result, int) else result
    return result


def apply_update(doc, update, is_insert=False):
    """Apply an operator update (or a replacement) to a copy of ``doc``."""
    if not is_operator_update(update):
        for key in update:
            if key.startswith("$"):
                raise CommandError(52, "The dollar ($) prefixed field '%s' in '%s' is not allowed in the context "
                                   "of an update's replacement document." % (key, key))
        new = {"_id": doc["_id"]} if "_id" in doc else {}
        for key, value in update.items():
            if key == "_id":
                if "_id" in doc and not equal(value, doc["_id"]):
                    raise CommandError(66, "After applying the update, the (immutable) field '_id' was found to "
                                       "have been altered to _id: %r" % (value,))
                new["_id"] = value
                continue
            new[key] = copy.deepcopy(value)
        return new
    new = copy.deepcopy(doc)
    seen_paths = []
    for op, fields in update.items():
        if op not in UPDATE_OPERATORS:
            raise CommandError(9, "Unknown modifier: %s. Expected a valid update modifier or pipeline-style update "
                               "specified as an array" % op)
        if not isinstance(fields, dict):
            raise CommandError(9, "Modifiers operate on fields but we found type %s instead." % bson_type_name(
                fields))
        for path, value in fields.items():
            for other in seen_paths:
                if other == path or other.startswith(path + ".") or path.startswith(other + "."):
                    raise CommandError(40, "Updating the path '%s' would create a conflict at '%s'" % (path, other))
            seen_paths.append(path)
            if path == "_id" and op not in ("$setOnInsert",) and not (op == "$set" and equal(value, doc.get("_id"))):
                if not (is_insert and op == "$set"):
                    raise CommandError(66, "Performing an update on the path '_id' would modify the immutable field "
                                       "'_id'")
            current = get_path(new, path)
            if op == "$set":
                _set(new, path, copy.deepcopy(value))
            elif op == "$setOnInsert":
                if is_insert:
                    _set(new, path, copy.deepcopy(value))
            elif op == "$unset":
                _unset(new, path)
            elif op in ("$inc", "$mul"):
                _number(value, op, path)
                if current is MISSING:
                    _set(new, path, value if op == "$inc" else type(value)(0))
                else:
                    _set(new, path, _arith(_number(current, op, path), value, op))
            elif op in ("$min", "$max"):
                if current is MISSING or (op == "$min" and compare(value, current) < 0) or \
                        (op == "$max" and compare(value, current) > 0):
                    _set(new, path, copy.deepcopy(value))
            elif op == "$rename":
                if current is not MISSING:
                    _unset(new, path)
                    _set(new, value, current)
            elif op in ("$push", "$addToSet"):
                items = value["$each"] if isinstance(value, dict) and "$each" in value else [value]
                if current is MISSING:
                    current = []
                    _set(new, path, current)
                elif not isinstance(current, list):
                    raise CommandError(14, "The field '%s' must be an array but is of type %s in document {_id: "
                                       "%r}" % (path, bson_type_name(current), doc.get("_id")))
                for item in items:
                    if op == "$push" or not any(equal(item, existing) for existing in current):
                        current.append(copy.deepcopy(item))
                if op == "$push" and isinstance(value, dict) and "$slice" in value:
                    limit = value["$slice"]
                    current[:] = current[:limit] if limit >= 0 else current[limit:]
            elif op in ("$pull", "$pullAll"):
                if isinstance(current, list):
                    if op == "$pullAll":
                        current[:] = [x for x in current if not any(equal(x, v) for v in value)]
                    elif isinstance(value, dict):
                        current[:] = [x for x in current if not (
                            _match_field({"x": x}, "x", value) if _is_operator_doc(value)
                            else isinstance(x, dict) and matches(x, value))]
                    else:
                        current[:] = [x for x in current if not equal(x, value)]
            elif op == "$pop":
                if isinstance(current, list) and current:
                    current.pop(0 if value == -1 else -1)
            elif op == "$currentDate":
                now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
                now = now.replace(microsecond=now.microsecond // 1000 * 1000)
                _set(new, path, now)
    return new


def upsert_seed(query):
    """The document an upsert starts from: the query's equality conditions."""
    seed = {}
    for key, cond in query.items():
        if key.startswith("$"):
            if key == "$and":
                for clause in cond:
                    seed.update(upsert_seed(clause))
            continue
        if _is_operator_doc(cond):
            if "$eq" in cond:
                _set(seed, key, copy.deepcopy(cond["$eq"]))
            continue
        _set(seed, key, copy.deepcopy(cond))
    return seed


# --------------------------------------------------------------------------- projection and sort

def project(doc, projection):
    if not projection:
        return doc
    include = {k: v for k, v in projection.items() if k != "_id"}
    id_wanted = projection.get("_id", 1)
    inclusive = any(_truthy(v) for v in include.values())
    if inclusive:
        out = {}
        if _truthy(id_wanted) and "_id" in doc:
            out["_id"] = doc["_id"]
        for path, flag in include.items():
            if isinstance(flag, str) and flag.startswith("$"):
                value = get_path(doc, flag[1:])
                if value is not MISSING:
                    _set(out, path, value)
                continue
            if not _truthy(flag):
                continue
            value = get_path(doc, path)
            if value is not MISSING:
                _set(out, path, copy.deepcopy(value))
        return out
    out = copy.deepcopy(doc)
    for path in include:
        _unset(out, path)
    if not _truthy(id_wanted):
        out.pop("_id", None)
    return out


def _truthy(value):
    if isinstance(value, dict):
        return True
    return bool(value)


def sort_docs(docs, sort):
    if not sort:
        return docs
    for path, direction in reversed(list(sort.items())):
        reverse = direction in (-1, -1.0) or (isinstance(direction, Int64) and direction < 0)

        def key(d, path=path, reverse=reverse):
            values = [v for v, _expanded in path_values(d, path) if v is not MISSING]
            if not values:
                value = None
            elif len(values) == 1:
                value = values[0]
            else:
                flat = [v for v in values if not isinstance(v, list)] or values
                value = max(flat, key=SortKey) if reverse else min(flat, key=SortKey)
            return SortKey(value)

        docs = sorted(docs, key=key, reverse=reverse)
    return docs


# --------------------------------------------------------------------------- aggregation

def _expr(doc, expr):
    if isinstance(expr, str) and expr.startswith("$$"):
        if expr == "$$ROOT":
            return doc
        raise _bad("mongosim's aggregate does not support variable %s" % expr)
    if isinstance(expr, str) and expr.startswith("$"):
        value = get_path(doc, expr[1:])
        return None if value is MISSING else value
    if isinstance(expr, dict):
        if len(expr) == 1 and next(iter(expr)).startswith("$"):
            op, arg = next(iter(expr.items()))
            if op == "$literal":
                return arg
            args = [_expr(doc, a) for a in (arg if isinstance(arg, list) else [arg])]
            if op == "$add":
                return sum(a for a in args if a is not None)
            if op == "$toString":
                return str(args[0])
            if op == "$size":
                return len(args[0]) if isinstance(args[0], list) else 0
            if op in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte"):
                c = compare(args[0], args[1])
                return {"$eq": c == 0, "$ne": c != 0, "$gt": c > 0, "$gte": c >= 0, "$lt": c < 0,
                        "$lte": c <= 0}[op]
            raise CommandError(168, "Unrecognized expression '%s'" % op)
        return {k: _expr(doc, v) for k, v in expr.items()}
    if isinstance(expr, list):
        return [_expr(doc, v) for v in expr]
    return expr


def _accumulate(op, values):
    present = [v for v in values if v is not None]
    if op == "$sum":
        nums = [v for v in present if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return sum(nums) if nums else 0
    if op == "$avg":
        nums = [v for v in present if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return sum(nums) / len(nums) if nums else None
    if op == "$min":
        return min(present, key=SortKey) if present else None
    if op == "$max":
        return max(present, key=SortKey) if present else None
    if op == "$first":
        return values[0] if values else None
    if op == "$last":
        return values[-1] if values else None
    if op == "$push":
        return list(values)
    if op == "$addToSet":
        out = []
        for v in values:
            if not any(equal(v, o) for o in out):
                out.append(v)
        return out
    if op == "$count":
        return len(values)
    raise CommandError(15952, "unknown group operator '%s'" % op)


def run_pipeline(docs, pipeline):
    for stage in pipeline:
        if not isinstance(stage, dict) or len(stage) != 1:
            raise CommandError(40323, "A pipeline stage specification object must contain exactly one field.")
        name, spec = next(iter(stage.items()))
        if name == "$match":
            docs = [d for d in docs if matches(d, spec)]
        elif name == "$project":
            docs = [project(d, spec) for d in docs]
        elif name in ("$addFields", "$set"):
            out = []
            for d in docs:
                nd = copy.deepcopy(d)
                for path, expr in spec.items():
                    _set(nd, path, _expr(d, expr))
                out.append(nd)
            docs = out
        elif name == "$unset":
            fields = [spec] if isinstance(spec, str) else spec
            docs = [project(d, {f: 0 for f in fields}) for d in docs]
        elif name == "$sort":
            docs = sort_docs(docs, spec)
        elif name == "$skip":
            docs = docs[int(spec):]
        elif name == "$limit":
            docs = docs[:int(spec)]
        elif name == "$count":
            docs = [{spec: len(docs)}] if docs else []
        elif name == "$unwind":
            path = spec if isinstance(spec, str) else spec["path"]
            path = path[1:]
            out = []
            for d in docs:
                value = get_path(d, path)
                if isinstance(value, list):
                    for item in value:
                        nd = copy.deepcopy(d)
                        _set(nd, path, item)
                        out.append(nd)
                elif value is not MISSING and value is not None:
                    out.append(d)
            docs = out
        elif name == "$group":
            if "_id" not in spec:
                raise CommandError(15955, "a group specification must include an _id")
            groups = {}
            order = []
            for d in docs:
                key_value = _expr(d, spec["_id"])
                from .bsonutil import id_key
                k = id_key(key_value)
                if k not in groups:
                    groups[k] = (key_value, [])
                    order.append(k)
                groups[k][1].append(d)
            out = []
            for k in order:
                key_value, members = groups[k]
                row = {"_id": key_value}
                for field, acc in spec.items():
                    if field == "_id":
                        continue
                    op, arg = next(iter(acc.items()))
                    row[field] = _accumulate(op, [_expr(m, arg) for m in members])
                out.append(row)
            docs = out
        else:
            raise CommandError(40324, "Unrecognized pipeline stage name: '%s'" % name)
    return docs
