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
