# Host board script: the modem capability (supervisor and AT reader) plus the steps given as
# script arguments, one "STEP {json}" line each:
#   online:S  wait_state:NAME:S  post:BODY[:URL]  at:COMMAND  sleep:S  status  time  usage
#   save  leds
# BODY is "bin" (CR, LF, 0xFF, "OK", "+HTTPREAD: 0" inside) or "n<N>" (N bytes).
# large bodies are cut from one buffer made before the heap fragments (as an uplink would)
BIG = bytearray(16384)
for _i in range(len(BIG)):
    BIG[_i] = (_i * 7 + 3) & 0xFF

import asyncio  # noqa: E402
import gc  # noqa: E402
import hashlib
import json
import time

import board
import hostconf
from meterlink.app import App
from meterlink.proto import config as configmod
from meterlink.services import modem as modemsvc

steps = hostconf.conf.get("script_args") or []
BIN = b"\x00\r\n\xffOK\r\n+HTTPREAD: 0\r\n\xff\xfe\r\rERROR\n> DOWNLOAD\x1a" + bytes(range(256))




def body(spec):
    if spec == "bin":
        return BIN
    return memoryview(BIG)[:int(spec[1:])]


T0 = time.ticks_ms()


def digest(b):
    """Small bodies as hex, large ones as length and SHA-256."""
    if len(b) <= 600:
        return b.hex()
    return "%d:%s" % (len(b), hashlib.sha256(b).digest().hex())


def out(kind, **kw):
    kw["step"] = kind
    kw["t"] = time.ticks_diff(time.ticks_ms(), T0) / 1000
    print("STEP " + json.dumps(kw))


async def wait_for(pred, s):
    until = time.ticks_add(time.ticks_ms(), int(s * 1000))
    while not pred():
        if time.ticks_diff(until, time.ticks_ms()) <= 0:
            return False
        await asyncio.sleep_ms(200)
    return True


async def main():
    hw = board.build()
    cfg, _err = configmod.load("config.json")
    app = App(hw, cfg)
    modemsvc.setup(app)
    m = app.modem
    for _name, fn, _silence in app.tasks:
        asyncio.create_task(fn())
    for step in steps:
        kind, _, arg = step.partition(":")
        if kind == "online":
            ok = await wait_for(m._online.is_set, float(arg))
            out(kind, ok=ok, status=m.status())
        elif kind == "wait_state":
            name, _, s = arg.partition(":")
            ok = await wait_for(lambda: m.state == name, float(s))
            out(kind, ok=ok, status=m.status())
        elif kind == "post":
            spec, _, url = arg.partition(":")
            url = url or cfg["server"]["url"]
            data = body(spec)
            try:
                status, resp = await m.http_post(url, data)
                out(kind, status=status, resp=digest(resp), sent=digest(data), usage=m.usage())
            except Exception as e:   # noqa: BLE001  the test reads the reason
                out(kind, error=getattr(e, "reason", repr(e)), msg=str(e), usage=m.usage(),
                    status=m.status())
        elif kind == "at":
            try:
                r = await m.at.cmd(arg, check=False)
                out(kind, final=r.final, lines=r.lines)
            except Exception as e:   # noqa: BLE001
                out(kind, error=repr(e))
        elif kind == "sleep":
            await asyncio.sleep_ms(int(float(arg) * 1000))
            out(kind, status=m.status())
        elif kind == "status":
            gc.collect()
            out(kind, status=m.status(), unknown=m.at.recent, stats=m.at.stats, heap=gc.mem_alloc())
        elif kind == "time":
            out(kind, value=await m.network_time(), clock=app.clock.now(), valid=app.clock.valid())
        elif kind == "usage":
            out(kind, usage=m.usage())
        elif kind == "save":
            m.usage_store.save()
            out(kind)
        elif kind == "meminfo":
            import micropython
            gc.collect()
            micropython.mem_info(1)
        elif kind == "leds":
            out(kind, leds=app.leds.state)
    out("done")


asyncio.run(main())
