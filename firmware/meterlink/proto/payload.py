"""Batches of reading sets in the upload format (docs/protocol.md): numbers as exact scaled
integers; sources, keys and the key lists of reading sets ("schemas") defined once per boot and
then referenced by index.  Pure: reading sets in, bytes out.
"""
from meterlink.proto.varint import put_str, put_svarint, put_uvarint, text, uv, zigzag

DEF_SOURCE, DEF_KEY, DEF_SCHEMA = 1, 2, 3
KIND_NULL, KIND_TEXT, KIND_DEC = 0, 1, 2
MAX_SCALE = 30
HEAD_SPARE = 48      # room after the capacity for the header's fixed fields (see seal)
BATCH_CLOCK_FIX = 1

CONFIRMED = 0        # dictionary entry known to the collector
OPEN = -1            # used by the batch being filled; otherwise: the last local seq carrying it


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
        # the header is built behind the body in this same buffer (seal): a batch's definitions
        # are already counted within the capacity, so it never needs a large block of its own
        self.capacity = capacity
        self.buf = bytearray(capacity + HEAD_SPARE)
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
        if self.nsets and self.pos + self.open_bytes() > self.capacity:
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
        """The batch header for local sequence number `seq` (bytes-like; the body is
        buf[:pos]).  It is written behind the body in `buf`, which stays valid until the next
        `add`; only a first set that alone overfills the batch makes it a block of its own."""
        fix = self.clock_fix is not None and self.fix_state != CONFIRMED
        try:
            end = self._head_into(self.buf, self.pos, fix)
            out = memoryview(self.buf)[self.pos:end]
        except IndexError:
            size = self._head_into(None, 0, fix)
            out = bytearray(size)
            self._head_into(out, 0, fix)
        for d in (self.sources, self.keys, self.schemas):
            st = d.state
            for i in range(len(st)):
                if st[i] == OPEN:
                    st[i] = seq
            d.open_bytes = 0
        if fix:
            self.fix_state = seq
        return out

    def _head_into(self, buf, p, fix):
        """Write the header at buf[p:] and return where it ends (buf None: only measure);
        IndexError when it does not fit."""
        small = bytearray(24)
        q = put_uvarint(small, 0, self.boot)
        small[q] = BATCH_CLOCK_FIX if fix else 0
        q += 1
        if fix:
            q = put_svarint(small, q, self.clock_fix)
        n = 0
        for d in (self.sources, self.keys, self.schemas):
            for st in d.state:
                if st == OPEN:
                    n += 1
        q = put_uvarint(small, q, n)
        p = _put(buf, p, memoryview(small)[:q])
        for d in (self.sources, self.keys, self.schemas):
            for i in range(len(d.items)):
                if d.state[i] == OPEN:
                    p = _put(buf, p, _def(d.kind, i + 1, d.items[i]))
        q = put_uvarint(small, 0, self.t0)
        q = put_uvarint(small, q, self.nsets)
        return _put(buf, p, memoryview(small)[:q])

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


def _put(buf, p, data):
    """Copy data to buf[p:] (buf None: only count); IndexError past buf's end (a bytearray's
    slice assignment would grow it instead)."""
    end = p + len(data)
    if buf is not None:
        if end > len(buf):
            raise IndexError("header")
        buf[p:end] = data
    return end


def _def(kind, idx, content):
    b = bytearray(8)
    p = put_uvarint(b, 1, idx)
    b[0] = kind
    out = b[:p]
    if kind == DEF_SOURCE:
        out += text(content)
    elif kind == DEF_KEY:
        out += text(content[0]) + text(content[1]) + bytes((content[2],))
    else:
        out += uv(len(content))
        for k in content:
            out += uv(k)
    return out
