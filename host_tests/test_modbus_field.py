"""Modbus devices and RS-485 adapters as they behave in the field, against the firmware's RTU
master and poller on the host board: an adapter that echoes the request, noise bytes after the
driver switches, answers that pause in the middle, devices that need a longer pause between
requests, answers of the wrong length, busy devices and gateways, devices that take fewer
registers per read than the profile asks, word and byte orders, and values the device marks
as not available (NaN floats, 0xFFFF words)."""
import json
import struct

import pytest

from meterlink_tools.sim.modbus import ModbusSlave, registers_for
from modbus_util import by_source, f32_text, run_ops, run_poller

CHAR_MS = 10 / 9.6          # one character at 9600 8N1


def regs(n, base=0x100):
    return {i: (base + 17 * i) & 0xFFFF for i in range(n)}


def hexdata(values):
    return "".join("%04x" % v for v in values)


def stats(boot):
    return json.loads([x for x in boot.output if x.startswith("STATS")][0][6:])


def rd(unit, count=10, **kw):
    op = {"op": "read", "unit": unit, "addr": 0, "count": count}
    op.update(kw)
    return op


# -- the master --

def test_local_echo_of_the_request_is_skipped_even_for_a_slow_device(tmp_path):
    fast = ModbusSlave(1, regs(10))
    slow = ModbusSlave(2, regs(10, 0x3000), delay_ms=400)     # answers long after the echo
    dead = ModbusSlave(3, regs(10))
    dead.fault = "silent"
    ops = [rd(1), rd(2, timeout=1000, retries=0), rd(3, timeout=300, retries=0)]
    res, bus, hb, boot = run_ops(tmp_path, [fast, slow, dead], ops, echo=True)
    assert res[0]["data"] == hexdata(regs(10).values())
    assert res[1]["data"] == hexdata(regs(10, 0x3000).values()), res[1]
    assert 400 <= res[1]["ms"] < 500
    # the echo alone is no answer: a timeout, after the whole timeout
    assert res[2]["error"] == "timeout" and res[2]["ms"] >= 300, res[2]
    st = stats(boot)
    assert st["echoes"] == 3 and st["stray"] == 0, st


def test_writes_through_an_echoing_adapter_need_the_device(tmp_path):
    s = ModbusSlave(4, regs(10))
    ops = [{"op": "write", "unit": 4, "addr": 5, "values": [1, 2, 3]},      # FC 16
           rd(4, count=2),                                                # an echo is seen
           {"op": "write", "unit": 4, "addr": 2, "values": [0xBEEF]},         # FC 06
           rd(4)]
    res, bus, hb, boot = run_ops(tmp_path, [s], ops, echo=True)
    assert res[0].get("ok") and res[2].get("ok"), res
    want = regs(10)
    want.update({2: 0xBEEF, 5: 1, 6: 2, 7: 3})
    assert res[3]["data"] == hexdata(want[i] for i in range(10))
    assert s.stats["requests"] == 4
    # an FC 06 answer is the request itself: with an echoing adapter a silent device must not
    # confirm the write by the echo
    s.fault = "silent"
    ops = [rd(4, count=1, retries=0), {"op": "write", "unit": 4, "addr": 2, "values": [7]}]
    s.fault_count = None
    res, bus, hb, boot = run_ops(tmp_path, [s], ops, echo=True)
    assert res[1].get("error") == "timeout", res


@pytest.mark.parametrize("noise", [b"\x00", b"\xff", b"\x00\x00"])
def test_noise_bytes_when_the_driver_switches_are_skipped(tmp_path, noise):
    s = ModbusSlave(5, regs(10))
    s.fault, s.stray = "stray", noise
    res, bus, hb, boot = run_ops(tmp_path, [s], [rd(5, retries=0)])
    assert res[0]["data"] == hexdata(regs(10).values())
    assert stats(boot)["stray"] == len(noise)


