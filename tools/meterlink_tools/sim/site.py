"""The reference sites: which simulated devices sit on which port, and the firmware's config.

site S ("small"): one meter on the optical port, one compensation relay and one analyser on
RS-485.  site L ("large"): 32 meters and 64 Modbus devices on one RS-485 line.  The device
simulators are added by the capabilities that read them; a port with nothing on it is an open
cable.
"""
import importlib
import tempfile
from pathlib import Path

from .wire import Medium, RFC2217Port

# Wall-clock time (Unix seconds) at virtual time 0: simulators that tell the time (the
# collector, the modem's network clock) count from here.
SIM_EPOCH = 1767225600      # 2026-01-01T00:00:00Z

# Modules that put simulated devices on a site: each has `async populate(site, args)` and
# may add to `site.config` (the firmware's config.json) and `site.summaries` (callables
# returning dicts merged into the run's summary).
POPULATORS = [
    "collector_site",       # first: the others may use site.collector_url
    "modem_site",
    "meter_site",
    "modbus_site",
]


class Site:
    def __init__(self, name, loop, clock, rundir=None):
        self.name = name
        self.loop = loop
        self.clock = clock
        self.rundir = Path(rundir) if rundir else Path(tempfile.mkdtemp(prefix="meterlink-site-"))
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.epoch = SIM_EPOCH
        self.files = {}      # more files for the firmware's flash (secrets.json...)
        self.closers = []    # callables run by close()
        self.modem = None    # the modem simulator; it may offer `server_unreachable`, `bytes_on_air`
        self.collector = None
        self.collector_server = None
        self.collector_url = None
        self.server_names = None  # host names the simulated network resolves (None: every name)
        self.media = {}      # port name -> Medium
        self.ports = {}      # port name -> RFC2217Port
        self.config = {}     # the firmware's config.json
        self.summaries = []  # callables -> dict, merged into the run's summary
        self.on_quiesce = []  # callables run just before the devices are taken off
        self.heapsize = None  # a populator may ask for more than the host board's default heap
        self.uart_ids = {"modem": 1, "rs485": 2, "optical": 3, "rs232": 4}

    async def add_port(self, name, bus=False, echo=False):
        medium = Medium(self.loop, bus=bus, echo=echo)
        port = RFC2217Port(medium, self.uart_ids[name], clock=self.clock, name=name)
        await port.serve()
        self.media[name] = medium
        self.ports[name] = port
        return medium

    def wall_time(self):
        """Unix seconds now, on the simulation's clock."""
        return self.epoch + self.loop.time()

    def set_server_reachable(self, on):
        """An outage: through the modem simulator's switch, else at the collector's socket."""
        if self.modem is not None and hasattr(self.modem, "server_unreachable"):
            self.modem.server_unreachable = not on
        elif self.collector_server is not None:
            self.collector_server.set_reachable(on)

    def quiesce(self):
        """Take every device off the meter and Modbus ports: nothing new is read after this."""
        for fn in self.on_quiesce:
            fn()
        for name, medium in self.media.items():
            if name != "modem":
                for d in list(medium.devices):
                    medium.detach(d)

    def uarts(self):
        return {self.uart_ids[n]: p.url for n, p in self.ports.items()}

    def summary(self):
        out = {"site": self.name,
               "lines": {n: dict(m.stats) for n, m in self.media.items() if n != "modem"}}
        for fn in self.summaries:
            out.update(fn())
        return out

    def close(self):
        for p in self.ports.values():
            p.close()
        for fn in self.closers:
            fn()


async def build(name, loop, clock, args, rundir=None):
    site = Site(name, loop, clock, rundir)
    if name == "none":
        return site
    await site.add_port("rs485", bus=True)
    await site.add_port("optical")
    await site.add_port("rs232")
    await site.add_port("modem")
    if args is not None and getattr(args, "period", None):
        site.config["send_period_min"] = args.period
    for name in POPULATORS:
        await importlib.import_module("meterlink_tools.sim." + name).populate(site, args)
    return site

