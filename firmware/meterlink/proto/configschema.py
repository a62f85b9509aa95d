"""The configuration schema: checks a whole (merged) configuration document and names the field
of every problem, e.g. `meters[3].address: ...`.  Pure; the device and the host tools share it."""

MAX_METERS_PER_LINE = 32        # IEC 62056-21 RS-485 bus
MAX_MODBUS_PER_LINE = 247       # Modbus RTU addresses 1..247
BAUDRATES = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
IEC_BAUDRATES = (300, 600, 1200, 2400, 4800, 9600, 19200)   # mode C baud characters 0..6
MAX_ID_LEN = 32
MAX_INT = 2147483647

# Field specs: (kind, args...).  "?" wraps a spec whose value may also be null.
PORT = {
    "baudrate": ("choice", BAUDRATES),
    "max_baudrate": ("choice", BAUDRATES),
    "bits": ("choice", (7, 8)),
    "parity": ("choice", ("N", "E", "O")),
    "stop": ("choice", (1, 2)),
    "idle_gap_ms": ("int", 0, 10000),
    "switch_delay_ms": ("int", 0, 5000),
    "echo": ("bool",),
}
METER = {
    "id": ("id",),
    "port": ("port",),
    "address": ("iec_address",),
    "readout": ("choice", ("short", "full")),
    "reaction_timeout_ms": ("int", 1, 60000),
    "char_timeout_ms": ("int", 1, 60000),
    "max_baudrate": ("choice", IEC_BAUDRATES),
    "obis": ("?", ("obis",)),
    "period_s": ("?", ("int", 1, 86400)),
}
METER_REQUIRED = ("id", "port")
MODBUS = {
    "id": ("id",),
    "port": ("port",),
    "address": ("int", 1, 247),
    "profile": ("profile",),
    "line": ("line",),
    "period_s": ("?", ("int", 1, 86400)),
    "timeout_ms": ("int", 1, 60000),
    "retries": ("int", 0, 10),
}
MODBUS_REQUIRED = ("id", "address", "profile")
TOP = {
    "version": ("int", 0, MAX_INT),
    "server": ("obj", {"url": ("url",)}),
    "apn": ("obj", {"name": ("apn",), "user": ("str", 64), "password": ("str", 64)}),
    "network": ("obj", {"prefer": ("choice", ("auto", "4g", "2g"))}),
    "send_period_min": ("num", 1, 240),
    "poll_period_s": ("int", 1, 86400),
    "watchdog": ("obj", {"timeout_ms": ("int", 1000, 3600000), "start_delay_s": ("int", 0, 3600),
                         "confirm_after_s": ("int", 0, 86400)}),
    "safe_mode": ("obj", {"crash_boots": ("int", 1, 100)}),
}

_TYPE_NAMES = {"int": "an integer", "num": "a number", "str": "text", "bool": "true or false",
               "dict": "an object", "list": "a list"}


class Report:
    def __init__(self, profiles):
        self.errors = []
        self.warnings = []
        self.profiles = profiles
        self.ports = ()

    def error(self, path, msg):
        self.errors.append("%s: %s" % (path, msg))

    def warn(self, path, msg):
        self.warnings.append("%s: %s" % (path, msg))


def _kind(v):
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


def _show(v):
    return "null" if v is None else repr(v)


def _want(r, path, v, kind):
    """True if v has the kind; otherwise record the error."""
    k = _kind(v)
    if k == kind or (kind == "num" and k == "int"):
        return True
    r.error(path, "must be %s, got %s" % (_TYPE_NAMES[kind], _show(v)))
    return False


def _range(r, path, v, kind, lo, hi):
    if _want(r, path, v, kind) and not lo <= v <= hi:
        r.error(path, "must be %s to %s, got %s" % (lo, hi, _show(v)))


def _allowed(s, extra):
    for c in s:
        if not (c.isalpha() or c.isdigit() or c in extra) or ord(c) > 126:
            return False
    return True


