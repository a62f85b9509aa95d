"""Modbus device profiles: a register map (JSON data) checked and compiled into read blocks,
neighbouring registers in one request, and the decoder of one block's answer."""
from meterlink.proto import mbvalue as mv

MAX_REGS = 125          # registers in one read (Modbus application protocol, FC 03/04)
MAX_BITS = 2000         # coils or discrete inputs in one read (FC 01/02)
# word/byte orders by name; the letters name a float32's bytes, most significant = A
ORDERS = {"high_first": 0, "low_first": 1, "abcd": 0, "cdab": 1, "badc": 2, "dcba": 3}


class ProfileError(ValueError):
    pass


TYPE_NAMES = ("u16", "s16", "u32", "s32", "f32", "u48", "u64", "s64", "bit")
_NONE = 255
W = 8                   # bytes per field in a block's desc


class Profile:
    """A compiled profile: `blocks` is a list of (fc, start, count, keys, desc, tables), one
    read request each.  keys holds the fields' reading keys; desc W bytes per field: byte
    offset (bit offset for FC 01/02, 2 bytes), type index in TYPE_NAMES, word order, and the
    indexes of its scale, unit, bit decoder and not-available values in tables = (scales,
    units, bits, nas), 255 for none.  A bit decoder is ("s", count, first, key_format) or
    ("f", ((bit, key), ...)); not-available values a tuple of raw integers.  Packed so because a relay's hundred fields would otherwise cost ~80 bytes each."""

    def __init__(self, name, blocks):
        self.name = name
        self.blocks = blocks

    def requests(self):
        return len(self.blocks)

    def registers(self):
        return sum(b[2] for b in self.blocks)


def fields(block):
    """The fields of a block as (key, offset, type, order, scale, unit, bits, na) tuples."""
    keys, desc, tables = block[3], block[4], block[5]
    for i, key in enumerate(keys):
        j = W * i
        yield (key, (desc[j] << 8) | desc[j + 1], TYPE_NAMES[desc[j + 2]], desc[j + 3],
               _get(tables[0], desc[j + 4]), _get(tables[1], desc[j + 5]), _get(tables[2], desc[j + 6]),
               _get(tables[3], desc[j + 7]))


def _get(table, i):
    return None if i == _NONE else table[i]


def _err(where, msg):
    raise ProfileError("%s: %s" % (where, msg))


def _int(where, v, lo, hi, what):
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        _err(where, "%s must be an integer %d..%d, not %r" % (what, lo, hi, v))
    return v


def _bits(where, f, typ):
    steps = f.get("steps")
    flags = f.get("flags")
    if steps is None and flags is None:
        return None
    if typ not in mv.TYPES or mv.TYPES[typ][2]:
        _err(where, "steps/flags need an integer type, not %s" % typ)
    width = 16 * mv.TYPES[typ][0]
    if steps is not None:
        if not isinstance(steps, dict):
            _err(where, "steps must be an object {count, first, key}")
        n = _int(where, steps.get("count"), 1, width, "steps.count")
        first = _int(where, steps.get("first", 0), 0, width - n, "steps.first")
        fmt = steps.get("key", "step_%d")
        if not isinstance(fmt, str) or fmt.count("%d") != 1 or "%" in fmt.replace("%d", ""):
            _err(where, "steps.key must contain %d once, e.g. 'step_%d'")
        return ("s", n, first, fmt)
    if not isinstance(flags, dict) or not flags:
        _err(where, "flags must be an object {bit number: key}")
    out = []
    for b, name in flags.items():
        try:
            bit = int(b)
        except ValueError:
            bit = -1
        if not 0 <= bit < width:
            _err(where, "flag bit %r outside 0..%d" % (b, width - 1))
        if not isinstance(name, str) or not name:
            _err(where, "flag %s needs a key" % b)
        out.append((bit, name))
    out.sort()
    return ("f", tuple(out))


