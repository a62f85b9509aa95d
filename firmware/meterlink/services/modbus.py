"""The Modbus capability: one poller task per port with Modbus devices (services/mbpoller.py).

Without devices in the configuration nothing more is imported: the master, the profiles and
umodbus cost heap only on terminals that read Modbus devices.
"""
from meterlink.services import log

TAG = "modbus"


def setup(app):
    entries = app.cfg.get("modbus") or []
    if not entries:
        return
    from meterlink.proto import mbconfig
    from meterlink.services import mbprofiles
    bad = set()
    for i, msg in mbconfig.problems(entries, mbprofiles.names(), app.hw.port_names):
        log.error(TAG, msg + "; device left out")
        bad.add(i)
    if -1 in bad:
        return
    by_port = {}
    for i, e in enumerate(entries):
        if i not in bad:
            by_port.setdefault(mbconfig.entry(e, "port"), []).append(e)
    from meterlink.services.mbpoller import ALIVE_MS, Poller
    app.modbus = {}
    for port_name, devs in by_port.items():
        p = Poller(app, port_name, devs)
        app.modbus[port_name] = p
        app.add_task(p.name, p.run, 3 * ALIVE_MS // 1000 + 60)
        log.info(TAG, "%d devices on %s" % (len(devs), port_name))