@pytest.mark.parametrize("pause_ms", [20, 300])
def test_an_answer_that_pauses_in_the_middle_is_waited_for(tmp_path, pause_ms):
    # a USB or Wi-Fi gateway, or a slow device, sends the first bytes and the rest later
    s = ModbusSlave(6, regs(40))
    s.split_at, s.split_ms = 10, pause_ms
    res, bus, hb, boot = run_ops(tmp_path, [s], [rd(6, count=40, timeout=1000, retries=0)])
    assert res[0]["data"] == hexdata(regs(40).values()), res[0]
    assert s.stats["requests"] == 1 and res[0]["ms"] >= pause_ms


def test_an_answer_that_stops_is_named_incomplete_within_the_timeout(tmp_path):
    s = ModbusSlave(6, regs(40))
    s.split_at, s.split_ms = 10, 2000
    res, bus, hb, boot = run_ops(tmp_path, [s], [rd(6, count=40, timeout=300, retries=0)])
    assert res[0]["error"] == "frame" and "incomplete" in res[0]["msg"], res[0]
    assert res[0]["ms"] < 2 * 300 + 50


def test_a_device_that_needs_a_longer_pause_gets_it_with_gap_ms(tmp_path):
    s = ModbusSlave(7, regs(10))
    s.holdoff_ms = 8            # deaf for 8 ms after its own answer (t3.5 is 3.6 ms)
    res, bus, hb, boot = run_ops(tmp_path, [s], [rd(7, retries=0), rd(7, retries=0)])
    assert res[1]["error"] == "timeout" and s.stats["ignored"] >= 1
    s2 = ModbusSlave(7, regs(10))
    s2.holdoff_ms = 8
    ops = [rd(7, retries=0, gap=10), rd(7, retries=0, gap=10), rd(7, retries=0, gap=10)]
    res, bus, hb, boot = run_ops(tmp_path, [s2], ops)
    assert [r.get("data") for r in res] == [hexdata(regs(10).values())] * 3, res
    assert s2.stats["requests"] == 3 and s2.stats["ignored"] == 0
    # the pause is kept: each request starts at least 10 ms after the answer before it
    t = [t_us for t_us, *_ in s2.log]
    answer_ms = 25 * CHAR_MS
    for a, b in zip(t, t[1:]):
        gap = (b - a) / 1000 - 5 - answer_ms - 8 * CHAR_MS
        assert gap >= 10, gap


def test_an_answer_of_the_wrong_length_is_a_counted_error_at_once(tmp_path):
    s = ModbusSlave(8, regs(10))
    s.fault = "short"           # a sound frame, one register short
    res, bus, hb, boot = run_ops(tmp_path, [s], [rd(8, retries=1)])
    r = res[0]
    assert r["error"] == "length" and "18 data bytes, 20 asked for" in r["msg"], r
    assert s.stats["requests"] == 2
    # each attempt ended with the short frame, not after a silence
    assert r["ms"] < 2 * (4 + 8 * CHAR_MS + 5 + 23 * CHAR_MS) + 10, r


def test_a_busy_device_and_a_gateway_without_answer_are_asked_again(tmp_path):
    busy = ModbusSlave(9, regs(10))
    busy.fault, busy.exception_code, busy.fault_count = "exception", 6, 1
    gw = ModbusSlave(10, regs(10, 0x2000))
    gw.fault, gw.exception_code, gw.fault_count = "exception", 11, 1
    nopath = ModbusSlave(11, regs(10))
    nopath.fault, nopath.exception_code = "exception", 10
    refuses = ModbusSlave(12, regs(10))
    refuses.fault, refuses.exception_code = "exception", 2
    ops = [rd(9), rd(10), rd(11, retries=3), rd(12, retries=3)]
    res, bus, hb, boot = run_ops(tmp_path, [busy, gw, nopath, refuses], ops)
    assert res[0]["data"] == hexdata(regs(10).values()) and busy.stats["requests"] == 2
    assert res[0]["ms"] >= 100                 # a pause before asking a busy device again
    assert res[1]["data"] == hexdata(regs(10, 0x2000).values()) and gw.stats["requests"] == 2
    assert res[2]["error"] == "exception" and res[2]["code"] == 10
    assert res[2]["name"] == "gateway path unavailable" and nopath.stats["requests"] == 1
    assert res[3]["code"] == 2 and refuses.stats["requests"] == 1


