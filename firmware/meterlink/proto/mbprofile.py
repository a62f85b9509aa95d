"""Modbus device profiles: a register map (JSON data) checked and compiled into read blocks,
neighbouring registers in one request, and the decoder of one block's answer."""
from meterlink.proto import mbvalue as mv

MAX_REGS = 125          # registers in one read (Modbus application protocol, FC 03/04)
MAX_BITS = 2000         # coils or discrete inputs in one read (FC 01/02)
ORDERS = {"high_first": mv.HIGH_FIRST, "low_first": mv.LOW_FIRST}


class ProfileError(ValueError):
    pass


class Profile:
    """A compiled profile: `blocks` is a list of (fc, start, count, fields); a field is
    (key, offset, type, order, scale, unit, bits) with the offset in bytes (bits for FC 01/02)
    and bits None, ("s", count, first, key_format) or ("f", ((bit, key), ...))."""

    def __init__(self, name, blocks):
        self.name = name
        self.blocks = blocks

    def requests(self):
        return len(self.blocks)

    def registers(self):
        return sum(b[2] for b in self.blocks)


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
        _err(where, "order must be high_first or low_first")
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
    return fc, addr, n, (key, 0, typ, ORDERS[order], scale, unit, bits)


def parse(doc, name=None):
    """The Profile for a profile document (a dict parsed from JSON); ProfileError says what
    is wrong and where."""
    if not isinstance(doc, dict):
        raise ProfileError("profile: not a JSON object")
    name = name or doc.get("name")
    where = "profile %s" % name
    if not isinstance(name, str) or not name:
        _err("profile", "name missing")
    fields = doc.get("fields")
    if not isinstance(fields, list) or not fields:
        _err(where, "no fields")
    dfc = _int(where, doc.get("fc", 3), 1, 4, "fc")
    dorder = doc.get("order", "high_first")
    gap = _int(where, doc.get("max_gap", 0), 0, MAX_REGS, "max_gap")
    most = _int(where, doc.get("max_regs", MAX_REGS), 1, MAX_REGS, "max_regs")
    units = {}
    keys = {}
    parsed = []
    for i, f in enumerate(fields):
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
    blocks = []
    cur = None
    for fc, addr, n, fld in parsed:
        limit = MAX_BITS if fc < 3 else most
        if cur is not None and cur[0] == fc and addr <= cur[4] + gap and addr + n - cur[1] <= limit:
            cur[4] = max(cur[4], addr + n)
        else:
            cur = [fc, addr, 0, [], addr + n]
            blocks.append(cur)
        cur[3].append((fc, addr, fld))
    out = []
    for fc, start, _, members, end in blocks:
        fields = []
        for _, addr, fld in members:
            off = addr - start if fc < 3 else 2 * (addr - start)
            fields.append((fld[0], off) + fld[2:])
        out.append((fc, start, end - start, fields))
    return out


def decode(block, data, out):
    """Add the readings of one block's answer (its data bytes, without the byte count) to
    `out` as {key: (value, unit)}; a float that is NaN or infinite gives no reading."""
    for key, off, typ, order, scale, unit, bits in block[3]:
        if typ == "bit":
            out[key] = ((data[off >> 3] >> (off & 7)) & 1, None)
            continue
        v = mv.value(data, off, typ, order, scale)
        if v is None:
            continue
        out[key] = (v, unit)
        if bits is None:
            continue
        mask = mv.raw(data, off, mv.TYPES[typ][0], order)
        if bits[0] == "s":
            _, n, first, fmt = bits
            for i in range(n):
                out[fmt % (i + 1)] = ((mask >> (first + i)) & 1, None)
        else:
            for bit, k in bits[1]:
                out[k] = ((mask >> bit) & 1, None)
    return out