def _check(r, path, v, spec, shape=None):
    kind = spec[0]
    if kind == "?":
        if v is not None:
            _check(r, path, v, spec[1], shape)
    elif kind == "int" or kind == "num":
        _range(r, path, v, kind, spec[1], spec[2])
    elif kind == "bool":
        _want(r, path, v, "bool")
    elif kind == "str":
        if _want(r, path, v, "str") and len(v) > spec[1]:
            r.error(path, "at most %d characters" % spec[1])
    elif kind == "choice":
        if type(v) is not type(spec[1][0]) or v not in spec[1]:
            r.error(path, "must be one of %s, got %s" % (", ".join(_show(c) for c in spec[1]), _show(v)))
    elif kind == "obj":
        if _want(r, path, v, "dict"):
            _fields(r, path + ".", v, spec[1], shape)
    else:
        _SPECIAL[kind](r, path, v)


def _fields(r, prefix, obj, fields, shape=None):
    """Check every field of obj: by its rule, else by the shape of its default, else warn."""
    if type(shape) is not dict:
        shape = None
    for k, v in obj.items():
        path = prefix + k
        spec = fields.get(k)
        if spec is not None:
            _check(r, path, v, spec, shape.get(k) if shape else None)
        elif shape is not None and k in shape:
            _same_shape(r, path, v, shape[k])
        else:
            r.warn(path, "unknown field, ignored")


def _same_shape(r, path, v, default):
    """A field with no rule of its own must at least have its default's type."""
    if default is None:
        return
    kind = _kind(default)
    if _want(r, path, v, kind) and kind == "dict":
        for k, sub in v.items():
            if k in default:
                _same_shape(r, path + "." + k, sub, default[k])
            else:
                r.warn(path + "." + k, "unknown field, ignored")


def _url(r, path, v):
    if not _want(r, path, v, "str"):
        return
    scheme, sep, rest = v.partition("://")
    host = rest.split("/", 1)[0]
    name, colon, port = host.rpartition(":") if ":" in host else (host, "", "")
    if not sep or scheme not in ("http", "https") or not name or not _allowed(name, ".-"):
        r.error(path, "must be an http:// URL with a host name, got %s" % _show(v))
    elif colon and not (port.isdigit() and 0 < int(port) < 65536):
        r.error(path, "bad port in %s" % _show(v))


def _apn(r, path, v):
    if _want(r, path, v, "str") and (len(v) > 100 or not _allowed(v, ".-_")):
        r.error(path, "an APN is up to 100 letters, digits, '.', '-' and '_', got %s" % _show(v))


def _id(r, path, v):
    if _want(r, path, v, "str") and not (0 < len(v) <= MAX_ID_LEN and _allowed(v, "_-.")):
        r.error(path, "1 to %d letters, digits, '_', '-' or '.', got %s" % (MAX_ID_LEN, _show(v)))


def _port(r, path, v):
    if _want(r, path, v, "str") and v not in r.ports:
        r.error(path, "unknown port %s (ports: %s)" % (_show(v), ", ".join(sorted(r.ports))))


def _iec_address(r, path, v):
    # IEC 62056-21: up to 32 characters, digits, letters and space
    if _want(r, path, v, "str") and not (0 < len(v) <= 32 and _allowed(v, " ")):
        r.error(path, "1 to 32 letters, digits or spaces (flag + serial number), got %s" % _show(v))


def _obis(r, path, v):
    if not _want(r, path, v, "list"):
        return
    for i, code in enumerate(v):
        if not (_kind(code) == "str" and 0 < len(code) <= 24 and _allowed(code, "-:.*&")):
            r.error("%s[%d]" % (path, i), "an OBIS code such as '1.8.0' or '1-0:1.8.0', got %s"
                    % _show(code))


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


def _line(r, path, v):
    ls = parse_line(v)
    if ls is None:
        r.error(path, "a line setting such as '9600 8N1' or '19200 8E1' (baud %s; 7 or 8 bits;"
                      " N, E or O; 1 or 2 stop bits), got %s"
                % ("/".join(str(b) for b in BAUDRATES), _show(v)))
    elif ls[1] != 8:
        r.error(path, "Modbus RTU needs 8 data bits, got %s" % _show(v))


def _profile(r, path, v):
    if _want(r, path, v, "str") and r.profiles is not None and v not in r.profiles:
        known = ", ".join(sorted(r.profiles)) or "none installed"
        r.error(path, "unknown profile %s (known: %s)" % (_show(v), known))


_SPECIAL = {"url": _url, "apn": _apn, "id": _id, "port": _port, "iec_address": _iec_address,
            "obis": _obis, "line": _line, "profile": _profile}