def test_an_answer_from_another_unit_is_not_taken(tmp_path):
    s = ModbusSlave(13, regs(10))
    s.fault = "address"
    res, bus, hb, boot = run_ops(tmp_path, [s], [rd(13, retries=0, timeout=200)])
    assert res[0]["error"] == "address" and "unit 14 answered" in res[0]["msg"]


# -- the poller --

def f32_profile(name, n, **kw):
    doc = {"name": name, "source": "test", "unverified": [], "fc": 3, "order": "high_first",
           "fields": [{"key": "v%d" % i, "addr": 2 * i, "type": "f32", "unit": "V"} for i in range(n)]}
    doc.update(kw)
    return doc


def entry(unit, profile, **kw):
    e = {"id": "D%d" % unit, "address": unit, "profile": profile, "period_s": 5,
         "timeout_ms": 200, "retries": 1}
    e.update(kw)
    return e


def poll(tmp_path, devices, entries, seconds, profiles, **kw):
    args = ["profile:%s=%s" % (p["name"], json.dumps(p)) for p in profiles]
    readings, status, bus, hb = run_poller(tmp_path, devices, entries, seconds, extra_args=args, **kw)
    return by_source(readings), {d["id"]: d for d in status["rs485"]["devices"]}, status


@pytest.mark.parametrize("code", [2, 3])
def test_a_device_that_takes_fewer_registers_is_read_in_parts(tmp_path, code):
    doc = f32_profile("wide", 20)                      # one read of 40 registers
    values = {"v%d" % i: 200.5 + i for i in range(20)}
    s = ModbusSlave(1, registers_for(doc, values))
    s.max_regs, s.too_long_code = 16, code            # e.g. meters that refuse more than 50
    got, dev, _ = poll(tmp_path, [s], [entry(1, "wide")], 12, [doc])
    assert len(got["mb:D1"]) == 3
    for r in got["mb:D1"]:
        assert r["values"] == {"v%d" % i: ["%g" % (200.5 + i), "V"] for i in range(20)}
    d = dev["D1"]
    assert d["max_regs"] is not None and d["max_regs"] <= 16, d
    # only the first poll had refusals: 40, then the first half of 20 (its halves of 10 read,
    # so 10 is the limit learnt and the second half is read as two 10s at once)
    assert d["counts"]["exception"] == 2 and d["counts"]["split"] == 2, d
    assert d["counts"]["failed"] == 0 and d["online"]
    later = [c for t, fc, a, c in s.log[-4:]]
    assert all(c <= 16 for c in later) and sum(later) == 40, s.log


def test_a_register_the_device_lacks_costs_only_its_own_value(tmp_path):
    doc = f32_profile("gap", 8)
    s = ModbusSlave(1, registers_for(doc, {"v%d" % i: i + 0.5 for i in range(8)}))
    s.refuse = {10}                                   # v5's first register
    got, dev, _ = poll(tmp_path, [s], [entry(1, "gap")], 6, [doc])
    values = got["mb:D1"][0]["values"]
    assert values == {"v%d" % i: ["%g" % (i + 0.5), "V"] for i in range(8) if i != 5}
    assert dev["D1"]["max_regs"] is None               # not a length limit: nothing learnt
    assert dev["D1"]["counts"]["failed"] == 0


NAN = struct.unpack(">f", bytes.fromhex("7fc00000"))[0]


