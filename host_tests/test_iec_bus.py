"""Many meters on one RS-485 line, and every simulated fault: a failing meter costs bounded
time, lights the error LED, is counted, and the other meters are still read."""
import pytest

from iec_util import run_poller, run_sessions
from meterlink_tools.sim.meter import IecMeter

RS485 = {"baudrate": 9600, "bits": 7, "parity": "E", "stop": 1, "idle_gap_ms": 200}
OPTICAL = {"baudrate": 300, "max_baudrate": 19200, "switch_delay_ms": 20}


def energy(i):
    return "%06d.%03d" % (1000 + i, 7 * i)


def bus_meters(n, **kw):
    return [IecMeter("makel", "%09d" % (100 + i), bus=True, registers={"1.8.0": energy(i)}, **kw)
            for i in range(n)]


def entries(meters, **kw):
    return [dict({"id": "M%02d" % i, "port": "rs485", "address": m.address}, **kw)
            for i, m in enumerate(meters)]


def test_32_addressed_meters_share_the_line_with_another_master(tmp_path):
    meters = bus_meters(32)
    cfg = {"poll_period_s": 600, "ports": {"rs485": RS485}, "meters": entries(meters)}
    # the 32 readings are kept by the reading sink: more heap than the unix port's default
    readings, status, leds, boot, hb, media = run_poller(
        tmp_path, {"rs485": ({}, meters)}, cfg, 100, heapsize="384K", extra={"interloper_ms": 400})
    got = {r["source"]: r["values"] for r in readings}
    assert sorted(got) == ["meter:M%02d" % i for i in range(32)]
    for i, m in enumerate(meters):
        v = got["meter:M%02d" % i]
        assert v["1.8.0"] == [energy(i), "kWh"]
        assert v["0.0.0"] == [m.serial, None]
        # every request named this meter, each meter answered exactly once
        assert [e[2] for e in m.events if e[1] == "request"] == [m.address]
        assert m.stats["readouts"] == 1 and m.stats["b0"] == 1
    assert media["rs485"].stats["collisions"] == 0
    assert all(s["errors"] == 0 and s["reads"] == 1 for s in status.values())
    # the other master got the line between meters, never inside a meter's session
    assert hb.interloped[0] > 10
    windows = [(m.sessions[0][0], m.sessions[0][1]) for m in meters]
    fast = [t for t, k, v in media["rs485"].master.events if k == "line" and v == "19200 8N1"]
    # ... and got it between every two meters (the port is taken per session, not per cycle),
    # each time on its own line settings, which the meter session then set back
    inside_cycle = [t for t in fast if windows[0][0] < t < windows[-1][1]]
    assert len(inside_cycle) >= 31
    for t in fast:
        assert not any(a < t < b for a, b in windows), t


RS485_FAULTS = {
    "silent": "timeout",
    "slow": "timeout",
    "bad_bcc": "bcc",
    "garbage": "garbage",
    "nak": "nak",
    "truncated": "truncated",
}


@pytest.mark.parametrize("fault", sorted(RS485_FAULTS))
def test_a_faulty_meter_costs_bounded_time_and_the_others_are_read(tmp_path, fault):
    meters = bus_meters(3)
    meters[1].fault = fault
    res, boot, medium, events, hb = run_sessions(
        tmp_path, "rs485", meters, {"line": RS485, "meters": entries(meters), "rounds": 2})
    by = [(r["id"], r.get("error")) for r in res]
    assert by == [("M00", None), ("M01", RS485_FAULTS[fault]), ("M02", None)] * 2
    for r in res:
        if r["id"] == "M01":
            # retries once at most: two sessions of reaction, readout and sign-off timeouts
            assert r["ms"] < 12000, r
            assert r["leds"]["rs485_error"] == 1
        else:
            assert r["values"]["1.8.0"] == [energy(int(r["id"][1:])), "kWh"]
            assert r["leds"]["rs485_error"] == 0       # cleared by the next good exchange
    assert meters[1].stats["requests"] >= 2
    assert meters[0].stats["readouts"] == meters[2].stats["readouts"] == 2


