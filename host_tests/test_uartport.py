"""The RS-485 port on the host board against the bus simulator: DE is high only while the
request leaves and drops at its last stop bit, so the answer is heard; holding DE too long
makes the answer collide, which proves the bus enforces it."""
import asyncio

import pytest

from hostboard_util import HostBoard, run_virtual, script
from meterlink_tools.sim.wire import Device, LineSettings, Medium, RFC2217Port

CHAR_US = 10 * 1_000_000 / 9600


class Pong(Device):
    def __init__(self, delay_us):
        super().__init__("pong", LineSettings(9600, 8, "N", 1))
        self.delay_us = delay_us
        self.heard = b""

    def receive(self, data, t_us):
        self.heard += data
        if self.heard.endswith(b"PING\n"):
            self.loop.call_at((t_us + self.delay_us) / 1e6, self.send, b"PONG")


def run_ping(tmp_path, delay_us, args=()):
    async def go(master):
        loop = asyncio.get_running_loop()
        bus = Medium(loop, bus=True)
        port = RFC2217Port(bus, 2, clock=master)
        await port.serve()
        dev = bus.attach(Pong(delay_us))
        hb = HostBoard(tmp_path, clock=master, uarts={2: port.url}, script=script("port_ping.py"),
                       script_args=list(args), flash=False)
        await hb.boot()
        b = await hb.wait()
        port.close()
        return b, port.events, dev, bus
    return run_virtual(go)


def test_answer_after_de_release_is_heard(tmp_path):
    boot, events, dev, bus = run_ping(tmp_path, delay_us=5000)
    assert boot.code == 0, boot.output
    got = [l for l in boot.output if l.startswith("GOT")]
    assert got and got[0].startswith("GOT b'PONG'"), boot.output
    assert dev.heard == b"PING\n"
    rts = [(t, v) for t, k, v in events if k == "rts"]
    on = [t for t, v in rts if v == 1]
    off = [t for t, v in rts if v == 0 and on and t > on[-1]]
    assert on and off
    # DE drops within one character time of the request's last stop bit
    tx_end = on[-1] + 5 * CHAR_US
    assert tx_end - 1 <= off[0] <= tx_end + CHAR_US
    assert bus.stats["collisions"] == 0


def test_de_held_too_long_loses_the_answer(tmp_path):
    boot, events, dev, bus = run_ping(tmp_path, delay_us=5000, args=["late-de"])
    assert boot.code == 0, boot.output
    assert not any(l.startswith("GOT b'PONG'") for l in boot.output), boot.output
    assert bus.stats["collisions"] > 0