def test_values_the_device_marks_not_available_read_as_invalid(tmp_path):
    doc = {"name": "na", "source": "test", "unverified": [], "fc": 3,
           "fields": [{"key": "voltage_l1", "addr": 0, "type": "f32", "unit": "V"},
                      {"key": "voltage_l2", "addr": 2, "type": "f32", "unit": "V"},
                      {"key": "voltage_l3", "addr": 4, "type": "f32", "unit": "V"},
                      {"key": "power", "addr": 6, "type": "f32", "unit": "W"},
                      {"key": "cos_phi", "addr": 8, "type": "s16", "scale": "0.001", "na": ["0x8000"]},
                      {"key": "steps_on", "addr": 9, "type": "u16", "na": [65535],
                       "steps": {"count": 4, "key": "step_%d"}},
                      {"key": "import_kwh", "addr": 10, "type": "u32", "scale": "0.1", "unit": "kWh",
                       "na": [4294967295]}]}
    r = registers_for(doc, {"voltage_l1": 230.5, "power": 1500.0, "cos_phi": -950,
                            "steps_on": 5, "import_kwh": 123})
    r.update({2: 0x7FC0, 3: 0x0000,            # quiet NaN: a phase that is not connected
              4: 0xFFFF, 5: 0xFFFF})           # all ones: a NaN too
    s = ModbusSlave(1, r)
    s2 = ModbusSlave(2, registers_for(doc, {"voltage_l1": 0.0, "voltage_l2": float("inf"),
                                            "voltage_l3": NAN, "power": -0.0, "cos_phi": -32768,
                                            "steps_on": 0xFFFF, "import_kwh": 0xFFFFFFFF}))
    got, dev, _ = poll(tmp_path, [s, s2], [entry(1, "na"), entry(2, "na")], 4, [doc])
    v1 = got["mb:D1"][0]["values"]
    assert v1 == {"voltage_l1": ["230.5", "V"], "voltage_l2": [None, "V"], "voltage_l3": [None, "V"],
                  "power": ["1500", "W"], "cos_phi": ["-0.950", None], "steps_on": [5, None],
                  "step_1": [1, None], "step_2": [0, None], "step_3": [1, None], "step_4": [0, None],
                  "import_kwh": ["12.3", "kWh"]}
    v2 = got["mb:D2"][0]["values"]
    assert v2 == {"voltage_l1": ["0", "V"], "voltage_l2": [None, "V"], "voltage_l3": [None, "V"],
                  "power": ["0", "W"], "cos_phi": [None, None], "steps_on": [None, None],
                  "import_kwh": [None, "kWh"]}
    assert dev["D1"]["counts"]["invalid"] == 2 and dev["D2"]["counts"]["invalid"] == 5


def test_word_and_byte_orders(tmp_path):
    orders = ["abcd", "cdab", "badc", "dcba", "high_first", "low_first"]
    fields = [{"key": "f_" + o, "addr": 2 * i, "type": "f32", "order": o} for i, o in enumerate(orders)]
    fields += [{"key": "u_" + o, "addr": 20 + 2 * i, "type": "u32", "order": o} for i, o in enumerate(orders)]
    fields += [{"key": "s_badc", "addr": 40, "type": "s16", "order": "badc"}]
    doc = {"name": "orders", "source": "test", "unverified": [], "fields": fields}
    vals = {"f_" + o: 230.1 + i for i, o in enumerate(orders)}
    vals.update({"u_" + o: 0x12345678 + i for i, o in enumerate(orders)})
    vals["s_badc"] = -2
    s = ModbusSlave(1, registers_for(doc, vals))
    a, b, c, d = struct.pack(">f", 230.1)                       # 43 66 19 9a
    assert s.read(0, 2) == [(a << 8) | b, (c << 8) | d]
    a, b, c, d = struct.pack(">f", 232.1)
    assert s.read(4, 2) == [(b << 8) | a, (d << 8) | c]                 # badc
    a, b, c, d = struct.pack(">f", 233.1)
    assert s.read(6, 2) == [(d << 8) | c, (b << 8) | a]                 # dcba
    got, dev, _ = poll(tmp_path, [s], [entry(1, "orders")], 3, [doc])
    v = got["mb:D1"][0]["values"]
    for i, o in enumerate(orders):
        assert v["f_" + o] == [f32_text(230.1 + i), None], (o, v["f_" + o])
        assert v["u_" + o] == [0x12345678 + i, None], o
    assert v["s_badc"] == [-2, None]