def _field(where, f, dfc, dorder, units):
    if not isinstance(f, dict):
        _err(where, "a field must be an object")
    key = f.get("key")
    if not isinstance(key, str) or not key:
        _err(where, "key missing")
    where = "%s (%s)" % (where, key)
    fc = _int(where, f.get("fc", dfc), 1, 4, "fc")
    addr = _int(where, f.get("addr"), 0, 65535, "addr")
    typ = f.get("type", "bit" if fc < 3 else "u16")
    if fc < 3:
        if typ != "bit":
            _err(where, "FC %d reads bits: type must be 'bit'" % fc)
        typ, n = "bit", 1
    else:
        t = None
        for k in mv.TYPES:         # share the interned name
            if k == typ:
                t = k
        if t is None:
            _err(where, "unknown type %r (one of %s)" % (typ, ", ".join(sorted(mv.TYPES))))
        typ, n = t, mv.TYPES[t][0]
    if addr + n > 65536:
        _err(where, "registers beyond 65535")
    order = f.get("order", dorder)
    if order not in ORDERS:
        _err(where, "order must be high_first (abcd), low_first (cdab), badc or dcba")
    dec = _int(where, f.get("decimals", 3), 0, 9, "decimals")
    try:
        scale = mv.parse_scale(f.get("scale"), dec)
    except (ValueError, TypeError) as e:
        _err(where, "bad scale: %s" % e)
    if scale is not None and typ == "bit":
        _err(where, "a bit has no scale")
    unit = f.get("unit")
    if unit is not None:
        if not isinstance(unit, str):
            _err(where, "unit must be text")
        unit = units.setdefault(unit, unit)
    bits = _bits(where, f, typ)
    na = _na(where, f.get("na"), typ, n)
    return fc, addr, n, (key, 0, typ, ORDERS[order], scale, unit, bits, na)


def _na(where, spec, typ, n):
    """A field's not-available values: a list of raw values (integers, negative ones in two's
    complement of the field's width, or hex text '0x8000') -> tuple of unsigned integers."""
    if spec is None:
        return None
    if typ == "bit" or not isinstance(spec, list) or not spec:
        _err(where, "na must be a list of raw register values, e.g. [65535] or [\"0x8000\"]")
    width = 16 * n
    out = []
    for v in spec:
        if isinstance(v, str):
            try:
                v = int(v, 16) if v.lower().startswith("0x") else int(v)
            except ValueError:
                v = None
        if not isinstance(v, int) or isinstance(v, bool) or not -(1 << (width - 1)) <= v < (1 << width):
            _err(where, "na value %r does not fit %s" % (v, typ))
        out.append(v & ((1 << width) - 1))
    return tuple(out)


def parse(doc, name=None):
    """The Profile for a profile document (a dict parsed from JSON); ProfileError says what
    is wrong and where."""
    if not isinstance(doc, dict):
        raise ProfileError("profile: not a JSON object")
    name = name or doc.get("name")
    where = "profile %s" % name
    if not isinstance(name, str) or not name:
        _err("profile", "name missing")
    flist = doc.get("fields")
    if not isinstance(flist, list) or not flist:
        _err(where, "no fields")
    dfc = _int(where, doc.get("fc", 3), 1, 4, "fc")
    dorder = doc.get("order", "high_first")
    gap = _int(where, doc.get("max_gap", 0), 0, MAX_REGS, "max_gap")
    most = _int(where, doc.get("max_regs", MAX_REGS), 1, MAX_REGS, "max_regs")
    units = {}
    keys = {}
    parsed = []
    for i, f in enumerate(flist):
        fc, addr, n, fld = _field("%s field %d" % (where, i + 1), f, dfc, dorder, units)
        for k in _keys(fld):
            if k in keys:
                _err(where, "key %s twice (fields %d and %d)" % (k, keys[k], i + 1))
            keys[k] = i + 1
        parsed.append((fc, addr, n, fld))
    parsed.sort(key=lambda p: (p[0], p[1]))
    return Profile(name, _plan(parsed, gap, most))


