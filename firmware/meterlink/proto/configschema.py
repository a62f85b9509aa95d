"""The configuration schema: checks a whole (merged) configuration document and names the field
of every problem, e.g. `meters[3].address: ...`.  Pure; the device and the host tools share it."""

from meterlink.proto.configfields import BAUDRATES, Report, check_fields, kind_of, show, want

MAX_METERS_PER_LINE = 32        # IEC 62056-21 RS-485 bus
MAX_MODBUS_PER_LINE = 247       # Modbus RTU addresses 1..247
IEC_BAUDRATES = (300, 600, 1200, 2400, 4800, 9600, 19200)   # mode C baud characters 0..6
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
# a meter's session settings, also accepted grouped under "overrides" (drivers/iecmeter.py)
METER_TIMING = {
    "reaction_timeout_ms": ("int", 1, 60000),
    "char_timeout_ms": ("int", 1, 60000),
    "session_timeout_ms": ("int", 1000, 3600000),
    "switch_delay_ms": ("int", 0, 5000),
    "idle_gap_ms": ("int", 0, 10000),
    "retries": ("int", 0, 10),
    "max_baudrate": ("choice", IEC_BAUDRATES),
}
METER = {
    "id": ("id",),
    "port": ("port",),
    "address": ("iec_address",),
    "readout": ("choice", ("short", "full")),
    "obis": ("?", ("obis",)),
    "period_s": ("?", ("int", 1, 86400)),
    "overrides": ("obj", METER_TIMING),
}
METER.update(METER_TIMING)
METER_REQUIRED = ("id", "port")
MODBUS = {
    "id": ("id",),
    "port": ("port",),
    "address": ("int", 1, 247),
    "profile": ("profile",),
    "line": ("line",),
    "period_s": ("?", ("int", 1, 86400)),
    "timeout_ms": ("int", 20, 10000),
    "retries": ("int", 0, 5),
    "gap_ms": ("int", 0, 2000),
}
MODBUS_REQUIRED = ("id", "address", "profile")
TOP = {
    "version": ("int", 0, MAX_INT),
    "server": ("obj", {"url": ("url",)}),
    "apn": ("obj", {"name": ("apn",), "user": ("str", 64), "password": ("str", 64)}),
    "network": ("obj", {"prefer": ("choice", ("auto", "4g", "2g"))}),
    "send_period_min": ("num", 1, 240),
    "uplink": ("obj", {"rollback_after": ("int", 1, 10)}),
    "poll_period_s": ("int", 1, 86400),
    "watchdog": ("obj", {"timeout_ms": ("int", 1000, 3600000), "start_delay_s": ("int", 0, 3600),
                         "confirm_after_s": ("int", 0, 86400)}),
    "safe_mode": ("obj", {"crash_boots": ("int", 1, 100)}),
}

def _port_of(e):
    port = e.get("port", "rs485")
    return port if type(port) is str else None


def _address_key(addr):
    if type(addr) is str:
        return addr.lstrip("0")     # IEC 62056-21: leading zeros of an address do not count
    return addr if type(addr) is int else None


def _first_with(items, i, port, key):
    """The index of the first entry before i on the line `port` with the address `key`."""
    for j in range(i):
        e = items[j]
        if type(e) is dict and _port_of(e) == port and _address_key(e.get("address")) == key:
            return j
    return None


def _entries(r, doc, name, fields, required, limit):
    """Check one device list; returns {port: number of entries on that line}."""
    items = doc.get(name)
    lines = {}
    if not want(r, "", name, items, "list"):
        return lines
    taken = {}      # port -> bytearray: a bit per integer address already used on that line
    for i, e in enumerate(items):
        if not want(r, name, "[%d]" % i, e, "dict"):
            continue
        p = "%s[%d]." % (name, i)
        check_fields(r, p, e, fields)
        for k in required:
            if k not in e:
                r.error(p, k, "missing")
        port = _port_of(e)
        if port is None:
            continue
        n = lines.get(port, 0) + 1
        lines[port] = n
        if n == limit + 1:
            r.error(p, "port", "line %s already has %d %s (at most %d per line)" % (port, limit, name, limit))
        key = _address_key(e.get("address"))
        if type(key) is int:
            if not 0 <= key < 256:
                continue
            bits = taken.get(port)
            if bits is None:
                bits = taken[port] = bytearray(32)
            if not bits[key >> 3] & (1 << (key & 7)):
                bits[key >> 3] |= 1 << (key & 7)
                continue
        if key is not None:
            j = _first_with(items, i, port, key)
            if j is not None:
                r.error(p, "address", "%s is already used by %s[%d] on line %s"
                        % (show(e["address"]), name, j, port))
    return lines


