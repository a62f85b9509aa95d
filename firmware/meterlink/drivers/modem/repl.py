"""The modem from the REPL (after Ctrl-C has stopped the app): power it, send AT commands, and
read a diagnosis in words.  `from meterlink.drivers.modem import repl; repl.diagnose()`."""
import asyncio

from meterlink.drivers.modem.engine import AtEngine
from meterlink.drivers.modem.errors import AtTimeout
from meterlink.proto import atparse as ap

REG_WORDS = {0: "not registered, not searching", 1: "registered (home)", 2: "searching",
             3: "DENIED by the network", 4: "unknown", 5: "registered (roaming)"}

_engine = None


def _hw():
    import board
    return board.build()


def _at():
    global _engine
    if _engine is None:
        _engine = AtEngine(_hw().modem_uart(), "repl")
    return _engine


async def _run(commands, timeout_ms):
    eng = _at()
    reader = asyncio.create_task(eng.reader())
    out = []
    try:
        for c in commands:
            try:
                r = await eng.cmd(c, timeout_ms=timeout_ms, expect="", check=False)
            except AtTimeout:
                r = None
            out.append((c, r))
    finally:
        reader.cancel()
    return out


def at(*commands, timeout_ms=5000):
    """Send each command; print what came back (None: no answer)."""
    results = asyncio.run(_run(commands, timeout_ms))
    for c, r in results:
        print(c, "->", "no answer" if r is None else "%s %s" % (r.lines, r.final))
    return results


def power_on():
    """Press PWRKEY as the board says (the modem then needs seconds to answer AT)."""
    hw = _hw()
    spec = hw.modem_spec
    active = spec.get("pwrkey_active", 1)
    if spec.get("power") is not None:
        hw.modem_pin("power", spec.get("power_active", 1))
    key = hw.modem_pin("pwrkey", 1 - active)
    if key is None:
        print("this board has no PWRKEY pin")
        return

    async def pulse():
        key.value(active)
        await asyncio.sleep_ms(spec.get("on_pulse_ms") or 1000)
        key.value(1 - active)
    asyncio.run(pulse())


def _first(results, prefix):
    for _c, r in results:
        if r is not None:
            for line in r.lines:
                if line.startswith(prefix):
                    return line
    return None


def diagnose():
    """Ask the modem what it thinks of its SIM, the network and the data session."""
    first = at("AT", timeout_ms=1000)[0][1]
    if first is None or not first.ok:
        print("=> the modem does not answer: is it powered? repl.power_on(), wait 15 s, try again")
        return
    res = at("ATI", "AT+CMEE=2", "AT+CPIN?", "AT+CSQ", "AT+CREG?", "AT+CGREG?", "AT+CEREG?",
             "AT+COPS?", "AT+CPSI?", "AT+NETOPEN?", "AT+SAPBR=2,1", "AT+CCLK?")
    pin = _first(res, "+CPIN:") or (res[2][1].final if res[2][1] else None)
    print("SIM:", ap.cpin(pin) if pin else "no answer")
    line = _first(res, "+CSQ:")
    q = ap.csq(line) if line else None
    print("signal:", "unknown (searching?)" if q is None else "CSQ %d = %d dBm" % (q, ap.rssi_dbm(q)))
    for name in ("+CREG:", "+CGREG:", "+CEREG:"):
        line = _first(res, name)
        if line:
            print(name[1:-1], REG_WORDS.get(ap.reg_query_stat(line), line))
    line = _first(res, "+COPS:")
    if line:
        print("operator: %s, %s" % ap.cops(line))
    line = _first(res, "+CPSI:")
    if line:
        print("cell:", line[7:])
    up = _first(res, "+NETOPEN:") or _first(res, "+SAPBR:")
    if up:
        print("data session:", up)
    line = _first(res, "+CCLK:")
    if line:
        print("modem clock:", line[7:], "(UTC %s)" % ap.cclk(line))
