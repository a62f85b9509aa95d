"""Puts the simulated modem on a site's modem UART (`meterlink sim --modem sim7600|sim800`).

The modem sends its HTTP requests to `site.collector_url` when a populator listed earlier set
it (else to DEFAULT_SERVER); `site.modem.server_url` can be changed at any time.  `--outage
START+LENGTH` makes the server unreachable from the modem for that window.
"""
from ..units import parse_window
from .modem import ModemSim

DEFAULT_SERVER = "http://127.0.0.1:8080"


def schedule_outage(loop, modem, start_s, length_s):
    """The server is unreachable from start_s to start_s + length_s (virtual seconds)."""
    loop.call_at(start_s, modem.set, "server_unreachable", True)
    loop.call_at(start_s + length_s, modem.set, "server_unreachable", False)


async def populate(site, args):
    model = getattr(args, "modem", None) or "sim7600"
    server = getattr(site, "collector_url", None) or DEFAULT_SERVER
    modem = ModemSim(model, server_url=server)
    site.media["modem"].attach(modem)
    site.modem = modem
    for w in getattr(args, "outage", None) or []:
        start, length = parse_window(w)
        schedule_outage(site.loop, modem, start, length)

    def summary():
        b = modem.billing
        return {"bytes_on_air": b.total,
                "modem": {"model": model, "state": modem.state, "tech": modem.rat,
                          "bytes_up": b.up, "bytes_down": b.down,
                          "requests": modem.d.http.actions, "reboots": modem.counts["reboot"],
                          "power_cycles": modem.counts["off"]}}
    site.summaries.append(summary)
