"""Configuration pushed through the collector, end to end in virtual time: the firmware on the
host board at simulated site S (optical meter, SIM7600 simulator, the reference collector).
A good document is applied live and its version reported; a bad one, and a forged one, are
refused with the field named; documents that break the uplink (a server the network cannot
resolve, an APN the operator refuses) are rolled back after the failed uploads and the rollback
is reported; a change that needs a restart restarts the app cleanly.  Nothing taken is lost."""
import argparse
import asyncio
import copy
import json

from hostboard_util import HostBoard, run_virtual
from meterlink_tools.sim import site as sitemod
from meterlink_tools.sim.collector_site import DEVICE_ID
from meterlink_tools.sim.meter import IecMeter
from meterlink_tools.simrun import Console

SOFT_RESET = 85


class Run:
    def __init__(self, site, hb, console):
        self.site = site
        self.hb = hb
        self.console = console
        self.c = site.collector

    def configs(self):
        return {r["version"]: r for r in self.c.configs.history(DEVICE_ID)}

    def status(self):
        return self.c.device_status(DEVICE_ID)

    async def until(self, what, pred, timeout_s):
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while not pred():
            if loop.time() > end:
                tail = "\n".join(self.hb.output()[-40:])
                raise AssertionError("%s: not within %d s (t=%.0f)\nconfigs %s\nstatus %s\n%s" % (
                    what, timeout_s, loop.time(), self.configs(), self.status(), tail))
            await asyncio.sleep(1)

    def push(self, doc, check=True):
        return self.c.configs.queue(DEVICE_ID, json.dumps(doc), check=check)["version"]

    async def state(self, version, state, timeout_s):
        await self.until("version %d %s" % (version, state),
                         lambda: self.configs().get(version, {}).get("state") == state, timeout_s)
        return self.configs()[version]

    def sets(self, source):
        return [(t, v) for s, t, _, _, v in self.c.reading_sets(DEVICE_ID) if s == source]


def run_scenario(tmp_path, scenario, **config):
    async def go(master):
        loop = asyncio.get_running_loop()
        args = argparse.Namespace(period=1, modem="sim7600")
        site = await sitemod.build("small", loop, master, args, rundir=tmp_path)
        site.config["version"] = 1
        site.config.update(config)
        console = Console(loop, quiet=True)
        files = {"config.json": json.dumps(site.config)}
        files.update(site.files)
        hb = HostBoard(tmp_path / "fw", clock=master, uarts=site.uarts(), modem_model="sim7600",
                       files=files, on_line=console)
        runner = asyncio.create_task(hb.run())
        run = Run(site, hb, console)
        try:
            await run.until("first upload", lambda: run.status().get("config_version") == 1, 120)
            await scenario(run, copy.deepcopy(site.config))
            # the end: no new readings; everything taken arrives, once
            site.quiesce()
            console.empty.clear()
            await asyncio.wait_for(console.empty.wait(), 1800)
            st = site.collector.stats(DEVICE_ID)
            assert st["stored"] == console.taken and st["duplicates"] == 0, (st, console.taken)
        finally:
            hb.stop()
            await runner
            site.close()
        return run
    return run_virtual(go)


def test_pushed_configs_are_applied_live_refused_with_the_field_or_restart_the_app(tmp_path):
    async def scenario(run, base):
        run.site.media["rs232"].attach(IecMeter("makel", "24000002", offered=9600))
        v2 = copy.deepcopy(base)
        v2["version"] = 2
        v2["poll_period_s"] = 30
        v2["meters"].append({"id": "RS232", "port": "rs232", "readout": "short"})
        assert run.push(v2) == 2
        row = await run.state(2, "running", 300)
        assert row["deliveries"] == 1 and row["reason"] is None
        assert run.status()["config_version"] == 2
        # the new meter on a port that had none is read, the optical one every 30 s now
        await run.until("RS232 read", lambda: len(run.sets("meter:RS232")) >= 4, 600)
        t_change = row["state_at"]
        times = [t for t, _ in run.sets("meter:OPT1") if t > t_change + 30]
        assert len(times) >= 3 and {b - a for a, b in zip(times, times[1:])} == {30}, times
        assert run.hb.boots == []          # no restart: applied live

        # refused by the device's own schema (the collector was told not to check)
        v3 = dict(v2, version=3, send_period_min=500)
        run.push(v3, check=False)
        row = await run.state(3, "refused", 300)
        assert row["reason"].startswith("send_period_min: must be 1 to 240"), row
        # a document changed after it was signed: refused, nothing of it applied
        v4 = dict(v2, version=4, send_period_min=3)
        run.push(v4)
        signed = bytes(run.c.db.execute("SELECT signed FROM configs WHERE version = 4").fetchone()[0])
        assert b'"send_period_min":3' in signed
        run.c.db.execute("UPDATE configs SET signed = ? WHERE version = 4",
                         (signed.replace(b'"send_period_min":3', b'"send_period_min":1'),))
        row = await run.state(4, "refused", 300)
        assert row["reason"].startswith("signature: does not verify"), row
        assert run.status()["config_version"] == 2 and run.hb.boots == []

        # the spool's settings are read once at start: this one restarts the app, cleanly
        v5 = dict(v2, version=5, spool={"seal_max_s": 600})
        run.push(v5)
        await run.state(5, "running", 600)
        assert [b.code for b in run.hb.boots] == [SOFT_RESET]
        assert run.status()["reset_cause"] == 5
        log = "\n".join(run.hb.boots[0].output)
        assert "restarting: the configuration changed spool" in log

    run_scenario(tmp_path, scenario)


