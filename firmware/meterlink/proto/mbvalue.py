"""Modbus register values to exact readings: integers, scaled decimal text, and float32 as the
shortest decimal text that reads back to the same float."""
# Integer arithmetic only: an ESP32's floats are single precision, and nothing may drift.

# type name -> (registers, signed, float)
TYPES = {
    "u16": (1, False, False), "s16": (1, True, False),
    "u32": (2, False, False), "s32": (2, True, False),
    "f32": (2, False, True),
    "u48": (3, False, False),
    "u64": (4, False, False), "s64": (4, True, False),
}

# Register and byte order of a multi-register value: bit 0 set = the least significant register
# first ("word swapped"), bit 1 set = the two bytes of each register swapped.  For a float32
# whose bytes are A B C D most significant first: ABCD 0, CDAB 1, BADC 2, DCBA 3.
HIGH_FIRST = 0      # the most significant register first (Modbus' own order)
LOW_FIRST = 1
BYTES_SWAPPED = 2


def raw(data, off, nregs, order, signed=False):
    """The integer in `nregs` registers of `data` (bytes) from byte offset `off`."""
    v = 0
    if order == HIGH_FIRST:
        for i in range(off, off + 2 * nregs):
            v = (v << 8) | data[i]
    else:
        for k in range(nregs):
            i = off + 2 * (nregs - 1 - k if order & LOW_FIRST else k)
            if order & BYTES_SWAPPED:
                v = (v << 16) | (data[i + 1] << 8) | data[i]
            else:
                v = (v << 16) | (data[i] << 8) | data[i + 1]
    if signed and v >> (16 * nregs - 1):
        v -= 1 << (16 * nregs)
    return v


def decimal_text(n, e):
    """n * 10**e as decimal text, with -e decimals when e < 0 ('230.0', '-0.05')."""
    if e >= 0:
        return str(n * 10 ** e)
    s = str(abs(n))
    k = -e
    if len(s) <= k:
        s = "0" * (k - len(s) + 1) + s
    return ("-" if n < 0 else "") + s[:-k] + "." + s[-k:]


def parse_decimal(text):
    """'-0.001' -> (-1, 3) meaning -1 / 10**3; '1e-3' and '25' work too."""
    s = text.strip().lower()
    exp = 0
    i = s.find("e")
    if i >= 0:
        exp = int(s[i + 1:])
        s = s[:i]
    neg = s.startswith("-")
    if neg or s.startswith("+"):
        s = s[1:]
    k = 0
    i = s.find(".")
    if i >= 0:
        k = len(s) - i - 1
        s = s[:i] + s[i + 1:]
    if not s or not s.isdigit():
        raise ValueError("not a decimal number: %r" % text)
    n = int(s)
    k -= exp
    if k < 0:
        n *= 10 ** -k
        k = 0
    return (-n if neg else n), k


def parse_scale(spec, decimals=3):
    """A profile's scale -> (num, k, div, decimals): value = raw * num / (10**k * div).

    spec: a number or text ('0.1', '10', '1e-3') or a fraction '1/3600000'.  Only a
    fraction whose divisor is not a power of ten needs rounding, to `decimals` places.
    """
    if spec is None:
        return None
    if isinstance(spec, float):
        spec = "%.7g" % spec
    spec = str(spec)
    div = 1
    i = spec.find("/")
    if i >= 0:
        div = int(spec[i + 1:])
        spec = spec[:i]
        if div <= 0:
            raise ValueError("scale divisor must be positive")
    num, k = parse_decimal(spec)
    while div % 10 == 0:
        div //= 10
        k += 1
    if num == 1 and k == 0 and div == 1:
        return None
    return (num, k, div, decimals)


def scaled(n, e, scale):
    """n * 10**e (exact) times the scale: an int when it stays whole and unscaled, else text."""
    if scale is None:
        return n if e == 0 else decimal_text(n, e)
    num, k, div, decimals = scale
    n *= num
    e -= k
    if div == 1:
        return n if e == 0 and k == 0 else decimal_text(n, e)
    # a divisor other than 10**k: round half away from zero to `decimals` places
    shift = e + decimals
    if shift >= 0:
        top = n * 10 ** shift
        den = div
    else:
        top = n
        den = div * 10 ** -shift
    q = (2 * abs(top) + den) // (2 * den)
    return decimal_text(-q if top < 0 else q, -decimals)


def f32_shortest(bits):
    """(n, e) with n * 10**e the shortest decimal that reads back as this float32, or None
    for NaN and infinities."""
    exp = (bits >> 23) & 0xFF
    m = bits & 0x7FFFFF
    neg = bits >> 31
    if exp == 255:
        return None
    if exp == 0:
        e2 = -149
    else:
        m |= 0x800000
        e2 = exp - 150
    if m == 0:
        return 0, 0
    # the values that round to this float lie between the neighbours' midpoints; in units
    # of 2**(e2-2): value 4m, upper 4m+2, lower 4m-2 (4m-1 just above a power of two)
    lo = 4 * m - (1 if (m == 0x800000 and exp > 1) else 2)
    hi = 4 * m + 2
    v = 4 * m
    if e2 >= 2:
        f = 1 << (e2 - 2)
        v, lo, hi, den = v * f, lo * f, hi * f, 1
    else:
        den = 1 << (2 - e2)
    inclusive = (m & 1) == 0      # round-half-even: a tie goes to the even mantissa
    d = len(str(hi // den)) if hi >= den else 1 - len(str(den // hi))
    while True:
        a = den * 10 ** d if d > 0 else den
        b = 10 ** -d if d < 0 else 1
        t = 2 * v * b + a
        q = t // (2 * a)
        if q & 1 and t % (2 * a) == 0:
            q -= 1                  # an exact tie rounds to even, as printf does
        c = q * a
        if q and (lo * b < c < hi * b or (inclusive and (c == lo * b or c == hi * b))):
            break
        d -= 1
    while q % 10 == 0:
        q //= 10
        d += 1
    return (-q if neg else q), d


def value(data, off, typ, order, scale, na=None):
    """One field's reading from the response `data` at byte offset `off`; None when the
    device says it has no value: a float32 NaN or infinity, or a raw value listed in `na`
    (the registers as unsigned integer, e.g. 0xFFFF, 0x8000)."""
    nregs, signed, isfloat = TYPES[typ]
    if na is not None and raw(data, off, nregs, order) in na:
        return None
    n = raw(data, off, nregs, order, signed)
    if isfloat:
        r = f32_shortest(n)
        if r is None:
            return None
        n, e = r
        if scale is not None and scale[2] == 1:
            n, e = n * scale[0], e - scale[1]
            while e < 0 and n % 10 == 0:       # as short as the float itself
                n //= 10
                e += 1
            scale = None
        v = scaled(n, e, scale)
        return v if isinstance(v, str) else str(v)
    return scaled(n, 0, scale)

