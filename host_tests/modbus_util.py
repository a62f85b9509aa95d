"""Helpers for Modbus tests: firmware parts on the host board against pymodbus-backed slaves
on the simulated RS-485 bus, in virtual time."""
import asyncio
import json
import struct

from hostboard_util import HostBoard, run_virtual, script
from meterlink_tools.sim.wire import LineSettings, Medium, RFC2217Port

CHAR_US_8N1_9600 = 10 * 1_000_000 / 9600


def crc16(data):
    """CRC-16/MODBUS written out bit by bit (poly 0xA001 reflected, init 0xFFFF)."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def f32_text(x):
    """The shortest %g text that reads back as the same float32 (an independent route)."""
    b = struct.pack(">f", x)
    for p in range(1, 10):
        t = "%.*g" % (p, struct.unpack(">f", b)[0])
        if struct.pack(">f", float(t)) == b:
            return t
    raise AssertionError(x)


class Bus:
    """An RS-485 bus with its master port served; devices are attached before `run`."""

    def __init__(self, master):
        self.clock = master
        self.medium = Medium(asyncio.get_running_loop(), bus=True)
        self.port = RFC2217Port(self.medium, 2, clock=master)

    def attach(self, dev):
        return self.medium.attach(dev)

    async def run_script(self, tmp_path, name, args, heapsize=None, files=None, heap_probe=False):
        await self.port.serve()
        kw = {"heapsize": heapsize} if heapsize else {}
        hb = HostBoard(tmp_path, clock=self.clock, uarts={2: self.port.url}, script=script(name),
                       script_args=list(args), flash=bool(files), files=files or {},
                       heap_probe=heap_probe, **kw)
        await hb.boot()
        boot = await hb.wait()
        self.port.close()
        return hb, boot


def results(boot, tag="R"):
    return [json.loads(line[len(tag) + 1:]) for line in boot.output if line.startswith(tag + " ")]


def run_ops(tmp_path, devices, ops, late_de=False, echo=False):
    """Run mp_scripts/modbus_ops.py against `devices` (callables bus -> device, or devices);
    echo: the master's adapter hears its own requests (local echo).
    Returns (results, bus, host board, boot)."""
    async def go(master):
        bus = Bus(master)
        bus.medium.echo = echo
        for d in devices:
            bus.attach(d)
        args = [json.dumps(ops)] + (["late-de"] if late_de else [])
        hb, boot = await bus.run_script(tmp_path, "modbus_ops.py", args)
        return bus, hb, boot
    bus, hb, boot = run_virtual(go)
    assert boot.code == 0, "\n".join(boot.output)
    return results(boot), bus, hb, boot




def run_poller(tmp_path, devices, entries, seconds, extra_args=(), heapsize="512K", heap_probe=False,
               cfg=None, echo=False):
    """Run the app with only the Modbus poller (mp_scripts/modbus_poll.py) for `seconds` of
    virtual time; returns (readings, status, bus, host board)."""
    doc = {"modbus": entries, "watchdog": {"start_delay_s": 3600}}
    doc.update(cfg or {})

    async def go(master):
        bus = Bus(master)
        bus.medium.echo = echo
        for d in devices:
            bus.attach(d)
        hb, boot = await bus.run_script(tmp_path, "modbus_poll.py", [str(seconds)] + list(extra_args),
                                        heapsize=heapsize, files={"config.json": json.dumps(doc)},
                                        heap_probe=heap_probe)
        return bus, hb, boot
    bus, hb, boot = run_virtual(go)
    assert boot.code == 0, "\n".join(boot.output[-40:])
    status = results(boot, "STATUS")
    assert status, "\n".join(boot.output[-40:])
    status = status[0]
    for d in results(boot, "DEV"):
        status[d["port"]].setdefault("devices", []).append(d)
    return results(boot, "READING"), status, bus, hb


def by_source(readings):
    out = {}
    for r in readings:
        out.setdefault(r["source"], []).append(r)
    return out


__all__ = ["Bus", "LineSettings", "by_source", "crc16", "f32_text", "results", "run_ops", "run_poller"]
