"""The checks the `modbus[]` section of a configuration must pass: unique ids, unique addresses
per RS-485 line, known profiles, sane line settings, periods, timeouts and retries."""
from meterlink.proto.mbline import entry, parse_line

MAX_DEVICES = 247                          # unicast addresses 1..247


def _is_int(v, lo, hi):
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def check_modbus(entries, profile_names, port_names=None):
    """Every problem of a configuration's `modbus` list as messages naming the entry
    (an empty list when it is good).

    profile_names: the profiles the terminal has; port_names: its serial ports (None: not
    checked).
    """
    return [msg for _, msg in problems(entries, profile_names, port_names)]


def problems(entries, profile_names, port_names=None):
    """check_modbus as (entry index, message) pairs; index -1 for the list as a whole.  Of
    two entries that clash, the later one carries the problem."""
    if not isinstance(entries, list):
        return [(-1, "modbus: must be a list of devices")]
    errs = []
    ids = {}
    addrs = {}
    per_port = {}
    for i, e in enumerate(entries):
        where = "modbus[%d]" % i
        if not isinstance(e, dict):
            errs.append((i, where + ": must be an object"))
            continue
        dev_id = e.get("id")
        if not isinstance(dev_id, str) or not dev_id:
            errs.append((i, where + ": id missing (a short text, e.g. \"R1\")"))
        else:
            where += " (%s)" % dev_id
            if dev_id in ids:
                errs.append((i, "%s: id used twice (also modbus[%d])" % (where, ids[dev_id])))
            ids.setdefault(dev_id, i)
        port = entry(e, "port")
        if port_names is not None and port not in port_names:
            errs.append((i, "%s: port %r is not one of %s" % (where, port, ", ".join(port_names))))
        addr = e.get("address")
        if not _is_int(addr, 1, 247):
            errs.append((i, "%s: address must be 1..247, not %r" % (where, addr)))
        else:
            other = addrs.get((port, addr))
            if other is not None:
                errs.append((i, "%s: address %d on %s is already modbus[%d]'s" % (where, addr, port, other)))
            else:
                addrs[(port, addr)] = i
        per_port[port] = per_port.get(port, 0) + 1
        prof = e.get("profile")
        if prof not in profile_names:
            errs.append((i, "%s: unknown profile %r (known: %s)" % (where, prof, ", ".join(sorted(profile_names)))))
        try:
            parse_line(entry(e, "line"))
        except ValueError as ex:
            errs.append((i, "%s: %s" % (where, ex)))
        period = e.get("period_s")
        if period is not None and not _is_int(period, 1, 86400):
            errs.append((i, "%s: period_s must be 1..86400 seconds (or null for poll_period_s)" % where))
        if not _is_int(entry(e, "timeout_ms"), 20, 10000):
            errs.append((i, "%s: timeout_ms must be 20..10000" % where))
        if not _is_int(entry(e, "retries"), 0, 5):
            errs.append((i, "%s: retries must be 0..5" % where))
        if not _is_int(entry(e, "gap_ms"), 0, 2000):
            errs.append((i, "%s: gap_ms must be 0..2000 (silence before each request)" % where))
    for port, n in per_port.items():
        if n > MAX_DEVICES:
            errs.append((-1, "modbus: %d devices on %s, at most %d" % (n, port, MAX_DEVICES)))
    return errs