def _keys(fld):
    yield fld[0]
    bits = fld[6]
    if bits is None:
        return
    if bits[0] == "s":
        for i in range(bits[1]):
            yield bits[3] % (i + 1)
    else:
        for _, k in bits[1]:
            yield k


def _plan(parsed, gap, most):
    spans = []
    cur = None
    for fc, addr, n, fld in parsed:
        limit = MAX_BITS if fc < 3 else most
        if cur is not None and cur[0] == fc and addr <= cur[2] + gap and addr + n - cur[1] <= limit:
            cur[2] = max(cur[2], addr + n)
        else:
            cur = [fc, addr, addr + n, []]
            spans.append(cur)
        cur[3].append((addr, fld))
    scales, units, bits, nas = [], [], [], []
    tables = (scales, units, bits, nas)
    out = []
    for fc, start, end, members in spans:
        desc = bytearray(W * len(members))
        keys = []
        for j, (addr, fld) in enumerate(members):
            key, _, typ, order, scale, unit, bdec, na = fld
            off = addr - start if fc < 3 else 2 * (addr - start)
            keys.append(key)
            desc[W * j:W * j + W] = bytes((off >> 8, off & 0xFF, TYPE_NAMES.index(typ), order,
                                           _index(scales, scale), _index(units, unit), _index(bits, bdec),
                                           _index(nas, na)))
        out.append((fc, start, end - start, tuple(keys), bytes(desc), tables))
    return out


def _index(table, v):
    if v is None:
        return _NONE
    if v not in table:
        if len(table) >= _NONE:
            raise ProfileError("more than %d different scales, units or bit decoders" % _NONE)
        table.append(v)
    return table.index(v)


def span(block, lo=0, hi=None):
    """(first address, count) of the read covering fields lo..hi-1 of a block (registers, or
    bits for FC 01/02); for a block read in parts."""
    desc = block[4]
    if hi is None:
        hi = len(block[3])
    base = (desc[W * lo] << 8) | desc[W * lo + 1]
    end = base
    for j in range(W * lo, W * hi, W):
        t = desc[j + 2]
        e = ((desc[j] << 8) | desc[j + 1]) + (1 if t == 8 else 2 * mv.TYPES[TYPE_NAMES[t]][0])
        if e > end:
            end = e
    if block[0] < 3:
        return block[1] + base, end - base
    return block[1] + base // 2, (end - base) // 2


def decode(block, data, out, lo=0, hi=None):
    """Add the readings of fields lo..hi-1 of a block (all by default) to `out` as {key:
    (value, unit)}; `data` is the answer's data bytes (without the byte count) of the read
    `span(block, lo, hi)` gives.  A field the device marks as not available (a float that is
    NaN or infinite, a raw value in the field's `na` list) reads (None, unit): invalid, and
    its steps or flags are left out."""
    keys, desc, tables = block[3], block[4], block[5]
    scales, units, bitdecs, nas = tables
    if hi is None:
        hi = len(keys)
    base = (desc[W * lo] << 8) | desc[W * lo + 1]
    for i in range(lo, hi):
        j = W * i
        off = ((desc[j] << 8) | desc[j + 1]) - base
        t = desc[j + 2]
        if t == 8:
            out[keys[i]] = ((data[off >> 3] >> (off & 7)) & 1, None)
            continue
        typ = TYPE_NAMES[t]
        order = desc[j + 3]
        v = mv.value(data, off, typ, order, _get(scales, desc[j + 4]), _get(nas, desc[j + 7]))
        out[keys[i]] = (v, _get(units, desc[j + 5]))
        bits = _get(bitdecs, desc[j + 6])
        if bits is None or v is None:
            continue
        mask = mv.raw(data, off, mv.TYPES[typ][0], order)
        if bits[0] == "s":
            _, n, first, fmt = bits
            for k in range(n):
                out[fmt % (k + 1)] = ((mask >> (first + k)) & 1, None)
        else:
            for bit, k in bits[1]:
                out[k] = ((mask >> bit) & 1, None)
    return out
