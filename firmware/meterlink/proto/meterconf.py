"""Checks the `meters` section of the configuration: each entry's fields, and the rules of a
shared RS-485 line (at most 32 meters, every one addressed, no address twice)."""

PORTS = ("rs485", "optical", "rs232")
MAX_PER_LINE = 32
READOUTS = ("short", "full")
POSITIVE_INTS = ("reaction_timeout_ms", "char_timeout_ms", "session_timeout_ms", "max_baudrate",
                 "switch_delay_ms", "idle_gap_ms", "retries", "period_s")
ZERO_OK = ("switch_delay_ms", "retries")
RATES = (300, 600, 1200, 2400, 4800, 9600, 19200)


def _addr_key(address):
    # leading zeros are not evaluated (IEC 62056-21), so 010203 and 10203 are one meter
    return address.lstrip("0")


def _check_entry(where, m):
    if not isinstance(m, dict):
        return "%s: a meter is an object {id, port, address...}" % where
    mid = m.get("id")
    if not isinstance(mid, str) or not mid:
        return "%s.id: a non-empty string is required" % where
    if m.get("port", "rs485") not in PORTS:
        return "%s.port: one of %s, not %r" % (where, ", ".join(PORTS), m.get("port"))
    addr = m.get("address", "")
    if not isinstance(addr, str) or len(addr) > 32:
        return "%s.address: a string of at most 32 characters" % where
    for c in addr:
        if not (c.isalpha() or c.isdigit() or c == " ") or ord(c) > 126:
            return "%s.address: digits, letters and spaces only (%r)" % (where, addr)
    if m.get("readout", "short") not in READOUTS:
        return "%s.readout: short or full, not %r" % (where, m.get("readout"))
    over = dict(m)
    over.update(m.get("overrides") or {})
    for k in POSITIVE_INTS:
        v = over.get(k)
        if v is None:
            continue
        if not isinstance(v, int) or isinstance(v, bool) or v < (0 if k in ZERO_OK else 1):
            return "%s.%s: a %s integer, not %r" % (where, k, "non-negative" if k in ZERO_OK else "positive", v)
    if over.get("max_baudrate") is not None and over["max_baudrate"] not in RATES:
        return "%s.max_baudrate: one of %s" % (where, RATES)
    obis = m.get("obis")
    if obis is not None:
        if not isinstance(obis, list) or not all(isinstance(c, str) and c for c in obis):
            return "%s.obis: a list of codes such as \"1.8.x\", or null for the default" % where
    return None


def check(meters):
    """(usable entries, [error messages]); an entry with an error is left out, the rest run."""
    if meters is None:
        return [], []
    if not isinstance(meters, list):
        return [], ["meters: a list of meter objects"]
    errors = []
    ok = []
    ids = set()
    for i, m in enumerate(meters):
        where = "meters[%d]" % i
        err = _check_entry(where, m)
        if err is None and m["id"] in ids:
            err = "%s.id: %r is used twice" % (where, m["id"])
        if err:
            errors.append(err)
            continue
        ids.add(m["id"])
        ok.append((i, m))
    out = []
    for port in PORTS:
        on = [im for im in ok if im[1].get("port", "rs485") == port]
        if port == "rs485" and len(on) > MAX_PER_LINE:
            errors.append("meters: %d meters on rs485, at most %d are read" % (len(on), MAX_PER_LINE))
            on = on[:MAX_PER_LINE]
        if len(on) > 1:
            seen = set()
            keep = []
            for i, m in on:
                key = _addr_key(m.get("address") or "")
                if not key:
                    errors.append("meters[%d].address: required, %d meters share %s"
                                  % (i, len(on), port))
                    continue
                if key in seen:
                    errors.append("meters[%d].address: %r is on %s twice" % (i, m["address"], port))
                    continue
                seen.add(key)
                keep.append((i, m))
            on = keep
        out.extend(on)
    out.sort(key=lambda im: im[0])
    out = [m for _, m in out]
    return out, errors
