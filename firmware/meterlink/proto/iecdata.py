"""IEC 62056-21 data sets: `address(value*unit)` lines, OBIS codes, units, exact numbers.

Values stay text, exactly as the meter sent them (blanks removed), so no float ever rounds
an energy register; `decimal()` turns one into a scaled integer when arithmetic is needed.
"""
from meterlink.proto.iec62056 import IecError

ADDRESS_MAX = 32     # the standard says 16; full OBIS with A-B: and *F prefixes needs more
VALUE_MAX = 128
UNIT_MAX = 16

# canonical spelling of the units meters write in several cases (kVArh, kVarh, kvarh)
_UNITS = {}
for _u in ("Wh", "kWh", "MWh", "varh", "kvarh", "Mvarh", "VAh", "kVAh", "W", "kW", "MW",
           "var", "kvar", "VA", "kVA", "V", "kV", "A", "Hz", "s", "min", "h", "deg", "%"):
    _UNITS[_u.lower()] = _u


def unit(text):
    """A unit in its canonical spelling (compared case-insensitively); '' and '-' -> None."""
    if not text or text == "-":
        return None
    return _UNITS.get(text.lower(), text)


def _printable(line, a, b, what):
    for i in range(a, b):
        c = line[i]
        if c < 0x20 or c > 0x7E:
            raise IecError("%s holds a non-printable byte 0x%02x" % (what, c))


def _strip(line, a, b):
    while a < b and line[a] == 0x20:
        a += 1
    while b > a and line[b - 1] == 0x20:
        b -= 1
    return a, b


def parse_line(line):
    """The data sets of one data line (bytes without CR LF) and whether it ends the data.

    Returns ([(address, index, value, unit), ...], ended).  Several data sets may share a
    line; a set without its own address belongs to the one before it (index 2, 3...); the
    first set of a line without any address gets address "".  `!` ends the data, glued to
    the last set or alone.  Raises IecError for a malformed line.
    """
    out = []
    n = len(line)
    i = 0
    address = ""
    index = 0
    while i < n:
        c = line[i]
        if c == 0x20:
            i += 1
            continue
        if c == 0x21:                 # '!'
            i += 1
            while i < n and line[i] in (0x20, 0x0D):
                i += 1
            if i < n:
                raise IecError("text after the end of data '!'")
            return out, True
        j = line.find(b"(", i)
        if j < 0:
            raise IecError("data set without '(': %r" % bytes(line[i:i + 20]))
        a, b = _strip(line, i, j)
        if b > a:
            if b - a > ADDRESS_MAX:
                raise IecError("address longer than %d characters" % ADDRESS_MAX)
            _printable(line, a, b, "address")
            for k in range(a, b):
                if line[k] in b")/!*(" and not (line[k] == 0x2A and k > a):
                    raise IecError("address holds %r" % chr(line[k]))
            address = bytes(line[a:b]).decode()
            index = 1
        elif index:
            index += 1
        else:
            index = 1
        k = line.find(b")", j + 1)
        if k < 0:
            raise IecError("data set without ')'")
        if line.find(b"(", j + 1, k) >= 0:
            raise IecError("'(' inside a value")
        if k - j - 1 > VALUE_MAX + UNIT_MAX + 1:
            raise IecError("value longer than %d characters" % VALUE_MAX)
        _printable(line, j + 1, k, "value")
        out.append(_value(line, j + 1, k, address, index))
        i = k + 1
    return out, False


def _value(line, a, b, address, index):
    star = -1 if address.startswith("97.") else line.find(b"*", a, b)
    u = None
    if star >= 0:
        ua, ub = _strip(line, star + 1, b)
        if ub - ua > UNIT_MAX:
            raise IecError("unit longer than %d characters" % UNIT_MAX)
        u = unit(bytes(line[ua:ub]).decode())
        b = star
    a, b = _strip(line, a, b)
    text = bytes(line[a:b]).decode()
    if " " in text and _signed_number(text.replace(" ", "")):
        text = text.replace(" ", "")       # `- 1.0`: a sign parted from its number
    return (address, index, text, u)


def _signed_number(text):
    return decimal(text) is not None


