"""The Modbus RTU master on the host board against pymodbus-backed slaves on the simulated
RS-485 bus: register values, DE timing checked by the bus, every fault, and line settings
switched per transaction on a line shared with a 7E1 device."""
import pytest

from meterlink_tools.sim.modbus import ModbusSlave
from meterlink_tools.sim.wire import Device, LineSettings
from modbus_util import run_ops

CHAR_US = 10 * 1_000_000 / 9600


def regs(n, base=0x100):
    return {i: (base + 17 * i) & 0xFFFF for i in range(n)}


def hexdata(values):
    return "".join("%04x" % v for v in values)


class Meter7E1(Device):
    """A stand-in for an IEC 62056-21 meter at 9600 7E1: answers '/?!' with its identification."""

    def __init__(self):
        super().__init__("meter", LineSettings(9600, 7, "E", 1))
        self.buf = b""
        self.asked = 0

    def receive(self, data, t_us):
        self.buf = (self.buf + data)[-16:]
        if self.buf.endswith(b"/?!\r\n"):
            self.buf = b""
            self.asked += 1
            self.send(b"/KFM5MT174\r\n", t_us + 20_000)


def de_windows(events):
    out, on = [], None
    for t, kind, v in events:
        if kind == "rts" and v == 1:
            on = t
        elif kind == "rts" and v == 0 and on is not None:
            out.append((on, t))
            on = None
    return out


def test_registers_read_and_de_released_at_the_last_stop_bit(tmp_path):
    # the slave answers after exactly t3.5 (3.65 ms at 9600 8N1): the quickest a device may
    s = ModbusSlave(5, regs(40), delay_ms=3.65)
    ops = [{"op": "read", "unit": 5, "addr": 0, "count": 20},
           {"op": "read", "unit": 5, "fc": 4, "addr": 20, "count": 20}]
    res, bus, hb, boot = run_ops(tmp_path, [s], ops)
    assert [r.get("data") for r in res] == [hexdata(regs(40)[i] for i in range(20)),
                                            hexdata(regs(40)[i] for i in range(20, 40))]
    assert bus.medium.stats["collisions"] == 0
    wins = de_windows(bus.port.events)
    assert len(wins) == 2
    for on, off in wins:
        last_stop = on + 8 * CHAR_US          # an 8-byte request
        assert last_stop - 1 <= off <= last_stop + CHAR_US / 2, (on, off)
    # each transaction: request, 3.65 ms, 45-byte answer, and the answer ends it (no gap wait)
    assert res[0]["ms"] <= int((8 + 45) * CHAR_US / 1000 + 3.65 + 4) + 1


def test_releasing_de_late_loses_the_answer(tmp_path):
    s = ModbusSlave(5, regs(20), delay_ms=3.65)
    ops = [{"op": "read", "unit": 5, "addr": 0, "count": 20, "timeout": 200, "retries": 0}]
    res, bus, hb, boot = run_ops(tmp_path, [s], ops, late_de=True)
    assert s.stats["answers"] == 1
    assert res[0].get("error") in ("timeout", "frame", "crc"), res
    assert bus.medium.stats["collisions"] > 0


@pytest.mark.parametrize("fault,kind,tries", [
    ("silent", "timeout", 2), ("crc", "crc", 2), ("late", "timeout", 1), ("address", "address", 2),
    ("exception", "exception", 1), ("stray", None, 1)])
