"""MongoDB wire protocol framing: OP_MSG, and OP_QUERY/OP_REPLY for the
legacy handshake. BSON comes from pymongo's ``bson`` package."""

import itertools
import struct

import bson
from bson.codec_options import CodecOptions

OP_REPLY = 1
OP_QUERY = 2004
OP_COMPRESSED = 2012
OP_MSG = 2013

CHECKSUM_PRESENT = 1 << 0
MORE_TO_COME = 1 << 1
EXHAUST_ALLOWED = 1 << 16

MAX_MESSAGE_SIZE = 48000000
MAX_BSON_SIZE = 16 * 1024 * 1024

CODEC = CodecOptions(tz_aware=False)
_HEADER = struct.Struct("<iiii")
_request_ids = itertools.count(1)


class ProtocolError(Exception):
    pass


def next_request_id():
    return next(_request_ids) & 0x7FFFFFFF


def decode(data):
    return bson.decode(data, codec_options=CODEC)


def encode(doc):
    return bson.encode(doc)


async def read_message(reader):
    """Read one message. Returns (request_id, response_to, opcode, payload)."""
    header = await reader.readexactly(16)
    length, request_id, response_to, opcode = _HEADER.unpack(header)
    if length < 16 or length > MAX_MESSAGE_SIZE:
        raise ProtocolError("invalid message length %d" % length)
    payload = await reader.readexactly(length - 16)
    return request_id, response_to, opcode, payload


def parse_op_msg(payload):
    """Return (flags, body) with document sequences merged into the body."""
    (flags,) = struct.unpack_from("<I", payload, 0)
    end = len(payload) - (4 if flags & CHECKSUM_PRESENT else 0)
    pos = 4
    body = None
    sequences = []
    while pos < end:
        kind = payload[pos]
        pos += 1
        if kind == 0:
            (size,) = struct.unpack_from("<i", payload, pos)
            body = decode(payload[pos:pos + size])
            pos += size
        elif kind == 1:
            (size,) = struct.unpack_from("<i", payload, pos)
            section_end = pos + size
            name_end = payload.index(b"\x00", pos + 4)
            identifier = payload[pos + 4:name_end].decode("utf-8")
            docs = []
            cursor = name_end + 1
            while cursor < section_end:
                (dsize,) = struct.unpack_from("<i", payload, cursor)
                docs.append(decode(payload[cursor:cursor + dsize]))
                cursor += dsize
            sequences.append((identifier, docs))
            pos = section_end
        else:
            raise ProtocolError("unknown OP_MSG section kind %d" % kind)
    if body is None:
        raise ProtocolError("OP_MSG without a body section")
    for identifier, docs in sequences:
        body[identifier] = docs
    return flags, body


def parse_op_query(payload):
    (flags,) = struct.unpack_from("<i", payload, 0)
    name_end = payload.index(b"\x00", 4)
    collection = payload[4:name_end].decode("utf-8")
    skip, nreturn = struct.unpack_from("<ii", payload, name_end + 1)
    pos = name_end + 9
    (size,) = struct.unpack_from("<i", payload, pos)
    query = decode(payload[pos:pos + size])
    return flags, collection, skip, nreturn, query


def encode_op_msg(response_to, doc, flags=0, request_id=None):
    body = encode(doc) if isinstance(doc, dict) else doc
    request_id = next_request_id() if request_id is None else request_id
    length = 16 + 4 + 1 + len(body)
    return _HEADER.pack(length, request_id, response_to, OP_MSG) + struct.pack("<I", flags) + b"\x00" + body, \
        request_id


def encode_op_reply(response_to, docs, flags=0):
    encoded = b"".join(encode(d) for d in docs)
    request_id = next_request_id()
    length = 16 + 20 + len(encoded)
    return (_HEADER.pack(length, request_id, response_to, OP_REPLY)
            + struct.pack("<iqii", flags, 0, 0, len(docs)) + encoded)


def encode_op_query(collection, query):
    """Client side (used only by tests)."""
    request_id = next_request_id()
    body = struct.pack("<i", 0) + collection.encode() + b"\x00" + struct.pack("<ii", 0, -1) + encode(query)
    return _HEADER.pack(16 + len(body), request_id, 0, OP_QUERY) + body, request_id
