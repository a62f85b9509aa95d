"""The Modbus poller capability on the host board: per-device periods, faults counted and shown
on the LEDs without slowing the other devices, offline back-off, a line shared with 7E1 meter
sessions, and 247 devices in one cycle near the line-rate minimum."""
import json

from meterlink_tools.sim.modbus import ModbusSlave, load_profile, registers_for
from modbus_util import by_source, run_poller
from test_modbus_master import Meter7E1

GENERIC = load_profile("generic")


def slave(unit, fault=None, **kw):
    s = ModbusSlave(unit, registers_for(GENERIC, {"voltage_l1": 230.5, "steps_on": 0x5}), **kw)
    s.fault = fault
    return s


def entry(unit, **kw):
    e = {"id": "D%d" % unit, "address": unit, "profile": "generic", "period_s": 5,
         "timeout_ms": 200, "retries": 1}
    e.update(kw)
    return e


def test_faults_are_counted_and_never_slow_the_healthy_devices(tmp_path):
    devices = [slave(1), slave(2), slave(4, "crc"), slave(5, "exception"), slave(6, "stray"),
               slave(7, "late")]
    devices[-1].late_ms = 450          # after the retry too: lands among the next transactions
    entries = [entry(u) for u in (1, 2, 3, 4, 5, 6, 7)]     # unit 3: nothing there
    readings, status, bus, hb = run_poller(tmp_path, devices, entries, 120)
    got = by_source(readings)
    dev = {d["id"]: d for d in status["rs485"]["devices"]}
    # healthy devices: read every 5 s, whatever the others do
    t0 = devices[0].log[0][0] - 10_000
    for name, dev_sim in (("D1", devices[0]), ("D2", devices[1]), ("D6", devices[4])):
        assert len(got["mb:" + name]) == 24, name
        # on a 5 s grid: a poll may wait for the devices due before it (the faulty ones
        # cost a bounded time each, less once offline), and the delay does not accumulate
        late = [(t - t0) / 1e6 - 5 * k for k, (t, *_) in enumerate(dev_sim.log)]
        assert all(0 <= x < 1.0 for x in late), (name, late)
        assert got["mb:" + name][0]["values"]["voltage_l1"] == ["230.5", "V"]
        assert dev[name]["online"] and dev[name]["counts"]["failed"] == 0
    # the dead one: offline after 3 polls, then tried at 10, 20, 40 s intervals with no retry
    d3 = dev["D3"]
    assert not d3["online"] and "mb:D3" not in got
    assert d3["counts"]["polls"] == 6, d3
    assert d3["counts"]["timeout"] == 3 * 2 + 3 * 1, d3
    d4 = dev["D4"]["counts"]
    assert d4["crc"] >= 6 and d4["polls"] == d4["failed"] == 6, d4
    d5 = dev["D5"]["counts"]
    assert d5["exception"] == d5["polls"] == 6, d5            # an exception is never retried
    d7 = dev["D7"]["counts"]
    assert d7["timeout"] >= 6 and "mb:D7" not in got, d7
    assert status["rs485"]["stray"] >= 24 * 3                # D6's noise, dropped every poll
    # LEDs: queries and answers pulsed; the error LED followed the failures
    pins = hb.pins()
    err = [v for t, n, v in pins if n == "LED_RS485_ERROR"]
    q_on = [t for t, n, v in pins if n == "LED_RS485_QUERY" and v == 1]
    assert err.count(1) >= 10 and err[-1] in (0, 1)
    assert len(q_on) >= status["rs485"]["transactions"] - 1
    assert any(n == "LED_RS485_RESPONSE" and v == 1 for _, n, v in pins)


def test_meter_sessions_share_the_line_between_modbus_transactions(tmp_path):
    devices = [slave(1), slave(2, settings="19200 8E1"), slave(3, settings="9600 8O1"), Meter7E1()]
    entries = [entry(1, period_s=2), entry(2, line="19200 8E1", period_s=2),
               entry(3, line="9600 8O1", period_s=2)]
    readings, status, bus, hb = run_poller(tmp_path, devices, entries, 30, extra_args=["meter:700"])
    got = by_source(readings)
    for u in (1, 2, 3):
        assert len(got["mb:D%d" % u]) == 15, u
    assert status["meter"]["failed"] == 0 and status["meter"]["ok"] >= 35, status["meter"]
    assert devices[-1].asked == status["meter"]["ok"]
    assert bus.medium.stats["collisions"] == 0
    for d in status["rs485"]["devices"]:
        assert d["counts"]["failed"] == 0 and d["counts"]["timeout"] == 0, d


