"""`meterlink device` (add, list, show, remove, claim) and `meterlink readings`: the collector's
registry, each device's status and configurations, and its readings as a table, CSV or JSON."""
import json
import sys

from ..cli import command
from .client import BackendError, add_options, connect
from .views import parse_time


def _run(args, fn, create=False):
    try:
        backend = connect(args, create=create)
    except BackendError as e:
        print("meterlink %s: %s" % (args.command, e), file=sys.stderr)
        return 1
    try:
        return fn(backend)
    except BackendError as e:
        report(args.command, e)
        return 1
    finally:
        backend.close()


def report(command, e):
    """A refusal from the collector: each problem on its own line, field first."""
    for msg in e.errors or [str(e)]:
        print("meterlink %s: %s" % (command, msg), file=sys.stderr)
    for msg in e.warnings:
        print("meterlink %s: warning: %s" % (command, msg), file=sys.stderr)


def _add(args, b):
    key = bytes.fromhex(args.key) if args.key else None
    out = b.add(args.device_id, args.note, key)
    if args.json:
        print(json.dumps(out))
        return 0
    print("registered %s at %s" % (out["device_id"], b.where))
    print("  device key:          %s" % out["key"])
    print("  authorisation code:  %s" % out["auth_code"])
    print()
    print("box label (the code is not kept in clear: print it now):")
    print("  meterlink terminal   %s" % out["device_id"])
    print("  authorisation code   %s" % out["auth_code"])
    print()
    print("give the terminal its identity:")
    print("  meterlink provision --port PORT --device-id %s --key %s" % (out["device_id"], out["key"]))
    return 0


def _num(v, scale=1, fmt="%d"):
    return "-" if v is None else fmt % (v / scale)


def _config_cell(cfg):
    running = "-" if cfg["running"] is None else str(cfg["running"])
    w = cfg["waiting"]
    return running if not w else "%s (%d %s)" % (running, w["version"], w["state"])


def _list(args, b):
    devs = b.devices()
    if args.json:
        print(json.dumps(devs))
        return 0
    if not devs:
        print("no devices registered at %s" % b.where)
        return 0
    fmt = "%-20s %-20s %-14s %-4s %-16s %4s %9s %5s %6s"
    print(fmt % ("DEVICE", "LAST SEEN", "CONFIG", "NET", "OPERATOR", "CSQ", "MONTH kB", "LOST", "ERRORS"))
    for d in devs:
        u = d["usage"]
        month = None if u["up"] is None else (u["up"] or 0) + (u["down"] or 0)
        errs = [d["errors"][k] for k in ("upload_failures", "log_errors", "task_failures")]
        print(fmt % (d["device_id"], d["last_seen"] or "never", _config_cell(d["config"]),
                     d["tech"] or "-", (d["operator"] or "-")[:16], _num(d["signal"]["csq"]),
                     _num(month, 1000, "%.1f"), _num(d["spool"]["lost_sets"]),
                     "-" if all(e is None for e in errs) else str(sum(e or 0 for e in errs))))
    return 0


SHOW = (
    ("config running", "config_version"), ("firmware", "firmware"), ("reset cause", "reset_cause"),
    ("uptime s", "uptime_s"), ("clock", "clock_source"), ("modem", "modem_state"), ("SIM", "sim"),
    ("network", "tech"), ("operator", "operator"), ("signal CSQ", "csq"), ("signal dBm", "rssi_dbm"),
    ("data month", "usage_month"), ("data up B", "usage_up"), ("data down B", "usage_down"),
    ("pending batches", "pending"), ("lost batches", "lost_batches"), ("lost sets", "lost_sets"),
    ("upload failures", "upload_failures"), ("log errors", "log_errors"),
    ("log warnings", "log_warnings"), ("task failures", "task_failures"), ("modem error", "modem_error"),
)


RESET_CAUSES = {1: "power-on", 2: "hard reset", 3: "watchdog", 4: "deep sleep", 5: "soft reset"}


def _show(args, b):
    d = b.device(args.device_id)
    if args.json:
        print(json.dumps(d))
        return 0
    print("device %s%s%s" % (d["device_id"], "  (%s)" % d["note"] if d["note"] else "",
                             "  owner %s" % d["owner"] if d["owner"] else ""))
    print("  %-18s %s" % ("registered", d["added"]))
    print("  %-18s %s" % ("last seen", d["last_seen"] or "never"))
    st = dict(d["status"])
    if "reset_cause" in st:
        st["reset_cause"] = RESET_CAUSES.get(st["reset_cause"], st["reset_cause"])
    for label, key in SHOW:
        if st.get(key) not in (None, ""):
            print("  %-18s %s" % (label, st[key]))
    up, rs = d["uploads"], d["readings"]
    print("  %-18s %d (%d B of bodies), last %s" % ("uploads", up["count"], up["body_bytes"], up["last"] or "-"))
    print("  %-18s %d, %s to %s" % ("reading sets", rs["sets"], rs["first"] or "-", rs["last"] or "-"))
    if d["configs"]:
        print("configurations:")
        print("  %7s  %-11s %-20s %-20s %s" % ("VERSION", "STATE", "QUEUED", "CHANGED", "REASON"))
        for c in d["configs"]:
            print(("  %7d  %-11s %-20s %-20s %s" % (c["version"], c["state"], c["queued"], c["changed"],
                                                  c["reason"] or "")).rstrip())
    return 0