def _unique_ids(r, doc):
    """Every device id once, across meters and Modbus devices."""
    where = []
    for name in ("meters", "modbus"):
        items = doc.get(name)
        if type(items) is list:
            for i, e in enumerate(items):
                if type(e) is dict and type(e.get("id")) is str:
                    where.append(e["id"])
    where.sort()
    dups = [where[i] for i in range(1, len(where)) if where[i] == where[i - 1]]
    if not dups:
        return
    seen = {}
    for name in ("meters", "modbus"):
        for i, e in enumerate(doc[name]):
            dev_id = e.get("id") if type(e) is dict else None
            if dev_id in dups:
                if dev_id in seen:
                    r.error("%s[%d]." % (name, i), "id", "%s is already used by %s" % (show(dev_id), seen[dev_id]))
                else:
                    seen[dev_id] = "%s[%d]" % (name, i)


def _ports(r, doc, shape):
    ports = doc.get("ports")
    if not want(r, "", "ports", ports, "dict"):
        return
    r.ports = ports
    known = shape.get("ports") or {}
    for name, port in ports.items():
        if name not in known:
            r.warn("ports.", name, "not a port of the standard boards (%s)" % ", ".join(sorted(known)))
        if want(r, "ports.", name, port, "dict"):
            p = "ports." + name + "."
            check_fields(r, p, port, PORT, known.get(name))
            top = port.get("max_baudrate")
            if kind_of(top) == "int" and kind_of(port.get("baudrate")) == "int" and top < port["baudrate"]:
                r.error(p, "max_baudrate", "lower than baudrate %d" % port["baudrate"])


def validate(doc, profiles=None, shape=None):
    """(errors, warnings) for a merged configuration document.

    `profiles`: the Modbus profile names available, or None to leave profile names unchecked.
    `shape`: the defaults; a field with no rule here must have its default's type.
    """
    r = Report(profiles)
    if not want(r, "", "config", doc, "dict"):
        return r.errors, r.warnings
    shape = shape or {}
    _ports(r, doc, shape)
    meter_lines = _entries(r, doc, "meters", METER, METER_REQUIRED, MAX_METERS_PER_LINE)
    _entries(r, doc, "modbus", MODBUS, MODBUS_REQUIRED, MAX_MODBUS_PER_LINE)
    _unique_ids(r, doc)
    for i, e in enumerate(doc["meters"] if meter_lines else ()):
        n = meter_lines.get(_port_of(e), 0) if type(e) is dict else 0
        if n > 1 and "address" not in e:
            r.error("meters[%d]." % i, "address", "needed: %d meters share line %s" % (n, _port_of(e)))
    check_fields(r, "", doc, TOP, shape, ("ports", "meters", "modbus"))
    if profiles is None and doc.get("modbus"):
        r.warn("", "modbus", "the list of installed profiles is not available; profile names not checked")
    return r.errors, r.warnings


def profile_names(directory=None):
    """Names of the Modbus profiles, or None if no profile folder can be read.

    By default the user's own profiles (`profiles/` on the terminal's flash) and the shipped
    ones: the folder next to this module, else /lib/meterlink/profiles (where a firmware with
    meterlink frozen in keeps them: frozen modules have no folder of their own).
    """
    import os
    if directory:
        groups = ((directory,),)
    else:
        groups = (("profiles",), (__file__.rsplit("/", 2)[0] + "/profiles", "/lib/meterlink/profiles"))
    names = None
    for dirs in groups:
        for d in dirs:
            try:
                files = os.listdir(d)
            except OSError:
                continue
            names = names or []
            for f in files:
                stem = f.split(".", 1)[0]
                if stem and stem[0] not in "_." and stem not in names:
                    names.append(stem)
            break
    return names
