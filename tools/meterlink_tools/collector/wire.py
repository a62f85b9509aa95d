"""The collector's own reading of the upload format (docs/protocol.md), written from the document,
not from the firmware's encoder; and the answers it sends back."""
import hashlib
import hmac
from dataclasses import dataclass, field

TAG_LEN = 16
REQ_MAGIC, ANS_MAGIC, VERSION = 0x4D, 0x6D, 1
DEF_SOURCE, DEF_KEY, DEF_SCHEMA = 1, 2, 3
KIND_NULL, KIND_TEXT, KIND_DEC = 0, 1, 2
FLAG_CLOCK_FIX = 1
ANS_CONFIG, ANS_RESYNC = 1, 2

STATUS_NAMES = {
    1: "config_version", 2: "device_time", 3: "clock", 4: "csq", 5: "rssi_dbm", 6: "tech",
    7: "operator", 8: "usage_month", 9: "usage_up", 10: "usage_down", 11: "lost_batches",
    12: "lost_sets", 13: "pending", 14: "upload_failures", 15: "log_errors", 16: "log_warnings",
    17: "task_failures", 18: "firmware", 19: "modem_state", 20: "modem_error", 21: "reset_cause",
    22: "uptime_s", 23: "sim", 24: "config_refused_version", 25: "config_refused",
    26: "config_rolled_back_version", 27: "config_rolled_back",
}
CLOCK_SOURCES = {0: None, 1: "rtc", 2: "network", 3: "server"}


class Malformed(ValueError):
    """The body does not follow the format (HTTP 400)."""