def decimal(text):
    """(mantissa, scale) of a decimal number: "-012.50" -> (-1250, 2); None if not one."""
    n = len(text)
    if n == 0:
        return None
    i = 0
    neg = False
    if text[0] in "+-":
        neg = text[0] == "-"
        i = 1
    m = 0
    scale = -1
    digits = 0
    while i < n:
        c = text[i]
        if c == ".":
            if scale >= 0:
                return None
            scale = 0
        elif "0" <= c <= "9":
            m = m * 10 + ord(c) - 48
            digits += 1
            if scale >= 0:
                scale += 1
        else:
            return None
        i += 1
    if not digits:
        return None
    return (-m if neg else m), max(scale, 0)


def code(address):
    """The short OBIS code of an address: `1-0:1.8.0*255` -> `1.8.0`; history suffixes
    (`*1`..`*12`, `&n`) stay, they name another register."""
    c = address.find(":")
    if c >= 0:
        address = address[c + 1:]
    if address.endswith("*255"):
        address = address[:-4]
    return address


def history(address):
    """(base code, n) of a billing-history address: `1.8.1*3` -> ("1.8.1", 3); n=0 if none."""
    address = code(address)
    for sep in "*&":
        k = address.find(sep)
        if k > 0 and address[k + 1:].isdigit():
            return address[:k], int(address[k + 1:])
    return address, 0


def split_range(value):
    """(start, end) of an event range value; end None while the event goes on.
    `18-04-07,10:46,00-00-00,00:00` and `25-11-17,13:12:46;...` forms; None if not a range."""
    k = value.find(";")
    if k >= 0:
        start, end = value[:k], value[k + 1:]
    else:
        parts = value.split(",")
        if len(parts) != 4:
            return None
        start, end = parts[0] + "," + parts[1], parts[2] + "," + parts[3]
    if not end or end.startswith("00-00-00") or end.startswith("99-99-99"):
        end = None
    return start, end


def unit_announcement(value):
    """{code: unit} from a `97.x` list such as `32.7.0*V,31.7.0*A,33.7.0*-` (TEDAS-2023 meters
    send instantaneous values without units and announce them this way)."""
    out = {}
    for item in value.split(","):
        k = item.find("*")
        if k > 0:
            out[code(item[:k].strip())] = unit(item[k + 1:].strip())
    return out


# What a meter reading keeps unless its configuration names other codes: energy registers
# (3.8.0/4.8.0 are the reactive registers of older meters), voltages, currents, cos phi,
# frequency, the meter's time and date, its serial number.
DEFAULT_SELECTION = (
    "1.8.x", "2.8.x", "3.8.0", "4.8.0", "5.8.0", "6.8.0", "7.8.0", "8.8.0",
    "32.7.0", "52.7.0", "72.7.0", "31.7.0", "51.7.0", "71.7.0", "91.7.0",
    "13.7.0", "33.7.0", "53.7.0", "73.7.0", "14.7.0",
    "0.9.1", "0.9.2", "0.0.0", "C.1.0", "96.1.0",
)


def _group_matches(pattern, group):
    if pattern == group:
        return True
    if pattern == "x":
        return group.find("*") < 0 and group.find("&") < 0
    if pattern.endswith("*x") or pattern.endswith("&x"):
        p = pattern[:-1]
        return group.startswith(p) and group[len(p):].isdigit()
    return False


class Selector:
    """Which codes to keep: exact codes, `x` for any one group (`1.8.x`), `*x` for any
    history entry (`1.8.0*x`), or `*` for everything.

    key(code) returns the kept code as one shared string object (or None): the readings of
    32 meters then share their keys instead of holding 32 copies each.
    """
    CACHE_MAX = 64

    def __init__(self, patterns=None):
        if patterns is None:
            patterns = DEFAULT_SELECTION
        self.all = "*" in patterns
        self._known = {}        # code -> the same code, shared
        self.wild = []
        for p in patterns:
            p = code(p)
            groups = p.split(".")
            if "x" in groups or p.endswith("*x") or p.endswith("&x"):
                self.wild.append(groups)
            elif p != "*":
                self._known[p] = p
        self._fixed = len(self._known)

    def key(self, c):
        k = self._known.get(c)
        if k is not None:
            return k
        if not (self.all or self._wild_match(c)):
            return None
        if len(self._known) < self._fixed + self.CACHE_MAX:
            self._known[c] = c
        return c

    def __call__(self, c):
        return self.key(c) is not None

    def _wild_match(self, c):
        if not self.wild:
            return False
        groups = c.split(".")
        for w in self.wild:
            if len(w) == len(groups):
                for i in range(len(w)):
                    if not _group_matches(w[i], groups[i]):
                        break
                else:
                    return True
        return False
