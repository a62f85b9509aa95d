"""The Modbus capability: one poller task per port with Modbus devices (services/mbpoller.py)."""
# Without devices in the configuration nothing more is imported, so the master, the profiles
# and umodbus cost heap only on terminals that read Modbus devices.  The full checks of
# modbus[] (proto/configschema) belong to accepting a configuration; here an entry the
# poller cannot use is logged and left out.  A new configuration is applied live: each port's
# poller takes its new device list between two polls (devices that keep their id and address
# keep their schedule and counters); a port that gets its first devices gets its task.
from meterlink.services import log

TAG = "modbus"


def _by_port(app, entries):
    if not isinstance(entries, list) or not entries:
        return {}             # nothing more imported on a terminal without Modbus devices
    from meterlink.proto.mbline import entry
    by_port = {}
    for e in entries:
        port = entry(e, "port") if isinstance(e, dict) else None
        if port not in app.hw.port_names:
            log.error(TAG, "%r: no port %r on this board; device left out" % (e, port))
            continue
        by_port.setdefault(port, []).append(e)
    return by_port


def reconfigure(app, cfg):
    by_port = _by_port(app, cfg.get("modbus") or [])
    pollers = getattr(app, "modbus", None)
    if pollers is None:
        if not by_port:
            return True
        pollers = app.modbus = {}
    for port_name, p in pollers.items():
        p.update(by_port.pop(port_name, []))
    if by_port:
        from meterlink.services.mbpoller import ALIVE_MS, Poller
        for port_name, devs in by_port.items():
            p = Poller(app, port_name, devs)
            if not p.n:
                continue
            pollers[port_name] = p
            app.add_task(p.name, p.run, 3 * ALIVE_MS // 1000 + 60)
            log.info(TAG, "%d devices on %s" % (p.n, port_name))
    return True


def setup(app):
    reconfigure(app, app.cfg)
    app.on_reconfigure(("modbus", "poll_period_s"), lambda cfg: reconfigure(app, cfg))
