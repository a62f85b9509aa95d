"""The reference sites: which simulated devices sit on which port, and the firmware's config.

site S ("small"): one meter on the optical port, one compensation relay and one analyser on
RS-485.  site L ("large"): 32 meters and 64 Modbus devices on one RS-485 line.  The device
simulators are added by the capabilities that read them; a port with nothing on it is an open
cable.
"""
import importlib

from .wire import Medium, RFC2217Port

# Modules that put simulated devices on a site: each has `async populate(site, args)` and
# may add to `site.config` (the firmware's config.json) and `site.summaries` (callables
# returning dicts merged into the run's summary).
POPULATORS = [
    "modem_site",
    "modbus_site",
]


class Site:
    def __init__(self, name, loop, clock):
        self.name = name
        self.loop = loop
        self.clock = clock
        self.media = {}      # port name -> Medium
        self.ports = {}      # port name -> RFC2217Port
        self.config = {}     # the firmware's config.json
        self.summaries = []  # callables -> dict, merged into the run's summary
        self.heapsize = None  # a populator may ask for more than the host board's default heap
        self.uart_ids = {"modem": 1, "rs485": 2, "optical": 3, "rs232": 4}

    async def add_port(self, name, bus=False, echo=False):
        medium = Medium(self.loop, bus=bus, echo=echo)
        port = RFC2217Port(medium, self.uart_ids[name], clock=self.clock, name=name)
        await port.serve()
        self.media[name] = medium
        self.ports[name] = port
        return medium

    def uarts(self):
        return {self.uart_ids[n]: p.url for n, p in self.ports.items()}

    def summary(self):
        out = {"site": self.name}
        for fn in self.summaries:
            out.update(fn())
        return out

    def close(self):
        for p in self.ports.values():
            p.close()


async def build(name, loop, clock, args):
    site = Site(name, loop, clock)
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