def test_poller_counts_errors_and_drives_the_leds(tmp_path):
    meters = bus_meters(3)
    meters[1].fault = "silent"
    cfg = {"poll_period_s": 30, "ports": {"rs485": RS485}, "meters": entries(meters)}
    readings, status, leds, boot, hb, _ = run_poller(tmp_path, {"rs485": ({}, meters)}, cfg, 70)
    assert sorted({r["source"] for r in readings}) == ["meter:M00", "meter:M02"]
    assert status["M01"]["errors"] == 3 and status["M01"]["consecutive"] == 3
    assert status["M01"]["kinds"] == {"timeout": 3}
    assert status["M00"]["reads"] == 3 and status["M00"]["errors"] == 0
    err = [v for t, n, v in hb.pins() if n == "LED_RS485_ERROR"]
    assert err.count(1) == 3 and err[-1] == 0
    query = [v for t, n, v in hb.pins() if n == "LED_RS485_QUERY"]
    assert query.count(1) >= 9
    assert any(n == "LED_RS485_RESPONSE" and v == 1 for t, n, v in hb.pins())
    assert not any(n.startswith("LED_OPT") and v == 1 for t, n, v in hb.pins())
    # only the first failure (and every tenfold repeat) reaches the flash log
    warns = [l for l in boot.output if "WARN meters" in l]
    assert len(warns) == 1


def test_meter_that_ignores_the_rate_switch(tmp_path):
    m = IecMeter("luna", "7", fault="ignore_switch")
    res, boot, medium, events, hb = run_sessions(
        tmp_path, "optical", [m], {"line": OPTICAL, "meters": [{"id": "M"}], "rounds": 2})
    assert [r.get("error") for r in res] == [None, None]
    assert res[0]["values"]["1.8.0"] == res[1]["values"]["1.8.0"] == ["062846.236", "kWh"]
    switches = [v for t, k, v in events if k == "line" and v.endswith("7E1") and v != "300 7E1"]
    # silence at 9600 may mean a meter that does not know the short readout: the full
    # readout is tried there once; then one rate lower, then the sign-on rate
    assert switches == ["9600 7E1", "9600 7E1", "4800 7E1"]
    assert [e[2][:3] for e in m.events if e[1] == "option"] == ["5 6", "5 0", "4 6", "0 6", "0 6"]
    # (the first session hears out a short and a full readout at 300 Bd, each about 27 s)
    assert res[0]["ms"] < 130000 and res[1]["ms"] < 20000
    assert res[0]["leds"]["opt_error"] == 0


def test_meters_that_answer_b0_are_waited_for(tmp_path):
    # MASS meters acknowledge B0 (the standard has no answer); answering 210 ms later, that
    # ACK would hit the next meter's request if the terminal moved on after the idle gap
    meters = bus_meters(3, reaction_ms=210)
    meters[0].b0_reply = meters[2].b0_reply = b"\x06"
    res, boot, medium, events, hb = run_sessions(
        tmp_path, "rs485", meters, {"line": RS485, "meters": entries(meters), "rounds": 3})
    assert [r.get("error") for r in res] == [None] * 9
    assert medium.stats["collisions"] == 0
    assert all(m.stats["readouts"] == 3 for m in meters)
    ms = {(r["id"], r["round"]): r["ms"] for r in res}
    # the first B0 to a meter listens 1600 ms; one that gave no answer then gets the idle gap
    assert 1350 <= ms[("M01", 0)] - ms[("M01", 1)] <= 1450
    # one that answered is waited for as long as its answer takes, each time
    assert abs(ms[("M00", 0)] - ms[("M00", 1)]) <= 5
    assert ms[("M00", 1)] > ms[("M01", 1)]
