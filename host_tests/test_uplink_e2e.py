"""The app's uplink on the host board, in virtual time, against the real collector over HTTP
(a stand-in replaces the modem until the modem capability exists): readings taken before the
clock was set are fixed, an outage and lost answers lose nothing and store nothing twice."""
import asyncio
import json

from hostboard_util import HostBoard, run_virtual, script
from meterlink_tools.collector import Collector, serve_in_thread

EXIT_POWER_CUT = 86
EPOCH = 1767225600          # 2026-01-01T00:00:00Z: the collector's time at virtual t = 0
KEY = bytes(range(100, 132))


def run_e2e(tmp_path, readings, every_s, outage=(0, 0), lose_every=0, period_min=1, max_body=16384,
            cut_after_writes=None, seal_max_s=900):
    async def go(master):
        c = Collector(tmp_path / "collector.db", clock=lambda: EPOCH + master.now_us / 1e6)
        c.add_device("e2e-1", KEY)
        srv = serve_in_thread(c)
        cfg = {"server": {"url": srv.url}, "send_period_min": period_min,
               "uplink": {"max_body": max_body}, "watchdog": {"start_delay_s": 30},
               "spool": {"seal_max_s": seal_max_s}}
        files = {"config.json": json.dumps(cfg),
                 "secrets.json": json.dumps({"device_id": "e2e-1", "key": KEY.hex()})}
        done = asyncio.Event()
        produced = []

        def on_line(text):
            if text.startswith("PRODUCED"):
                produced.append(asyncio.get_running_loop().time())
            if produced and "spool empty" in text:
                done.set()

        hb = HostBoard(tmp_path / "fw", clock=master, files=files, on_line=on_line,
                       script=script("uplink_e2e.py"), fail_after_writes=cut_after_writes,
                       script_args=[readings, every_s, outage[0], outage[1], lose_every])
        await hb.boot()
        if cut_after_writes:
            first = await asyncio.wait_for(hb.wait(), timeout=readings * every_s)
            assert first.code == EXIT_POWER_CUT, first.output
            hb.fail_after_writes = None
            await hb.boot()
        waiter = asyncio.create_task(hb.wait())
        try:
            await asyncio.wait_for(done.wait(), timeout=readings * every_s + 3600)
        finally:
            hb.stop()
            boot = await waiter
            srv.stop()
        return c, boot
    return run_virtual(go)


def check_all_stored_once(c, readings):
    sets = c.reading_sets("e2e-1")
    ns = sorted(int(v["n"][0]) for _, _, _, _, v in sets)
    assert ns == list(range(readings)), "missing %s" % sorted(set(range(readings)) - set(ns))
    st = c.stats("e2e-1")
    assert st["duplicates"] == 0
    return sets, st


def test_every_reading_arrives_once_and_early_ones_get_their_time(tmp_path):
    c, boot = run_e2e(tmp_path, readings=30, every_s=20)
    assert boot.code == 0, boot.output
    sets, st = check_all_stored_once(c, 30)
    assert st["clock_unknown"] == 0
    # the first reading was taken at power-on, before any clock was set: its time was fixed
    first = min(sets, key=lambda s: int(s[4]["n"][0]))
    assert not first[2] and abs(first[1] - EPOCH) <= 2
    times = [t for _, t, _, _, _ in sorted(sets, key=lambda s: int(s[4]["n"][0]))]
    steps = [b - a for a, b in zip(times, times[1:])]
    assert abs(steps[0] - 20) <= 1 and set(steps[1:]) == {20}, times    # whole seconds
    status = json.loads(c.db.execute("SELECT status FROM device_state").fetchone()[0])
    assert status["clock_valid"] and status["clock_source"] == "server"


def test_outage_and_lost_answers_lose_nothing(tmp_path):
    # 3 readings a minute for 2 h; the server is unreachable from 20 to 70 min; every 5th
    # answer is lost after the collector stored the request
    c, boot = run_e2e(tmp_path, readings=360, every_s=20, outage=(1200, 4200), lose_every=5,
                      max_body=2048)
    assert boot.code == 0, boot.output
    sets, st = check_all_stored_once(c, 360)
    assert st["resent_batches"] > 0                  # lost answers made the device resend
    sizes = [r[0] for r in c.db.execute("SELECT bytes FROM uploads")]
    assert max(sizes) <= 2048
    status = json.loads(c.db.execute("SELECT status FROM device_state").fetchone()[0])
    assert status["upload_failures"] > 0 and status["operator"] == "Sim Net"
    assert status["lost_sets"] == 0


def test_power_cut_mid_run_loses_only_what_was_not_yet_on_flash(tmp_path):
    # the server is down from the second minute of the first boot, so batches (sealed every
    # 2 min) wait on flash when the power goes
    c, boot = run_e2e(tmp_path, readings=60, every_s=20, outage=(60, 99999), cut_after_writes=60,
                      seal_max_s=120)
    assert boot.code == 0, boot.output
    sets = c.reading_sets("e2e-1")
    ns = sorted(int(v["n"][0]) for _, _, _, _, v in sets)
    first_boot = [n for n in ns if n < 100000]
    second_boot = [n - 100000 for n in ns if n >= 100000]
    assert second_boot == list(range(60))
    # what the first boot had sealed arrives after the restart, in order, once; only the
    # reading sets still in RAM at the cut are missing
    assert first_boot == list(range(len(first_boot))) and len(first_boot) >= 15
    st = c.stats("e2e-1")
    assert st["duplicates"] == 0 and st["clock_unknown"] == 0
    epochs = {e for (e,) in c.db.execute("SELECT DISTINCT epoch FROM batches")}
    assert epochs == {1, 2}
