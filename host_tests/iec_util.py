"""Helpers for the IEC 62056-21 tests: firmware sessions on the host board against simulated
meters, in virtual time."""
import asyncio
import json

from hostboard_util import HostBoard, run_virtual, script
from meterlink_tools.sim.wire import Medium, RFC2217Port

UART_IDS = {"rs485": 2, "optical": 3, "rs232": 4}


def run_sessions(tmp_path, port, meters, spec, echo=False, setup=None):
    """Attach `meters` (sim devices) to a medium on `port`, run iec_session.py with `spec`.
    Returns (results, boot, medium, port events)."""
    async def go(master):
        loop = asyncio.get_running_loop()
        medium = Medium(loop, bus=(port == "rs485"), echo=echo)
        link = RFC2217Port(medium, UART_IDS[port], clock=master)
        await link.serve()
        for m in meters:
            medium.attach(m)
        if setup:
            setup(medium)
        s = dict(spec, port=port)
        hb = HostBoard(tmp_path, clock=master, uarts={UART_IDS[port]: link.url},
                       script=script("iec_session.py"), script_args=[json.dumps(s)], flash=False)
        await hb.boot()
        boot = await hb.wait()
        link.close()
        return boot, medium, link.events, hb
    boot, medium, events, hb = run_virtual(go)
    results = [json.loads(line[4:]) for line in boot.output if line.startswith("@@R ")]
    assert boot.code == 0, "\n".join(boot.output[-40:])
    return results, boot, medium, events, hb


def run_poller(tmp_path, media, config, seconds, heapsize="256K", extra=None):
    """The app's meter poller for `seconds` of virtual time.  media: {port: (medium kwargs,
    [devices])}.  Returns (readings, status, leds, boot, hb, {port: medium})."""
    async def go(master):
        loop = asyncio.get_running_loop()
        uarts, made, links = {}, {}, []
        for port, (kw, devices) in media.items():
            medium = Medium(loop, bus=(port == "rs485"), **kw)
            link = RFC2217Port(medium, UART_IDS[port], clock=master)
            await link.serve()
            links.append(link)
            for d in devices:
                medium.attach(d)
            uarts[UART_IDS[port]] = link.url
            made[port] = medium
        hb = HostBoard(tmp_path, clock=master, uarts=uarts, script=script("meter_poller.py"),
                       script_args=[str(seconds), json.dumps(extra or {})], files={"config.json": json.dumps(config)},
                       heapsize=heapsize)
        await hb.boot()
        boot = await hb.wait()
        for link in links:
            link.close()
        return boot, hb, made
    boot, hb, made = run_virtual(go)
    assert boot.code == 0, "\n".join(boot.output[-40:])
    readings = [json.loads(l[10:]) for l in boot.output if l.startswith("@@READING ")]
    status = [json.loads(l[9:]) for l in boot.output if l.startswith("@@STATUS ")]
    leds = [json.loads(l[7:]) for l in boot.output if l.startswith("@@LEDS ")]
    hb.interloped = [int(l.split()[1]) for l in boot.output if l.startswith("@@INTERLOPED ")]
    return readings, status[-1] if status else None, leds[-1] if leds else None, boot, hb, made
