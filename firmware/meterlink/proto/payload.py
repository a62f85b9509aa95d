"""The upload wire format (docs/protocol.md): compact batches of reading sets, the signed request
envelope around them, and the signed answer.  Pure: buffers in, buffers out.

Numbers travel as exact scaled integers; sources, keys and the key lists of reading sets
("schemas") are sent once per boot as dictionary definitions and then referenced by index.
"""
from meterlink.proto.auth import TAG_LEN, Hmac, equal

REQ_MAGIC = 0x4D     # 'M'
ANS_MAGIC = 0x6D     # 'm'
VERSION = 1

DEF_SOURCE, DEF_KEY, DEF_SCHEMA = 1, 2, 3
KIND_NULL, KIND_TEXT, KIND_DEC = 0, 1, 2
MAX_SCALE = 30
BATCH_CLOCK_FIX = 1
ANS_CONFIG, ANS_RESYNC = 1, 2

CONFIRMED = 0        # dictionary entry known to the collector
OPEN = -1            # used by the batch being filled; otherwise: the last local seq carrying it

# status items in the request envelope: id -> name (wire: id << 2 | type)
ST_CFG_VERSION, ST_DEV_TIME, ST_CLOCK, ST_CSQ, ST_RSSI, ST_TECH, ST_OPERATOR = 1, 2, 3, 4, 5, 6, 7
ST_USAGE_MONTH, ST_USAGE_UP, ST_USAGE_DOWN = 8, 9, 10
ST_LOST_BATCHES, ST_LOST_SETS, ST_PENDING = 11, 12, 13
ST_UPLOAD_FAILS, ST_LOG_ERRORS, ST_LOG_WARNS, ST_TASK_FAILS = 14, 15, 16, 17
ST_FW, ST_MODEM_STATE, ST_MODEM_ERROR, ST_RESET_CAUSE, ST_UPTIME = 18, 19, 20, 21, 22
ST_SIM = 23


class PayloadError(ValueError):
    pass


def put_uvarint(buf, pos, v):
    """Write v (>= 0) as LEB128 at buf[pos]; returns the next position (IndexError when full)."""
    while v >= 0x80:
        buf[pos] = (v & 0x7F) | 0x80
        v >>= 7
        pos += 1
    buf[pos] = v
    return pos + 1


def zigzag(v):
    return v << 1 if v >= 0 else ((-v) << 1) - 1


def put_svarint(buf, pos, v):
    return put_uvarint(buf, pos, zigzag(v))


def put_bytes(buf, pos, b):
    pos = put_uvarint(buf, pos, len(b))
    end = pos + len(b)
    if end > len(buf):
        raise IndexError("buffer full")
    buf[pos:end] = b
    return end


def put_str(buf, pos, s):
    return put_bytes(buf, pos, s.encode() if isinstance(s, str) else s)


def uvarint_len(v):
    n = 1
    while v >= 0x80:
        v >>= 7
        n += 1
    return n


def get_uvarint(buf, pos):
    v = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise PayloadError("truncated or overlong varint at %d" % pos)
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return v, pos
        shift += 7


def classify(value):
    """(kind, payload): exact decimal text and ints become scaled ints, the rest text."""
    if value is None:
        return KIND_NULL, None
    if isinstance(value, bool):
        return KIND_DEC, int(value)
    if isinstance(value, int):
        return KIND_DEC, value
    if isinstance(value, float):
        value = repr(value)
    if not isinstance(value, str):
        return KIND_TEXT, repr(value)
    t = value
    neg = t[:1] == "-"
    if t[:1] in ("-", "+"):
        t = t[1:]
    dot = t.find(".")
    digits = t if dot < 0 else t[:dot] + t[dot + 1:]
    scale = 0 if dot < 0 else len(t) - dot - 1
    if not digits or scale > MAX_SCALE or not digits.isdigit():
        return KIND_TEXT, value
    try:
        n = int(digits)
    except ValueError:
        return KIND_TEXT, value
    return KIND_DEC + scale, -n if neg else n


