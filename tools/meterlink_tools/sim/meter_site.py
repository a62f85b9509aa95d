"""Simulated meters of the reference sites: site S ("small") has one meter on the optical
probe, site L ("large") 32 addressed meters on the RS-485 line."""
from .meter import IecMeter

LARGE_BRANDS = ("makel", "luna", "kohler", "viko", "tedas2023")


def _summary(meters, cut_short):
    def summary():
        sessions = sum(m.stats["requests"] for m in meters)
        read = sum(m.stats["readouts"] for m in meters)
        return {"meters": {"configured": len(meters), "readouts": read,
                           "failed_sessions": sessions - read - len(cut_short),
                           "cut_short_at_end": len(cut_short),
                           "never_read": sum(1 for m in meters if not m.stats["readouts"])}}
    return summary


async def populate(site, args):
    entries = site.config.setdefault("meters", [])
    meters = []
    if site.name == "small":
        m = site.media["optical"].attach(IecMeter("luna", "24000001", offered=9600))
        meters.append(m)
        entries.append({"id": "OPT1", "port": "optical", "readout": "short"})
    elif site.name == "large":
        bus = site.media["rs485"]
        for i in range(32):
            brand = LARGE_BRANDS[i % len(LARGE_BRANDS)]
            m = bus.attach(IecMeter(brand, "%09d" % (240000100 + i), bus=True, seed=i))
            meters.append(m)
            entries.append({"id": "M%02d" % (i + 1), "port": "rs485", "address": m.address,
                            "readout": "short"})
    if meters:
        # sessions still open when the run takes the meters off the line are not failures
        cut_short = []
        site.on_quiesce.append(
            lambda: cut_short.extend(m for m in meters if m.state != "idle"))
        site.summaries.append(_summary(meters, cut_short))
