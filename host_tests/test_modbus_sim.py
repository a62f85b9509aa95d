"""The Modbus slave simulator on its own (no firmware): it answers its own unit only, at its
own line settings, with frames an independent CRC accepts, and injects each fault as asked;
the site populator puts devices and a valid modbus[] configuration on sites S and L."""
import argparse
import asyncio
import json
import struct

import pytest

from meterlink_tools import simclock
from meterlink_tools.schema import fwconfig, tree_profiles
from meterlink_tools.sim import modbus_site
from meterlink_tools.sim import site as sitemod
from meterlink_tools.sim.modbus import ModbusSlave, encode, profile_names
from meterlink_tools.sim.wire import Endpoint, LineSettings, Medium
from modbus_util import crc16


class Master(Endpoint):
    name = "master"

    def __init__(self, settings="9600 8N1"):
        self.settings = LineSettings.parse(settings)
        self.got = []

    def receive(self, data, t_us):
        self.got.append((t_us, data))


def request(unit, fc, addr, count):
    body = struct.pack(">BBHH", unit, fc, addr, count)
    return body + struct.pack("<H", crc16(body))


def exchange(slaves, frames, settings="9600 8N1", until_s=3.0):
    """Send each frame (with DE high while it leaves) 1 s apart; what came back per frame."""
    async def go(master_clock):
        loop = asyncio.get_running_loop()
        bus = Medium(loop, bus=True)
        m = Master(settings)
        bus.master = m
        for s in slaves:
            bus.attach(s)
        for i, f in enumerate(frames):
            t = (i + 0.1) * 1e6
            end = t + len(f) * m.settings.char_us() + 1
            loop.call_at(t / 1e6, bus.set_de, 1, t)
            loop.call_at(t / 1e6, bus.transmit, m, f, m.settings, t)
            loop.call_at(end / 1e6, bus.set_de, 0, end)
        await asyncio.sleep(until_s + len(frames))
        out = []
        for i in range(len(frames)):
            out.append(b"".join(d for t, d in m.got if i * 1e6 <= t < (i + 1) * 1e6))
        return out, bus
    return simclock.run(go)


def test_answers_its_own_unit_with_a_sound_frame_after_its_delay():
    s = ModbusSlave(5, {0: 0x1234, 1: 0xABCD}, delay_ms=20)
    other = ModbusSlave(6, {0: 1})
    (a, b), bus = exchange([s, other], [request(5, 3, 0, 2), request(9, 3, 0, 1)])
    assert a[:3] == b"\x05\x03\x04" and a[3:7] == b"\x12\x34\xab\xcd" and crc16(a) == 0
    assert b == b""                    # nobody has unit 9
    assert s.stats["requests"] == 1 and other.stats["requests"] == 0


def test_a_read_outside_the_map_is_an_illegal_data_address():
    s = ModbusSlave(1, {0: 1})
    (a,), _ = exchange([s], [request(1, 3, 10, 1)])
    assert a[:3] == b"\x01\x83\x02" and crc16(a) == 0


def test_a_request_at_other_line_settings_is_not_understood():
    s = ModbusSlave(1, {0: 7}, settings="19200 8E1")
    (a,), _ = exchange([s], [request(1, 3, 0, 1)], settings="9600 8N1")
    assert a == b"" and s.stats["requests"] == 0


@pytest.mark.parametrize("fault", ["silent", "crc", "exception", "stray", "address", "late"])
def test_faults(fault):
    s = ModbusSlave(2, {0: 0x0102}, delay_ms=5)
    s.fault, s.late_ms, s.exception_code = fault, 1500, 6
    (a, b), _ = exchange([s], [request(2, 3, 0, 1), b""], until_s=3)
    sound = b"\x02\x03\x02\x01\x02"
    if fault == "silent":
        assert a == b == b""
    elif fault == "crc":
        assert a[:5] == sound and crc16(a) != 0
    elif fault == "exception":
        assert a[:3] == b"\x02\x83\x06" and crc16(a) == 0
    elif fault == "stray":
        assert a.endswith(sound + struct.pack("<H", crc16(sound))) and len(a) == 7 + 3
    elif fault == "address":
        assert a[0] == 3 and crc16(a) == 0
    elif fault == "late":
        assert a == b"" and b[:5] == sound      # 1.5 s later: in the next second's window


def test_encode_uses_pymodbus_types_and_word_order():
    assert encode("f32", 230.1) == [0x4366, 0x199A]
    assert encode("f32", 230.1, "low_first") == [0x199A, 0x4366]
    assert encode("s16", -200) == [0xFF38]
    assert encode("u48", 0x123456789ABC) == [0x1234, 0x5678, 0x9ABC]


@pytest.mark.parametrize("name,count", [("small", 2), ("large", 64)])
def test_site_populator_adds_devices_and_a_valid_configuration(name, count):
    async def go(master):
        site = await sitemod.build(name, asyncio.get_running_loop(), master,
                                   argparse.Namespace(modem="sim7600", outage=[], period=None))
        summary = site.summary()
        site.close()
        return site, summary
    site, summary = simclock.run(go)
    entries = site.config["modbus"]
    assert len(entries) == count == len(site.modbus_slaves)
    # the configuration the site puts on the terminal passes the check every configuration
    # passes (the device's own schema, shared with `meterlink config validate`)
    cfg = fwconfig.parse(json.dumps(site.config), tree_profiles(), [])   # raises if refused
    assert cfg["modbus"] == entries
    assert site.heapsize == modbus_site.SITE_HEAPSIZE.get(name)
    assert summary["modbus"]["devices"] == count
