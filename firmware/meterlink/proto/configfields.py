"""Field checks for the configuration schema: types, ranges, choices and the special formats
(URL, APN, ids, IEC addresses, OBIS codes, line settings).  Pure; see configschema."""

MAX_ID_LEN = 32
BAUDRATES = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)

_TYPE_NAMES = {"int": "an integer", "num": "a number", "str": "text", "bool": "true or false",
               "dict": "an object", "list": "a list"}


class Report:
    # A field's path is passed as (prefix, key) and joined only for a message: a document with
    # hundreds of devices is checked without a string per field.
    def __init__(self, profiles):
        self.errors = []
        self.warnings = []
        self.profiles = profiles
        self.ports = ()

    def error(self, p, k, msg):
        self.errors.append("%s%s: %s" % (p, k, msg))

    def warn(self, p, k, msg):
        self.warnings.append("%s%s: %s" % (p, k, msg))


def kind_of(v):
    t = type(v)
    if t is bool:
        return "bool"
    if t is int:
        return "int"
    if t is float:
        return "num"
    if t is str:
        return "str"
    if t is dict:
        return "dict"
    if t is list:
        return "list"
    return "null" if v is None else "other"


def show(v):
    return "null" if v is None else repr(v)


def want(r, p, k, v, kind):
    """True if v has the kind; otherwise record the error."""
    got = kind_of(v)
    if got == kind or (kind == "num" and got == "int"):
        return True
    r.error(p, k, "must be %s, got %s" % (_TYPE_NAMES[kind], show(v)))
    return False


def _allowed(s, extra):
    for c in s:
        if not (c.isalpha() or c.isdigit() or c in extra) or ord(c) > 126:
            return False
    return True


def _check(r, p, k, v, spec, shape=None):
    kind = spec[0]
    if kind == "?":
        if v is not None:
            _check(r, p, k, v, spec[1], shape)
    elif kind == "int" or kind == "num":
        if want(r, p, k, v, kind) and not spec[1] <= v <= spec[2]:
            r.error(p, k, "must be %s to %s, got %s" % (spec[1], spec[2], show(v)))
    elif kind == "bool":
        want(r, p, k, v, "bool")
    elif kind == "str":
        if want(r, p, k, v, "str") and len(v) > spec[1]:
            r.error(p, k, "at most %d characters" % spec[1])
    elif kind == "choice":
        if type(v) is not type(spec[1][0]) or v not in spec[1]:
            r.error(p, k, "must be one of %s, got %s" % (", ".join(show(c) for c in spec[1]), show(v)))
    elif kind == "obj":
        if want(r, p, k, v, "dict"):
            check_fields(r, p + k + ".", v, spec[1], shape)
    else:
        _SPECIAL[kind](r, p, k, v)


def check_fields(r, prefix, obj, fields, shape=None, skip=()):
    """Check every field of obj: by its rule, else by the shape of its default, else warn."""
    if type(shape) is not dict:
        shape = None
    for k, v in obj.items():
        if k in skip:
            continue
        spec = fields.get(k)
        if spec is not None:
            _check(r, prefix, k, v, spec, shape.get(k) if shape else None)
        elif shape is not None and k in shape:
            _same_shape(r, prefix, k, v, shape[k])
        else:
            r.warn(prefix, k, "unknown field, ignored")


def _same_shape(r, p, k, v, default):
    """A field with no rule of its own must at least have its default's type."""
    if default is None:
        return
    kind = kind_of(default)
    if want(r, p, k, v, kind) and kind == "dict":
        for sub_k, sub in v.items():
            if sub_k in default:
                _same_shape(r, p + k + ".", sub_k, sub, default[sub_k])
            else:
                r.warn(p + k + ".", sub_k, "unknown field, ignored")


def _url(r, p, k, v):
    if not want(r, p, k, v, "str"):
        return
    scheme, sep, rest = v.partition("://")
    host = rest.split("/", 1)[0]
    name, colon, port = host.rpartition(":") if ":" in host else (host, "", "")
    if not sep or scheme not in ("http", "https") or not name or not _allowed(name, ".-"):
        r.error(p, k, "must be an http:// URL with a host name, got %s" % show(v))
    elif colon and not (port.isdigit() and 0 < int(port) < 65536):
        r.error(p, k, "bad port in %s" % show(v))


def _apn(r, p, k, v):
    if want(r, p, k, v, "str") and (len(v) > 100 or not _allowed(v, ".-_")):
        r.error(p, k, "an APN is up to 100 letters, digits, '.', '-' and '_', got %s" % show(v))


def _id(r, p, k, v):
    if want(r, p, k, v, "str") and not (0 < len(v) <= MAX_ID_LEN and _allowed(v, "_-.")):
        r.error(p, k, "1 to %d letters, digits, '_', '-' or '.', got %s" % (MAX_ID_LEN, show(v)))


def _port(r, p, k, v):
    if want(r, p, k, v, "str") and v not in r.ports:
        r.error(p, k, "unknown port %s (ports: %s)" % (show(v), ", ".join(sorted(r.ports))))


def _iec_address(r, p, k, v):
    # IEC 62056-21: up to 32 characters, digits, letters and space
    if want(r, p, k, v, "str") and not (0 < len(v) <= 32 and _allowed(v, " ")):
        r.error(p, k, "1 to 32 letters, digits or spaces (flag + serial number), got %s" % show(v))


def _obis(r, p, k, v):
    if not want(r, p, k, v, "list"):
        return
    for i, code in enumerate(v):
        if not (kind_of(code) == "str" and 0 < len(code) <= 24 and _allowed(code, "-:.*&")):
            r.error(p + k, "[%d]" % i, "an OBIS code such as '1.8.0' or '1-0:1.8.0', got %s"
                    % show(code))


def parse_line(text):
    """(baudrate, bits, parity, stop) from '9600 8N1', or None if it is not such a setting."""
    if type(text) is not str:
        return None
    parts = text.split()
    if len(parts) != 2 or not parts[0].isdigit() or len(parts[1]) != 3:
        return None
    baud = int(parts[0])
    bits, parity, stop = parts[1][0], parts[1][1].upper(), parts[1][2]
    if baud not in BAUDRATES or bits not in "78" or parity not in "NEO" or stop not in "12":
        return None
    return baud, int(bits), parity, int(stop)


def _line(r, p, k, v):
    ls = parse_line(v)
    if ls is None:
        r.error(p, k, "a line setting such as '9600 8N1' or '19200 8E1' (baud %s; 7 or 8 bits;"
                      " N, E or O; 1 or 2 stop bits), got %s"
                % ("/".join(str(b) for b in BAUDRATES), show(v)))
    elif ls[1] != 8:
        r.error(p, k, "Modbus RTU needs 8 data bits, got %s" % show(v))


def _profile(r, p, k, v):
    if want(r, p, k, v, "str") and r.profiles is not None and v not in r.profiles:
        known = ", ".join(sorted(r.profiles)) or "none installed"
        r.error(p, k, "unknown profile %s (known: %s)" % (show(v), known))


_SPECIAL = {"url": _url, "apn": _apn, "id": _id, "port": _port, "iec_address": _iec_address,
            "obis": _obis, "line": _line, "profile": _profile}