def _entries(r, doc, name, fields, required, limit, ids):
    """Check one device list; returns [(index, entry)] of the entries that are objects."""
    items = doc.get(name)
    out = []
    if not _want(r, name, items, "list"):
        return out
    per_port = {}
    addresses = {}
    for i, e in enumerate(items):
        path = "%s[%d]" % (name, i)
        if not _want(r, path, e, "dict"):
            continue
        _fields(r, path + ".", e, fields)
        for k in required:
            if k not in e:
                r.error(path + "." + k, "missing")
        dev_id = e.get("id")
        if type(dev_id) is str:
            if dev_id in ids:
                r.error(path + ".id", "%s is already used by %s" % (_show(dev_id), ids[dev_id]))
            else:
                ids[dev_id] = path
        port = e.get("port", "rs485")
        if type(port) is not str:
            continue
        n = per_port.get(port, 0) + 1
        per_port[port] = n
        if n == limit + 1:
            r.error(path + ".port", "line %s already has %d %s (at most %d per line)"
                    % (port, limit, name, limit))
        addr = e.get("address")
        key = addr.lstrip("0") if type(addr) is str else addr   # IEC: leading zeros do not count
        if addr is not None and _kind(addr) in ("str", "int"):
            other = addresses.get((port, key))
            if other is not None:
                r.error(path + ".address", "%s is already used by %s on line %s"
                        % (_show(addr), other, port))
            else:
                addresses[(port, key)] = path
        out.append((i, e))
    return out


def _ports(r, doc, shape):
    ports = doc.get("ports")
    if not _want(r, "ports", ports, "dict"):
        return
    r.ports = ports
    known = shape.get("ports") or {}
    for name, p in ports.items():
        path = "ports." + name
        if name not in known:
            r.warn(path, "not a port of the standard boards (%s)" % ", ".join(sorted(known)))
        if _want(r, path, p, "dict"):
            _fields(r, path + ".", p, PORT, known.get(name))
            top = p.get("max_baudrate")
            if _kind(top) == "int" and _kind(p.get("baudrate")) == "int" and top < p["baudrate"]:
                r.error(path + ".max_baudrate", "lower than baudrate %d" % p["baudrate"])


def validate(doc, profiles=None, shape=None):
    """(errors, warnings) for a merged configuration document.

    `profiles`: the Modbus profile names available, or None to leave profile names unchecked.
    `shape`: the defaults; a field with no rule here must have its default's type.
    """
    r = Report(profiles)
    if not _want(r, "config", doc, "dict"):
        return r.errors, r.warnings
    shape = shape or {}
    _ports(r, doc, shape)
    ids = {}
    meters = _entries(r, doc, "meters", METER, METER_REQUIRED, MAX_METERS_PER_LINE, ids)
    _entries(r, doc, "modbus", MODBUS, MODBUS_REQUIRED, MAX_MODBUS_PER_LINE, ids)
    sharing = {}
    for i, e in meters:
        port = e.get("port")
        if type(port) is str:
            sharing[port] = sharing.get(port, 0) + 1
    for i, e in meters:
        n = sharing.get(e.get("port"), 0) if type(e.get("port")) is str else 0
        if n > 1 and "address" not in e:
            r.error("meters[%d].address" % i, "needed: %d meters share line %s" % (n, e["port"]))
    rest = {}
    for k, v in doc.items():
        if k not in ("ports", "meters", "modbus"):
            rest[k] = v
    _fields(r, "", rest, TOP, shape)
    if profiles is None and doc.get("modbus"):
        r.warn("modbus", "the list of installed profiles is not available; profile names not checked")
    return r.errors, r.warnings


def profile_names(directory=None):
    """Names of the Modbus profiles (files in meterlink/profiles), or None if it cannot be read.

    By default the folder next to this module, else /lib/meterlink/profiles (where a firmware
    with meterlink frozen in keeps them: frozen modules have no folder of their own).
    """
    import os
    dirs = (directory,) if directory else (__file__.rsplit("/", 2)[0] + "/profiles",
                                           "/lib/meterlink/profiles")
    files = None
    for d in dirs:
        try:
            files = os.listdir(d)
            break
        except OSError:
            pass
    if files is None:
        return None
    names = []
    for f in files:
        stem = f.split(".", 1)[0]
        if stem and stem[0] not in "_." and stem not in names:
            names.append(stem)
    return names