class Dictionary:
    """Content -> index (from 1; 0 means 'inline'), with what the collector already knows."""

    def __init__(self, kind, limit):
        self.kind = kind
        self.limit = limit
        self.index = {}
        self.items = []
        self.state = []
        self.open_bytes = 0      # size of the definitions the batch being filled will carry

    def ref(self, content):
        i = self.index.get(content)
        if i is None:
            if len(self.items) >= self.limit:
                return 0
            self.items.append(content)
            self.state.append(OPEN)
            i = len(self.items)
            self.index[content] = i
            self.open_bytes += len(_def(self.kind, i, content))
        elif self.state[i - 1] > CONFIRMED:
            self.state[i - 1] = OPEN
            self.open_bytes += len(_def(self.kind, i, content))
        return i

    def confirm(self, first, last):
        st = self.state
        for i in range(len(st)):
            if first <= st[i] <= last:
                st[i] = CONFIRMED


class BatchEncoder:
    """Reading sets are encoded into a fixed buffer as they arrive; `seal()` returns the header
    (boot, clock fix, dictionary definitions, t0, count) that goes in front of them."""

    def __init__(self, boot, capacity, limits=(128, 256, 64)):
        self.boot = boot
        self.buf = bytearray(capacity)
        self.pos = 0
        self.nsets = 0
        self.t0 = self.t_prev = 0
        self.sources = Dictionary(DEF_SOURCE, limits[0])
        self.keys = Dictionary(DEF_KEY, limits[1])
        self.schemas = Dictionary(DEF_SCHEMA, limits[2])
        self.clock_fix = None       # seconds to add to this boot's clock_ok=False times
        self.fix_state = OPEN

    def open_bytes(self):
        return self.sources.open_bytes + self.keys.open_bytes + self.schemas.open_bytes

    def add(self, source, t, clock_ok, values):
        """Encode one reading set; False when it does not fit (seal, then add again).  The
        batch with its definitions stays within the capacity unless one set alone exceeds it."""
        start, t = self.pos, int(t)
        try:
            self.pos = self._encode(source, t, clock_ok, values)
        except IndexError:
            self.pos = start
            return False
        if self.nsets and self.pos + self.open_bytes() > len(self.buf):
            self.pos = start
            return False
        if self.nsets == 0:
            self.t0 = t
        self.t_prev = t
        self.nsets += 1
        return True

    def _encode(self, source, t, clock_ok, values):
        buf = self.buf
        kinds = []
        krefs = []
        if not isinstance(source, str):
            source = str(source)
        for key, v in values.items():
            if not isinstance(key, str):
                key = str(key)
            if isinstance(v, tuple) or isinstance(v, list):
                value, unit = v[0], (v[1] if len(v) > 1 else None)
            else:
                value, unit = v, None
            kind, payload = classify(value)
            kinds.append((key, unit or "", kind, payload))
            krefs.append(self.keys.ref((key, unit or "", kind)))
        schema = 0 if 0 in krefs else self.schemas.ref(tuple(krefs))
        src = self.sources.ref(source)
        pos = put_uvarint(buf, self.pos, src)
        if src == 0:
            pos = put_str(buf, pos, source)
        pos = put_uvarint(buf, pos, schema)
        dt = t - (self.t_prev if self.nsets else t)
        pos = put_uvarint(buf, pos, (zigzag(dt) << 1) | (1 if clock_ok else 0))
        if schema == 0:
            pos = put_uvarint(buf, pos, len(kinds))
        for key, unit, kind, payload in kinds:
            if schema == 0:
                pos = put_str(buf, pos, key)
                pos = put_str(buf, pos, unit)
                buf[pos] = kind
                pos += 1
            if kind == KIND_TEXT:
                pos = put_str(buf, pos, payload)
            elif kind >= KIND_DEC:
                pos = put_svarint(buf, pos, payload)
        return pos

    def seal(self, seq):
        """The batch header for local sequence number `seq`; the body is buf[:pos]."""
        defs = bytearray()
        n = 0
        for d in (self.sources, self.keys, self.schemas):
            for i in range(len(d.items)):
                if d.state[i] == OPEN:
                    defs += _def(d.kind, i + 1, d.items[i])
                    d.state[i] = seq
                    n += 1
            d.open_bytes = 0
        head = bytearray(24)
        pos = put_uvarint(head, 0, self.boot)
        fix = self.clock_fix is not None and self.fix_state != CONFIRMED
        head[pos] = BATCH_CLOCK_FIX if fix else 0
        pos += 1
        if fix:
            pos = put_svarint(head, pos, self.clock_fix)
            self.fix_state = seq
        pos = put_uvarint(head, pos, n)
        out = head[:pos] + defs
        tail = bytearray(16)
        p = put_uvarint(tail, 0, self.t0)
        p = put_uvarint(tail, p, self.nsets)
        out += tail[:p]
        return out

    def reset(self):
        """Start the next batch (after seal)."""
        self.pos = 0
        self.nsets = 0

    def confirm(self, first, last):
        """The collector stored this boot's batches first..last (local seqs)."""
        for d in (self.sources, self.keys, self.schemas):
            d.confirm(first, last)
        if first <= self.fix_state <= last:
            self.fix_state = CONFIRMED


