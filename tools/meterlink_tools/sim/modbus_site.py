"""Puts Modbus devices on a site's RS-485 bus and into the terminal's configuration."""
# site S ("small"): a Klemsan RAPIDUS compensation relay (unit 1, 9600 8N1) and a Janitza UMG
# 96RM analyser (unit 2, 9600 8E1: the master switches line settings between them).  site L
# ("large"): 64 devices, units 1-64 at 9600 8N1, the shipped profiles in turn.  Meters on the
# same bus are another populator's.
from .modbus import slave_for_profile

SMALL = (
    # id, unit, profile, line, period_s
    ("R1", 1, "klemsan_rapidus", "9600 8N1", 60),
    ("A1", 2, "janitza_umg96rm", "9600 8E1", 60),
)
LARGE_PROFILES = ("klemsan_rapidus", "janitza_umg96rm", "eastron_sdm630", "entes_mpr4x",
                  "klemsan_klea", "kael_varkombi")
LARGE_COUNT = 64
# site L (32 meters, 64 Modbus devices, the modem and the uplink) needs more than the host
# board's default heap when everything is loaded from source (docs/memory.md)
SITE_HEAPSIZE = {"large": "768K"}


def devices_for(site_name):
    if site_name == "small":
        return list(SMALL)
    if site_name == "large":
        return [("MB%d" % u, u, LARGE_PROFILES[(u - 1) % len(LARGE_PROFILES)], "9600 8N1", 300)
                for u in range(1, LARGE_COUNT + 1)]
    return []


async def populate(site, args):
    bus = site.media.get("rs485")
    if bus is None:
        return
    slaves = []
    entries = site.config.setdefault("modbus", [])
    for dev_id, unit, profile, line, period in devices_for(site.name):
        s = bus.attach(slave_for_profile(unit, profile, settings=line))
        slaves.append(s)
        entries.append({"id": dev_id, "port": "rs485", "address": unit, "profile": profile,
                        "line": line, "period_s": period, "timeout_ms": 1000, "retries": 1})
    if not slaves:
        return
    site.modbus_slaves = slaves
    site.heapsize = site.heapsize or SITE_HEAPSIZE.get(site.name)

    def summary():
        st = [s.stats for s in slaves]
        return {"modbus": {"devices": len(slaves),
                           "requests": sum(x["requests"] for x in st),
                           "answers": sum(x["answers"] for x in st),
                           "unanswered_devices": [s.name for s in slaves if not s.stats["answers"]]}}
    site.summaries.append(summary)

