"""The reference collector inside a simulated site, on the simulation's virtual clock.

It serves from a daemon thread (the modem simulator calls it with a blocking HTTP client from
the loop thread, which holds virtual time still meanwhile).  The terminal is registered with
a fresh key, which goes to the firmware as secrets.json; config.json gets the server URL.
"""
import json
import secrets
from urllib.parse import urlsplit

from ..collector import Collector, serve_in_thread

DEVICE_ID = "sim-terminal-1"
# The name the terminal is configured with; the modem simulator routes it to the collector
# (and bills the DNS lookup a real network would see).
PUBLIC_HOST = "collector.meterlink.test"


async def populate(site, args):
    if "modem" not in site.ports:
        return
    master = site.clock
    site.collector = Collector(site.rundir / "collector.db",
                               clock=lambda: site.epoch + (master.now_us / 1e6 if master else site.loop.time()))
    key = secrets.token_bytes(32)
    site.collector.add_device(DEVICE_ID, key)
    site.collector_server = serve_in_thread(site.collector)
    site.collector_url = site.collector_server.url
    site.device_id = DEVICE_ID
    path = urlsplit(site.collector_url).path
    site.config.setdefault("server", {})["url"] = "http://%s%s" % (PUBLIC_HOST, path)
    site.server_names = {PUBLIC_HOST}
    site.files["secrets.json"] = json.dumps({"device_id": DEVICE_ID, "key": key.hex()})
    site.summaries.append(lambda: _summary(site))
    site.closers.append(_close(site))


def push(site, doc_over, console=print):
    """Queue `doc_over` merged over the configuration the terminal runs (the site's until a
    pushed one runs), as the next version."""
    from ..collector import QueueError
    from ..schema import fwconfig
    base = site.config
    for row in site.collector.configs.history(site.device_id):
        if row["state"] == "running":
            base = json.loads(site.collector.configs.document(site.device_id, row["version"]))
    doc = fwconfig.merge(base, doc_over)
    try:
        out = site.collector.configs.queue(site.device_id, json.dumps(doc), bump=True)
    except QueueError as e:
        console("config push refused by the collector: %s" % e)
        return None
    console("config version %d queued at the collector" % out["version"])
    return out["version"]


def _summary(site):
    st = site.collector.stats(site.device_id)
    out = {"stored": st["stored"], "duplicates": st["duplicates"], "batches": st["batches"],
           "uploads": st["uploads"], "resent_batches": st["resent_batches"],
           "clock_unknown": st["clock_unknown"], "collector_rejected": st["rejected"]}
    configs = site.collector.configs.history(site.device_id)
    if configs:
        out["configs"] = [{k: c[k] for k in ("version", "state", "reason")} for c in configs]
    return out


def _close(site):
    def close():
        site.collector_server.stop()
        site.collector.close()
    return close
