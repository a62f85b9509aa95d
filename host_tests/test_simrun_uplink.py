"""`meterlink sim` plumbing for the uplink: the collector runs in the site on virtual time, the
firmware gets its identity and the server URL, --outage drives the modem's switch at the
right simulated times, and the summary holds taken/stored/duplicates/lost/bytes_on_air."""
import argparse
import asyncio
import sys
import types

from meterlink_tools import simclock
from meterlink_tools.sim import site as sitemod
from meterlink_tools.simrun import Console, run_site


class SwitchModem:
    """Stands where the modem simulator will be: records its server switch."""

    def __init__(self, loop):
        self.loop = loop
        self.history = []
        self._down = False
        self.bytes_on_air = 4242

    @property
    def server_unreachable(self):
        return self._down

    @server_unreachable.setter
    def server_unreachable(self, v):
        self._down = v
        self.history.append((round(self.loop.time()), v))


def test_outage_switch_identity_and_summary(tmp_path, monkeypatch):
    mod = types.ModuleType("meterlink_tools.sim.switch_modem_for_test")
    seen = {}

    async def populate(site, args):
        site.modem = SwitchModem(site.loop)
        seen["site"] = site
    mod.populate = populate
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    # the switch stands in for the modem simulator here: only the plumbing is under test
    monkeypatch.setattr(sitemod, "POPULATORS", [p for p in sitemod.POPULATORS if p != "modem_site"]
                        + ["switch_modem_for_test"])
    args = argparse.Namespace(site="small", modem="sim7600", duration="10m", period=1, speed="max",
                              outage=["2m+3m", "7m+30s"], forever=False, json=True, rundir=None,
                              heapsize=None)
    checked = {}

    def on_site(site):
        checked["time"] = site.collector.clock() - site.epoch
        checked["url"] = site.config["server"]["url"]

    summary = simclock.run(lambda m: run_site(args, m, tmp_path, on_site=on_site))
    site = seen["site"]
    assert site.modem.history == [(120, True), (300, False), (420, True), (450, False)]
    for key in ("taken", "stored", "duplicates", "lost", "bytes_on_air"):
        assert key in summary
    assert summary["bytes_on_air"] == 4242 and summary["bytes_on_air_at_end"] == 4242
    assert summary["lost"] == summary["taken"] - summary["stored"]
    # the collector's clock is the simulation's: it ended after the run and its drain
    assert abs(checked["time"] - summary["simulated_s"]) < 1
    assert checked["url"] == "http://collector.meterlink.test/i"
    console = (tmp_path / "console.log").read_text()
    assert "no device identity" not in console            # secrets.json was provisioned
    cfg = (tmp_path / "hostboard.json").read_text()
    assert "secrets.json" in cfg and "sim-terminal-1" in cfg


def test_collector_socket_outage_without_a_modem_switch(tmp_path, monkeypatch):
    monkeypatch.setattr(sitemod, "POPULATORS", [p for p in sitemod.POPULATORS if p != "modem_site"])

    async def go(master):
        loop = asyncio.get_running_loop()
        args = argparse.Namespace(period=1)
        site = await sitemod.build("small", loop, master, args, rundir=tmp_path)
        try:
            site.set_server_reachable(False)
            assert site.collector_server.server.reachable is False
            site.set_server_reachable(True)
            assert site.collector_server.server.reachable is True
        finally:
            site.close()
    simclock.run(go)


def test_console_counts_sealed_reading_sets_and_the_first_upload():
    loop = asyncio.new_event_loop()
    c = Console(loop, quiet=True)
    for line in ["2026-01-01T00:01:00Z INFO spool: sealed batch 1: 3 sets, 33 B",
                 "2026-01-01T00:01:01Z INFO uplink: first upload acknowledged",
                 "x INFO spool: sealed batch 2: 12 sets, 120 B",
                 "x INFO uplink: 1 batches in 1 requests; pending 0, spool empty"]:
        c(line)
    assert c.taken == 15 and c.first_upload_s is not None and c.empty.is_set()
    loop.close()
