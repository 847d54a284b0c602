"""mnemo's wire format (core/net/wire.h), the Python side: a message is a type, a request id and
named arrays; frame 0 is the header, then one frame per field.

Header (little-endian):
  u32 magic "MNEM" | u16 version | u16 type (| 0x8000: no payload checksums) | u64 request_id |
  u32 field count |
  per field: u32 name length, name, u8 dtype, u32 ndim, i64 dims[ndim], u64 byte length, u32 CRC32C |
  u32 CRC32C of the header bytes before it

decode() is a trust boundary like the C++ decoder: every size is checked against the frames that
arrived and against limits before anything is allocated, and any inconsistency is a WireError.
"""
import struct

import numpy as np

try:  # Debian's python3-crc32c (or PyPI's crc32c): hardware CRC32C
    from crc32c import crc32c as _fast_crc32c
except ImportError:  # pragma: no cover - depends on the machine
    _fast_crc32c = None

MAGIC = 0x4D4E454D
VERSION = 1
NO_PAYLOAD_CHECKSUMS = 0x8000

# MsgType values of core/net/wire.h used by the env bridge.
OK = 1
ERROR = 2
SHUTDOWN = 6
ENV_OPEN = 13
ENV_RESET = 14
ENV_STEP = 15
ENV_RENDER = 16
TYPES = {OK, ERROR, SHUTDOWN, ENV_OPEN, ENV_RESET, ENV_STEP, ENV_RENDER}

# mnemo DType codes (core/array.h) and their numpy dtypes.
DTYPES = {0: np.dtype(np.uint8), 1: np.dtype("<i4"), 2: np.dtype("<i8"), 3: np.dtype("<f4"),
          4: np.dtype("<f8"), 5: np.dtype(np.bool_)}
CODES = {v: k for k, v in DTYPES.items()}

MAX_FIELDS = 256
MAX_NDIM = 8
MAX_NAME = 64


class WireError(Exception):
    """Bytes that are no valid message."""


def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data):
    """CRC32C (Castagnoli) of bytes-like data, as core/crc32c.h computes it."""
    if _fast_crc32c is not None:
        return _fast_crc32c(data)
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def fast_checksums():
    """Whether CRC32C runs in C (crc32c module) rather than in Python."""
    return _fast_crc32c is not None


# Header templates of encode(), by the message's type and its fields' names, dtypes and shapes:
# a server answers with the same few layouts over and over, which then only get their request id
# and checksums written.
_TEMPLATES = {}


def encode(msg_type, request_id, fields, checksums=True):
    """Frames of one message: fields is a list of (name, numpy array)."""
    arrays = [np.ascontiguousarray(a) for _, a in fields]
    key = (msg_type, checksums) + tuple((name, a.dtype, a.shape) for (name, _), a in zip(fields, arrays))
    template = _TEMPLATES.get(key)
    if template is None:
        head, crc_offsets = [struct.pack("<IHHQI", MAGIC, VERSION, msg_type | (0 if checksums else NO_PAYLOAD_CHECKSUMS),
                                         0, len(fields))], []
        size = 20
        for (name, _), a in zip(fields, arrays):
            if a.dtype not in CODES:
                raise ValueError("field %r has dtype %s, which the wire does not carry" % (name, a.dtype))
            raw = name.encode()
            part = (struct.pack("<I", len(raw)) + raw + struct.pack("<BI", CODES[a.dtype], a.ndim) +
                    struct.pack("<%dq" % a.ndim, *a.shape) + struct.pack("<QI", a.nbytes, 0))
            head.append(part)
            size += len(part)
            crc_offsets.append(size - 4)
        template = (b"".join(head), crc_offsets)
        if len(_TEMPLATES) >= 64:
            _TEMPLATES.clear()
        _TEMPLATES[key] = template
    header = bytearray(template[0])
    struct.pack_into("<Q", header, 8, request_id)
    payload = []
    for a, off in zip(arrays, template[1]):
        data = memoryview(a).cast("B") if a.size else b""
        if checksums:
            struct.pack_into("<I", header, off, crc32c(data))
        payload.append(data)
    header += struct.pack("<I", crc32c(header))
    return [header] + payload