BENCH_PROFILE = {"name": "bench20", "fc": 3, "order": "high_first",
                 "source": "a 20-register test device", "unverified": [],
                 "fields": [{"key": "v%d" % i, "addr": 2 * i, "type": "f32", "unit": "V"} for i in range(10)]}


def bench_devices(n=247, delay_ms=5.0):
    regs = registers_for(BENCH_PROFILE, {"v%d" % i: 230.0 + i for i in range(10)})
    return [ModbusSlave(u, regs, delay_ms=delay_ms) for u in range(1, n + 1)]


def cycle_minimum_s(n, regs=20, delay_ms=5.0, baud=9600, bits_per_char=10):
    """The line-rate minimum of one poll cycle: request (8 bytes) and answer (5 + 2 x regs)
    at the baud rate, the device's response delay, and t3.5 after each answer."""
    char_s = bits_per_char / baud
    return n * ((8 + 5 + 2 * regs) * char_s + delay_ms / 1000 + 3.5 * char_s)


def test_247_devices_in_one_cycle_near_the_line_rate(tmp_path):
    devices = bench_devices()
    entries = [{"id": "M%d" % u, "address": u, "profile": "bench20", "period_s": 600}
               for u in range(1, 248)]
    readings, status, bus, hb = run_poller(
        tmp_path, devices, entries, 20,
        extra_args=["quiet", "profile:bench20=" + json.dumps(BENCH_PROFILE)])
    assert status["readings"] == 247
    assert all(d["counts"]["polls"] == 1 and d["online"] for d in status["rs485"]["devices"])
    t_first = devices[0].log[0][0] - 8 * 10 / 9600 * 1e6          # the first request's start
    t_last = devices[-1].log[0][0] + (5 + 45 * 10 / 9600 * 1000 + 3.5 * 10 / 9.6) * 1000
    ratio = (t_last - t_first) / 1e6 / cycle_minimum_s(247)
    print("modbus cycle ratio", ratio)
    assert ratio <= 1.10, ratio
    assert bus.medium.stats["collisions"] == 0


def test_a_new_device_list_is_applied_live_and_keeps_the_devices_that_stay(tmp_path):
    """A pushed configuration that removes D1, keeps D2 and adds D3 on the port: no restart,
    D1 is no longer asked, D3 is read from then on, D2 keeps its 5 s cadence and its counters."""
    devices = [slave(1), slave(2), slave(3)]
    readings, status, bus, hb = run_poller(
        tmp_path, devices, [entry(1), entry(2)], 40,
        extra_args=["reconfig:17500:" + json.dumps([entry(2), entry(3)])])
    out = "\n".join(hb.output())
    assert "RECONFIG True" in out and "restarting" not in out
    d1, d2, d3 = (d.log for d in devices)
    assert len(d1) == 4                   # at 0, 5, 10 and 15 s of its cadence, then no more
    assert d1[-1][0] < d3[0][0]
    got = by_source(readings)
    dev = {d["id"]: d for d in status["rs485"]["devices"]}
    assert set(dev) == {"D2", "D3"}
    assert dev["D2"]["counts"]["polls"] == len(d2) == len(got["mb:D2"]) == 8
    gaps = [(b[0] - a[0]) / 1e6 for a, b in zip(d2, d2[1:])]
    assert all(4.9 < g < 5.5 for g in gaps), gaps          # the cadence went on through the change
    assert dev["D3"]["counts"]["polls"] == len(d3) == len(got["mb:D3"]) >= 4


def test_modbus_devices_pushed_to_a_terminal_that_had_none_start_without_a_restart(tmp_path):
    devices = [slave(1), slave(2)]
    readings, status, bus, hb = run_poller(
        tmp_path, devices, [], 30, extra_args=["reconfig:10000:" + json.dumps([entry(1), entry(2)])])
    out = "\n".join(hb.output())
    assert "RECONFIG True" in out and "restarting" not in out
    assert "2 devices on rs485" in out
    got = by_source(readings)
    for d, name in zip(devices, ("mb:D1", "mb:D2")):
        assert d.log and len(got[name]) == len(d.log) == 4, name     # at 10, 15, 20, 25 s