def test_a_gateway_that_cannot_reach_the_device_is_not_asked_for_more_blocks(tmp_path):
    doc = f32_profile("two", 2)
    doc["fields"].append({"key": "far", "addr": 100, "type": "u16"})
    s = ModbusSlave(1, registers_for(doc, {"v0": 1.0, "v1": 2.0, "far": 7}))
    s.fault, s.exception_code = "exception", 11
    got, dev, _ = poll(tmp_path, [s], [entry(1, "two")], 4, [doc])
    assert "mb:D1" not in got
    assert {a for _, _, a, _ in s.log} == {0}           # block 2 never asked
    assert s.stats["requests"] == 2                     # asked again once (retries 1)
    assert dev["D1"]["counts"]["exception"] == 2 and dev["D1"]["counts"]["failed"] == 1


def test_busy_once_still_gives_the_reading(tmp_path):
    doc = f32_profile("two", 2)
    s = ModbusSlave(1, registers_for(doc, {"v0": 1.0, "v1": 2.0}))
    s.fault, s.exception_code, s.fault_count = "exception", 6, 1
    got, dev, _ = poll(tmp_path, [s], [entry(1, "two")], 4, [doc])
    assert got["mb:D1"][0]["values"] == {"v0": ["1", "V"], "v1": ["2", "V"]}
    assert dev["D1"]["counts"]["exception"] == 1 and s.stats["requests"] == 2


def test_gap_ms_keeps_a_slow_device_from_missing_requests(tmp_path):
    doc = f32_profile("blocks", 2)
    doc["fields"] += [{"key": "a", "addr": 50, "type": "u16"}, {"key": "b", "addr": 80, "type": "u16"}]
    vals = {"v0": 1.0, "v1": 2.0, "a": 3, "b": 4}
    want = {"v0": ["1", "V"], "v1": ["2", "V"], "a": [3, None], "b": [4, None]}

    def dev():
        s = ModbusSlave(1, registers_for(doc, vals))
        s.holdoff_ms = 8
        return s
    s = dev()
    got, devs, _ = poll(tmp_path, [s], [entry(1, "blocks")], 11, [doc])
    assert got["mb:D1"][0]["values"] == want        # the retries get there...
    assert devs["D1"]["counts"]["timeout"] >= 4     # ...at a timeout per block
    s = dev()
    got, devs, _ = poll(tmp_path, [s], [entry(1, "blocks", gap_ms=10)], 11, [doc])
    assert [r["values"] for r in got["mb:D1"]] == [want] * 3
    assert devs["D1"]["counts"]["timeout"] == 0 and s.stats["ignored"] == 0


def test_the_poller_reads_through_an_echoing_adapter(tmp_path):
    doc = f32_profile("two", 2)
    s = ModbusSlave(1, registers_for(doc, {"v0": 1.5, "v1": 2.5}), delay_ms=150)
    got, devs, status = poll(tmp_path, [s], [entry(1, "two", timeout_ms=500)], 11, [doc], echo=True)
    assert [r["values"] for r in got["mb:D1"]] == [{"v0": ["1.5", "V"], "v1": ["2.5", "V"]}] * 3
    assert status["rs485"]["echoes"] == 3 and status["rs485"]["stray"] == 0
    assert devs["D1"]["counts"]["failed"] == 0