class Reader:
    def __init__(self, data, pos=0, end=None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def byte(self):
        if self.pos >= self.end:
            raise Malformed("truncated at byte %d" % self.pos)
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uvarint(self):
        value = 0
        for shift in range(0, 70, 7):
            b = self.byte()
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
        raise Malformed("varint longer than 10 bytes at %d" % self.pos)

    def svarint(self):
        z = self.uvarint()
        return (z >> 1) if not z & 1 else -((z + 1) >> 1)

    def raw(self, n):
        if n > self.end - self.pos:
            raise Malformed("%d bytes announced, %d left" % (n, self.end - self.pos))
        out = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return out

    def text(self):
        try:
            return self.raw(self.uvarint()).decode("utf-8")
        except UnicodeDecodeError as e:
            raise Malformed("text is not UTF-8: %s" % e) from None

    def done(self):
        return self.pos >= self.end


@dataclass
class Request:
    device_id: str
    life: int
    boot: int
    req: int
    status: dict
    batches: list          # [(seq, bytes)]
    signed: bytes          # everything the tag covers
    tag: bytes


def parse_request(body):
    """Split a request into its parts (no key needed); raises Malformed."""
    if len(body) < 4 + TAG_LEN:
        raise Malformed("too short for a request")
    if body[0] != REQ_MAGIC:
        raise Malformed("not a meterlink request (magic %#x)" % body[0])
    if body[1] != VERSION:
        raise Malformed("request format version %d is not supported" % body[1])
    end = len(body) - TAG_LEN
    r = Reader(body, 2, end)
    device_id = r.text()
    life, boot, req = r.uvarint(), r.uvarint(), r.uvarint()
    status = parse_status(r.raw(r.uvarint()))
    batches = []
    for _ in range(r.uvarint()):
        seq = r.uvarint()
        data = r.raw(r.uvarint())
        if batches and seq <= batches[-1][0]:
            raise Malformed("batch sequence numbers must increase (%d after %d)" % (seq, batches[-1][0]))
        batches.append((seq, data))
    if not r.done():
        raise Malformed("%d stray bytes before the tag" % (end - r.pos))
    return Request(device_id, life, boot, req, status, batches, bytes(body[:end]), bytes(body[end:]))


def tag_of(key, *parts):
    h = hmac.new(key, digestmod=hashlib.sha256)
    for p in parts:
        h.update(p)
    return h.digest()[:TAG_LEN]


def verify(key, request):
    return hmac.compare_digest(tag_of(key, request.signed), request.tag)


def parse_status(data):
    r = Reader(data)
    out = {}
    while not r.done():
        head = r.uvarint()
        sid, typ = head >> 2, head & 3
        if typ == 0:
            v = r.uvarint()
        elif typ == 1:
            v = r.svarint()
        elif typ == 2:
            v = r.text()
        else:
            raise Malformed("status item %d has unknown type %d" % (sid, typ))
        name = STATUS_NAMES.get(sid, "item_%d" % sid)
        if name == "clock" and isinstance(v, int):
            out["clock_valid"] = bool(v & 1)
            out["clock_source"] = CLOCK_SOURCES.get(v >> 1)
        else:
            out[name] = v
    return out


def decimal_text(n, scale):
    """The exact decimal for integer n scaled by 10**-scale ("-0.05" for -5, 2)."""
    digits = str(abs(n)).rjust(scale + 1, "0")
    text = digits if scale == 0 else digits[:-scale] + "." + digits[-scale:]
    return ("-" if n < 0 else "") + text


@dataclass
class Batch:
    epoch: int
    clock_fix: int | None
    defs: list = field(default_factory=list)    # [(kind, index, content)]
    sets: list = field(default_factory=list)    # [(source, t, clock_ok, [(key, unit, value)])]


def _read_def(r):
    kind = r.byte()
    idx = r.uvarint()
    if idx == 0:
        raise Malformed("dictionary index 0 is reserved")
    if kind == DEF_SOURCE:
        return kind, idx, r.text()
    if kind == DEF_KEY:
        key, unit, vk = r.text(), r.text(), r.byte()
        if vk > KIND_DEC + 30:
            raise Malformed("value kind %d out of range" % vk)
        return kind, idx, (key, unit, vk)
    if kind == DEF_SCHEMA:
        n = r.uvarint()
        if n > 4096:
            raise Malformed("schema of %d keys" % n)
        return kind, idx, tuple(r.uvarint() for _ in range(n))
    raise Malformed("unknown dictionary kind %d" % kind)


def _value(r, kind):
    if kind == KIND_NULL:
        return None
    if kind == KIND_TEXT:
        return r.text()
    return decimal_text(r.svarint(), kind - KIND_DEC)


def decode_batch(data, lookup):
    """Decode one batch; lookup(kind, index) gives definitions from earlier batches (or None)."""
    r = Reader(data)
    b = Batch(epoch=r.uvarint(), clock_fix=None)
    flags = r.byte()
    if flags & ~FLAG_CLOCK_FIX:
        raise Malformed("unknown batch flags %#x" % flags)
    if flags & FLAG_CLOCK_FIX:
        b.clock_fix = r.svarint()
    here = {}
    for _ in range(r.uvarint()):
        kind, idx, content = _read_def(r)
        here[(kind, idx)] = content
        b.defs.append((kind, idx, content))

    def get(kind, idx):
        v = here.get((kind, idx))
        if v is None:
            v = lookup(kind, idx)
        if v is None:
            raise Malformed("dictionary entry %d/%d is not defined" % (kind, idx))
        return v

    t = r.uvarint()
    for i in range(r.uvarint()):
        src = r.uvarint()
        source = r.text() if src == 0 else get(DEF_SOURCE, src)
        schema = r.uvarint()
        tv = r.uvarint()
        dz = tv >> 1
        if i:
            t += (dz >> 1) if not dz & 1 else -((dz + 1) >> 1)
        values = []
        if schema == 0:
            for _ in range(r.uvarint()):
                key, unit, kind = r.text(), r.text(), r.byte()
                values.append((key, unit or None, _value(r, kind)))
        else:
            for k in get(DEF_SCHEMA, schema):
                key, unit, kind = get(DEF_KEY, k)
                values.append((key, unit or None, _value(r, kind)))
        b.sets.append((source, t, bool(tv & 1), values))
    if not r.done():
        raise Malformed("%d stray bytes after the reading sets" % (r.end - r.pos))
    return b


def _uv(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


CONFIG_MAGIC, CONFIG_VERSION = 0x43, 1


def _text(s):
    b = s.encode("utf-8")
    return _uv(len(b)) + b


def config_document(key, device_id, version, text):
    """A configuration document signed for one device (docs/protocol.md, "Configuration
    document"): the device checks the tag before it reads the JSON `text`."""
    body = bytes((CONFIG_MAGIC, CONFIG_VERSION)) + _text(device_id) + _uv(version) + _text(text)
    return body + tag_of(key, body)


def answer(key, req_tag, ack, server_time, config=None, resync=None):
    """The signed answer body; resync = (last boot, last request, last seq)."""
    flags = (ANS_CONFIG if config is not None else 0) | (ANS_RESYNC if resync is not None else 0)
    body = bytes((ANS_MAGIC, VERSION, flags)) + _uv(ack) + _uv(int(round(server_time)))
    if resync is not None:
        body += b"".join(_uv(v) for v in resync)
    if config is not None:
        body += _uv(len(config)) + bytes(config)
    return body + tag_of(key, req_tag, body)
