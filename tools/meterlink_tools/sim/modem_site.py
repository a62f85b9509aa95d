"""Puts the simulated modem on a site's modem UART (`meterlink sim --modem sim7600|sim800`).

The modem sends its HTTP requests to `site.collector_url` when a populator listed earlier set
it (else to DEFAULT_SERVER); `site.modem.server_url` can be changed at any time.  Outages
(`--outage START+LENGTH`) are scheduled by the run through `site.set_server_reachable`, which
flips the modem's `server_unreachable` switch.  The simulated operator gives a data session only
on SITE_APN (the site's configuration names it), and its DNS knows only `site.server_names`.
"""
from urllib.parse import urlsplit

from .modem import ModemSim

DEFAULT_SERVER = "http://127.0.0.1:8080"
SITE_APN = "m2m.meterlink.test"      # the only APN the simulated operator gives a session on


def schedule_outage(loop, modem, start_s, length_s):
    """The server is unreachable from start_s to start_s + length_s (virtual seconds)."""
    loop.call_at(start_s, modem.set, "server_unreachable", True)
    loop.call_at(start_s + length_s, modem.set, "server_unreachable", False)


async def populate(site, args):
    model = getattr(args, "modem", None) or "sim7600"
    # the modem reaches the server named in the firmware's URL here (scheme://host:port only;
    # the path comes from the request)
    url = getattr(site, "collector_url", None)
    server = "%s://%s" % urlsplit(url)[:2] if url else DEFAULT_SERVER
    modem = ModemSim(model, server_url=server, apn=SITE_APN, dns_names=site.server_names)
    site.config["apn"] = {"name": SITE_APN}
    site.media["modem"].attach(modem)
    site.modem = modem

    def summary():
        b = modem.billing
        return {"bytes_on_air": b.total,
                "modem": {"model": model, "state": modem.state, "tech": modem.rat,
                          "bytes_up": b.up, "bytes_down": b.down,
                          "requests": modem.d.http.actions, "reboots": modem.counts["reboot"],
                          "power_cycles": modem.counts["off"]}}
    site.summaries.append(summary)