# Header layouts already checked, by header length: a server sees the same few requests over and
# over, whose headers differ only in the request id and the checksums. A header whose other bytes
# equal a checked one's passes the same checks, so decode() skips them (the checksums it verifies).
_LAYOUTS = {}
_MAX_LAYOUTS = 16


class _Layout:
    __slots__ = ("limits", "skeleton", "crc_offsets", "declared", "msg_type", "unchecked")


def _skeleton(head, crc_offsets):
    """The header's bytes with the request id and the checksums zeroed."""
    s = bytearray(head)
    s[8:16] = bytes(8)
    for off in crc_offsets:
        s[off:off + 4] = bytes(4)
    return s


def _parse_header(head, max_bytes, allow_unchecked):
    """(type, request_id, unchecked, declared fields, offsets of the field checksums and the header's)
    of a header frame, every size and name checked; raises WireError."""
    pos = 0

    def take(n, what):
        nonlocal pos
        if len(head) - pos < n:
            raise WireError("header ends before " + what)
        out = head[pos:pos + n]
        pos += n
        return out

    magic, version, raw_type, request_id, count = struct.unpack("<IHHQI", take(20, "the fixed header"))
    if magic != MAGIC:
        raise WireError("bad magic 0x%x (expected 0x%x)" % (magic, MAGIC))
    if version != VERSION:
        raise WireError("unsupported version %d (this server speaks %d)" % (version, VERSION))
    if count > MAX_FIELDS:
        raise WireError("%d fields exceed the limit of %d" % (count, MAX_FIELDS))
    declared, crc_offsets = [], []
    for i in range(count):
        (name_len,) = struct.unpack("<I", take(4, "field name length"))
        if name_len > MAX_NAME:
            raise WireError("field %d name of %d bytes exceeds the limit of %d" % (i, name_len, MAX_NAME))
        name = bytes(take(name_len, "field name")).decode("utf-8", "replace")
        code, ndim = struct.unpack("<BI", take(5, "dtype and ndim"))
        if ndim > MAX_NDIM:
            raise WireError("field %r has %d dimensions, limit %d" % (name, ndim, MAX_NDIM))
        shape = struct.unpack("<%dq" % ndim, take(8 * ndim, "dims"))
        length, _ = struct.unpack("<QI", take(12, "byte length and checksum"))
        crc_offsets.append(pos - 4)
        declared.append((name, code, shape, length))
    crc_offsets.append(pos)
    (header_crc,) = struct.unpack("<I", take(4, "header checksum"))
    if pos != len(head):
        raise WireError("%d unexpected bytes after the header" % (len(head) - pos))
    if crc32c(head[:crc_offsets[-1]]) != header_crc:
        raise WireError("header checksum mismatch")
    msg_type = raw_type & ~NO_PAYLOAD_CHECKSUMS
    unchecked = bool(raw_type & NO_PAYLOAD_CHECKSUMS)
    if msg_type not in TYPES:
        raise WireError("unknown message type %d" % msg_type)
    if unchecked and not allow_unchecked:
        raise WireError("message without payload checksums")
    total = 0
    names = set()
    for name, code, shape, length in declared:
        if name in names:
            raise WireError("duplicate field %r" % name)
        names.add(name)
        if code not in DTYPES:
            raise WireError("field %r has invalid dtype %d" % (name, code))
        numel = 1
        for d in shape:
            if d < 0:
                raise WireError("field %r has invalid shape %s" % (name, list(shape)))
            numel *= d
        if numel * DTYPES[code].itemsize != length:
            raise WireError("field %r declares %d bytes but shape %s needs %d"
                            % (name, length, list(shape), numel * DTYPES[code].itemsize))
        total += length
        if total > max_bytes:
            raise WireError("payload exceeds the limit of %d bytes at field %r" % (max_bytes, name))
    return msg_type, request_id, unchecked, declared, crc_offsets