def test_configs_that_break_the_uplink_are_rolled_back_and_reported(tmp_path):
    async def scenario(run, base):
        good = dict(base, version=2, send_period_min=2)
        run.push(good)
        await run.state(2, "running", 300)
        # a server name the network's DNS does not know
        broken = copy.deepcopy(good)
        broken["version"] = 3
        broken["server"]["url"] = "http://elsewhere.meterlink.test/i"
        run.push(broken)
        row = await run.state(3, "rolled_back", 3600)
        assert row["reason"].startswith("3 failed uploads (last: dns"), row
        assert run.configs()[2]["state"] == "running" and run.status()["config_version"] == 2
        # an APN the operator gives no data session on
        apn = dict(good, version=4, apn={"name": "wrong.apn"})
        run.push(apn)
        row = await run.state(4, "rolled_back", 3600)
        assert "failed uploads" in row["reason"] or "no successful upload" in row["reason"], row
        assert run.status()["config_version"] == 2
        assert run.status()["config_rolled_back_version"] == 4
        assert run.hb.boots == []          # rolled back live, no restart
        # the version rule holds after a rollback: the device never takes 4 again
        assert run.c.configs.next_version(DEVICE_ID) == 5

    run_scenario(tmp_path, scenario)


def test_a_site_sized_document_is_delivered_and_taken_within_the_heap(tmp_path):
    async def scenario(run, base):
        doc = copy.deepcopy(base)
        doc["version"] = 2
        doc["meters"] += [{"id": "M%02d" % i, "port": "rs485", "address": "MSY%09d" % (240000100 + i),
                           "readout": "short"} for i in range(32)]
        doc["modbus"] = [{"id": "R%02d" % i, "port": "rs485", "address": i + 1, "profile": "klemsan_rapidus",
                          "line": "9600 8N1", "period_s": 60} for i in range(64)]
        out = run.c.configs.queue(DEVICE_ID, json.dumps(doc))
        assert out["bytes"] > 8000
        row = await run.state(2, "running", 600)
        assert row["deliveries"] == 1

    # the answer is read into the request buffer: a board that takes 12 kB requests (PSRAM, or
    # the firmware frozen in) takes a 9 kB document without a second block of that size
    run_scenario(tmp_path, scenario, uplink={"max_body": 12288})


def test_sim_pushes_a_configuration_at_a_time(tmp_path):
    from meterlink_tools.simrun import run_site
    (tmp_path / "period.json").write_text(json.dumps({"send_period_min": 2}))
    (tmp_path / "bad.json").write_text(json.dumps({"send_period_min": 0}))
    args = argparse.Namespace(site="small", modem="sim7600", duration="6m", period=1, speed="max",
                              outage=[], forever=False, json=True, rundir=None, heapsize=None,
                              push=["2m:%s" % (tmp_path / "period.json"), "3m:%s" % (tmp_path / "bad.json")])
    summary = run_virtual(lambda m: run_site(args, m, tmp_path / "run"))
    # the bad one never left the collector: its own check refused it
    assert summary["configs"] == [{"version": 1, "state": "running", "reason": None}]
    assert summary["lost"] == 0 and [b["ended"] for b in summary["boots"]] == ["exit"]
