"""The Modbus capability: one poller task per port with Modbus devices (services/mbpoller.py)."""
# Without devices in the configuration nothing more is imported, so the master, the profiles
# and umodbus cost heap only on terminals that read Modbus devices.  The full checks of
# modbus[] (proto/configschema) belong to accepting a configuration; here an entry the
# poller cannot use is logged and left out.
from meterlink.services import log

TAG = "modbus"


def setup(app):
    entries = app.cfg.get("modbus") or []
    if not isinstance(entries, list) or not entries:
        return
    from meterlink.proto.mbline import entry
    by_port = {}
    for e in entries:
        port = entry(e, "port") if isinstance(e, dict) else None
        if port not in app.hw.port_names:
            log.error(TAG, "%r: no port %r on this board; device left out" % (e, port))
            continue
        by_port.setdefault(port, []).append(e)
    from meterlink.services.mbpoller import ALIVE_MS, Poller
    app.modbus = {}
    for port_name, devs in by_port.items():
        p = Poller(app, port_name, devs)
        if not p.n:
            continue
        app.modbus[port_name] = p
        app.add_task(p.name, p.run, 3 * ALIVE_MS // 1000 + 60)
        log.info(TAG, "%d devices on %s" % (p.n, port_name))