def _def(kind, idx, content):
    b = bytearray(8)
    p = put_uvarint(b, 1, idx)
    b[0] = kind
    out = b[:p]
    if kind == DEF_SOURCE:
        out += _str(content)
    elif kind == DEF_KEY:
        out += _str(content[0]) + _str(content[1]) + bytes((content[2],))
    else:
        out += _uv(len(content))
        for k in content:
            out += _uv(k)
    return out


def _uv(v):
    b = bytearray(10)
    return b[:put_uvarint(b, 0, v)]


def _str(s):
    e = s.encode()
    return _uv(len(e)) + e


def status_bytes(items):
    """Status items [(id, value)]: int -> uvarint or svarint, str/bytes -> length-prefixed."""
    out = bytearray()
    for sid, v in items:
        if v is None:
            continue
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, int):
            if v >= 0:
                out += _uv(sid << 2) + _uv(v)
            else:
                out += _uv((sid << 2) | 1) + _uv(zigzag(v))
        else:
            out += _uv((sid << 2) | 2) + _str(v if isinstance(v, str) else str(v))
    return out


def envelope_head(buf, device_id, life, boot, req, status, nbatches):
    """Write the request's fixed part at buf[0]; returns the position where batches go."""
    buf[0] = REQ_MAGIC
    buf[1] = VERSION
    pos = put_str(buf, 2, device_id)
    pos = put_uvarint(buf, pos, life)
    pos = put_uvarint(buf, pos, boot)
    pos = put_uvarint(buf, pos, req)
    pos = put_bytes(buf, pos, status)
    return put_uvarint(buf, pos, nbatches)


def sign(key, buf, end):
    """Append the tag over buf[:end]; returns the total length."""
    tag = Hmac(key, memoryview(buf)[:end]).digest()[:TAG_LEN]
    buf[end:end + TAG_LEN] = tag
    return end + TAG_LEN


def parse_answer(data, key, req_tag):
    """The collector's answer to the request whose tag was req_tag, checked and decoded."""
    if len(data) < 3 + TAG_LEN or data[0] != ANS_MAGIC or data[1] != VERSION:
        raise PayloadError("not a collector answer")
    body = memoryview(data)[:len(data) - TAG_LEN]
    h = Hmac(key, req_tag)
    h.update(body)
    if not equal(h.digest()[:TAG_LEN], memoryview(data)[len(data) - TAG_LEN:]):
        raise PayloadError("answer tag does not verify")
    flags = data[2]
    ack, pos = get_uvarint(data, 3)
    now, pos = get_uvarint(data, pos)
    out = {"ack": ack, "time": now, "config": None, "resync": None}
    if flags & ANS_RESYNC:
        b, pos = get_uvarint(data, pos)
        r, pos = get_uvarint(data, pos)
        s, pos = get_uvarint(data, pos)
        out["resync"] = (b, r, s)
    if flags & ANS_CONFIG:
        n, pos = get_uvarint(data, pos)
        if pos + n > len(body):
            raise PayloadError("config runs past the answer")
        out["config"] = bytes(body[pos:pos + n])
    return out