def _remove(args, b):
    b.remove(args.device_id, args.purge)
    print("removed %s%s" % (args.device_id, " and everything it uploaded" if args.purge else
                            " (its readings stay; --purge deletes them)"))
    return 0


def _claim(args, b):
    out = b.claim(args.device_id, args.code, args.owner)
    print("%s now belongs to %s" % (out["device_id"], out["owner"]))
    return 0


@command("device", "the collector's device registry: add, list, show, remove, claim")
def device(args):
    return _run(args, lambda b: args.device_func(args, b), create=args.device_func is _add)


def _configure_device(p):
    sub = p.add_subparsers(dest="device_command", metavar="ACTION", required=True)
    a = sub.add_parser("add", help="register a device: prints its key and the box label's authorisation code")
    a.add_argument("device_id", metavar="DEVICE_ID")
    a.add_argument("--note", help="a note to find it by (site, customer)")
    a.add_argument("--key", help="use this key (hex) instead of a new random one")
    a.set_defaults(device_func=_add)
    ls = sub.add_parser("list", help="every device with its last upload, configuration and network")
    ls.set_defaults(device_func=_list)
    s = sub.add_parser("show", help="one device: status, data usage, errors, configurations")
    s.add_argument("device_id", metavar="DEVICE_ID")
    s.set_defaults(device_func=_show)
    r = sub.add_parser("remove", help="forget a device (its uploads are refused from then on)")
    r.add_argument("device_id", metavar="DEVICE_ID")
    r.add_argument("--purge", action="store_true", help="also delete everything it uploaded")
    r.set_defaults(device_func=_remove)
    c = sub.add_parser("claim", help="give a device to an owner, with the code from its box label")
    c.add_argument("device_id", metavar="DEVICE_ID")
    c.add_argument("code", metavar="CODE")
    c.add_argument("--owner", required=True)
    c.set_defaults(device_func=_claim)
    for q in (a, ls, s, r, c):
        add_options(q)
        q.add_argument("--json", action="store_true", help="print JSON")


device.configure = _configure_device


def _query(args):
    return {"device": args.device, "source": args.source, "keys": args.key or (),
            "since": parse_time(args.since), "until": parse_time(args.until), "limit": args.limit}


@command("readings", "query the collector's readings: by device, source, key, time; CSV export")
def readings(args):
    try:
        query = _query(args)
    except ValueError as e:
        print("meterlink readings: %s" % e, file=sys.stderr)
        return 2

    def go(b):
        out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout
        try:
            if args.csv:
                for chunk in b.csv(query):
                    out.write(chunk)
            elif args.json:
                for s in b.readings(query):
                    out.write(json.dumps(s) + "\n")
            else:
                n = 0
                for s in b.readings(query):
                    n += 1
                    for key, (value, unit) in s["values"].items():
                        out.write("%-20s %-14s %-22s %-16s %s %s\n" % (
                            s["time"] or "(%s?)" % s["device_time"], s["device"], s["source"], key,
                            value, unit or ""))
                if not n:
                    print("no readings match", file=sys.stderr)
        finally:
            if args.output:
                out.close()
        return 0
    return _run(args, go)


def _configure_readings(p):
    p.add_argument("--device", help="one device")
    p.add_argument("--source", help="one source, e.g. meter:M1 or mb:rs485:5 (* and ? match any)")
    p.add_argument("--key", action="append", help="an OBIS code or profile key (repeatable)")
    p.add_argument("--from", dest="since", metavar="TIME",
                   help="from this time: ISO 8601 (2026-01-01T06:00Z, UTC unless a zone is given) or Unix s")
    p.add_argument("--to", dest="until", metavar="TIME", help="until before this time")
    p.add_argument("--limit", type=int, help="at most this many reading sets")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true",
                     help="CSV: one row per reading (device, source, time, key, value, unit, clock_ok, device_time)")
    fmt.add_argument("--json", action="store_true", help="one JSON reading set per line")
    p.add_argument("--output", "-o", metavar="FILE", help="write there instead of to the terminal")
    add_options(p)


readings.configure = _configure_readings