def test_each_fault_is_named_bounded_and_the_next_device_still_reads(tmp_path, fault, kind, tries):
    bad = ModbusSlave(7, regs(10))
    bad.fault = fault
    bad.late_ms = 300
    good = ModbusSlave(9, regs(10, 0x4000))
    # a late answer is only late for the last attempt (an earlier one's answer would do for the
    # retry: RTU has no transaction ids), so that case runs without retries
    ops = [{"op": "read", "unit": 7, "addr": 0, "count": 10, "timeout": 200, "retries": tries - 1},
           {"op": "sleep", "ms": 400},
           {"op": "read", "unit": 9, "addr": 0, "count": 10, "timeout": 200, "retries": 1}]
    res, bus, hb, boot = run_ops(tmp_path, [bad, good], ops)
    r = res[0]
    assert r.get("error") == kind, r
    assert bad.stats["requests"] == tries
    # bounded: at most (1 + retries) x (t3.5 + request + timeout) plus a broken answer's gap
    assert r["ms"] <= tries * (4 + 9 + 200) + 140, r
    if kind == "exception":
        assert r["code"] == 4 and r["name"] == "server device failure"
    stats = [l for l in boot.output if l.startswith("STATS")][0]
    if fault == "stray":
        assert r["data"] == hexdata(regs(10)[i] for i in range(10))
        assert '"stray": 3' in stats
    if fault == "late":
        assert '"stray": 25' in stats      # the late answer, dropped before the next request
    assert res[2].get("data") == hexdata(regs(10, 0x4000)[i] for i in range(10)), res[2]
    assert good.stats["requests"] == 1
    # the error LED is on after the failure and off after the good read
    pins = [(t, v) for t, n, v in hb.pins() if n == "LED_RS485_ERROR"]
    if kind is None:
        assert not any(v == 1 for _, v in pins)
    else:
        assert [v for _, v in pins][-2:] == [1, 0], pins


def test_an_answer_arriving_during_the_retry_is_taken(tmp_path):
    s = ModbusSlave(3, regs(4))
    s.fault, s.late_ms = "late", 300
    ops = [{"op": "read", "unit": 3, "addr": 0, "count": 4, "timeout": 200, "retries": 1}]
    res, bus, hb, boot = run_ops(tmp_path, [s], ops)
    assert res[0]["data"] == hexdata(regs(4)[i] for i in range(4))
    assert s.stats["requests"] == 2
    # the first attempt timed out at about 213 ms; its answer came 300 ms after the request
    assert 300 < res[0]["ms"] < 330


def test_a_retry_gets_past_one_bad_answer(tmp_path):
    s = ModbusSlave(3, regs(4))
    s.fault, s.fault_count = "crc", 1
    res, bus, hb, boot = run_ops(tmp_path, [s], [{"op": "read", "unit": 3, "addr": 0, "count": 4}])
    assert res[0]["data"] == hexdata(regs(4)[i] for i in range(4))
    assert s.stats["requests"] == 2


def test_line_settings_switch_per_transaction_on_a_shared_line(tmp_path):
    a = ModbusSlave(1, regs(8), settings="9600 8N1")
    b = ModbusSlave(2, regs(8, 0x2000), settings="19200 8E1")
    meter = Meter7E1()
    raw = {"op": "raw", "line": "9600 7E1", "send": "/?!\r\n", "first_ms": 500, "gap_ms": 30}
    rd_a = {"op": "read", "unit": 1, "addr": 0, "count": 8, "line": "9600 8N1"}
    rd_b = {"op": "read", "unit": 2, "addr": 0, "count": 8, "line": "19200 8E1"}
    ops = [rd_a, raw, rd_b, rd_a, raw, raw, rd_b, rd_b, rd_a, raw]
    res, bus, hb, boot = run_ops(tmp_path, [a, b, meter], ops)
    want_a = hexdata(regs(8)[i] for i in range(8))
    want_b = hexdata(regs(8, 0x2000)[i] for i in range(8))
    for op, r in zip(ops, res):
        if op is raw:
            assert r.get("data") == "/KFM5MT174\r\n", r
        else:
            assert r.get("data") == (want_a if op is rd_a else want_b), r
    assert meter.asked == 4
    # each device was asked only in its own settings: garbage at other settings was ignored
    assert a.stats["requests"] == 3 and b.stats["requests"] == 3
    assert bus.medium.stats["collisions"] == 0
    lines = [v for _, k, v in bus.port.events if k == "line"]
    assert "19200 8E1" in lines and "9600 7E1" in lines and "9600 8N1" in lines


def test_write_registers(tmp_path):
    s = ModbusSlave(4, regs(10))
    ops = [{"op": "write", "unit": 4, "addr": 2, "values": [0xBEEF]},
           {"op": "write", "unit": 4, "addr": 5, "values": [1, 2, 3]},
           {"op": "read", "unit": 4, "addr": 0, "count": 10}]
    res, bus, hb, boot = run_ops(tmp_path, [s], ops)
    assert res[0].get("ok") and res[1].get("ok"), res
    want = regs(10)
    want.update({2: 0xBEEF, 5: 1, 6: 2, 7: 3})
    assert res[2]["data"] == hexdata(want[i] for i in range(10))