def decode(frames, max_bytes=256 << 20, allow_unchecked=False):
    """(type, request_id, {name: read-only numpy array}) of received frames (bytes-like)."""
    if not frames:
        raise WireError("no frames (expected a header frame)")
    head = memoryview(frames[0]).cast("B")
    layout = _LAYOUTS.get(len(head))
    if (layout is not None and layout.limits == (max_bytes, allow_unchecked) and
            _skeleton(head, layout.crc_offsets) == layout.skeleton):
        if crc32c(head[:layout.crc_offsets[-1]]) != struct.unpack_from("<I", head, layout.crc_offsets[-1])[0]:
            raise WireError("header checksum mismatch")
        (request_id,) = struct.unpack_from("<Q", head, 8)
        msg_type, unchecked, declared, crc_offsets = layout.msg_type, layout.unchecked, layout.declared, layout.crc_offsets
    else:
        msg_type, request_id, unchecked, declared, crc_offsets = _parse_header(head, max_bytes, allow_unchecked)
        if len(_LAYOUTS) >= _MAX_LAYOUTS:
            _LAYOUTS.clear()
        layout = _Layout()
        layout.limits = (max_bytes, allow_unchecked)
        layout.skeleton = _skeleton(head, crc_offsets)
        layout.crc_offsets, layout.declared, layout.msg_type, layout.unchecked = crc_offsets, declared, msg_type, unchecked
        _LAYOUTS[len(head)] = layout
    if len(frames) != 1 + len(declared):
        raise WireError("header declares %d fields but %d payload frames arrived"
                        % (len(declared), len(frames) - 1))
    fields = {}
    for (name, code, shape, length), crc_at, frame in zip(declared, crc_offsets, frames[1:]):
        data = memoryview(frame).cast("B")
        if len(data) != length:
            raise WireError("field %r declares %d bytes, frame has %d" % (name, length, len(data)))
        if not unchecked and crc32c(data) != struct.unpack_from("<I", head, crc_at)[0]:
            raise WireError("field %r checksum mismatch" % name)
        fields[name] = np.frombuffer(data, dtype=DTYPES[code]).reshape(shape)
    return msg_type, request_id, fields


def text(s):
    """A text field: uint8 bytes, as wire::text_array."""
    return np.frombuffer(s.encode(), dtype=np.uint8)


def field_text(a):
    if a.dtype != np.uint8 or a.ndim != 1:
        raise WireError("text field is %s%s, expected uint8[n]" % (a.dtype, list(a.shape)))
    return a.tobytes().decode("utf-8", "replace")


# -- the unix:// stream: u32 frame count, u64 size per frame, then the frames' bytes ------------
MAX_STREAM_FRAMES = 1024


def stream_bytes(frames):
    """One message's frames framed for a stream socket."""
    sizes = [memoryview(f).nbytes for f in frames]
    return b"".join([struct.pack("<I%dQ" % len(sizes), len(sizes), *sizes)] + [memoryview(f).cast("B") for f in frames])


def _read_exact(conn, n):
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = conn.recv_into(view[got:])
        if k == 0:
            return None
        got += k
    return buf


def read_stream(conn, max_bytes):
    """The frames (memoryviews) of the next message on a stream socket; None when the peer closed
    it before a message began. Raises WireError for framing over the limits or a message cut off."""
    head = _read_exact(conn, 4)
    if head is None:
        return None
    (count,) = struct.unpack("<I", head)
    if count == 0 or count > MAX_STREAM_FRAMES:
        raise WireError("stream message declares %d frames (1 to %d)" % (count, MAX_STREAM_FRAMES))
    sizes = _read_exact(conn, 8 * count)
    if sizes is None:
        raise WireError("stream ends inside a message's frame sizes")
    sizes = struct.unpack("<%dQ" % count, sizes)
    total = sum(sizes)
    if total > max_bytes:
        raise WireError("stream message of %d bytes exceeds the limit of %d" % (total, max_bytes))
    body = _read_exact(conn, total) if total else bytearray()
    if body is None:
        raise WireError("stream ends inside a message")
    view, frames, pos = memoryview(body), [], 0
    for n in sizes:
        frames.append(view[pos:pos + n])
        pos += n
    return frames
