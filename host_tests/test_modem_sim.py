"""The modem simulator by itself: PWRKEY and supply physics, dialect answers, the billing
model (worked out by hand), and the site populator with its outage windows."""
import argparse
import asyncio

from meterlink_tools import simclock
from meterlink_tools.sim import site as sitemod
from meterlink_tools.sim.modem import ModemSim
from meterlink_tools.sim.modem_net import Billing
from meterlink_tools.sim.wire import Endpoint, LineSettings, Medium


class Host(Endpoint):
    """Stands in for the firmware's UART: records what the modem says."""
    name = "host"

    def __init__(self):
        self.settings = LineSettings(115200, 8, "N", 1)
        self.heard = b""

    def receive(self, data, t_us):
        self.heard += data


def with_modem(model, script, **kw):
    async def go(_master):
        loop = asyncio.get_running_loop()
        medium = Medium(loop)
        host = Host()
        medium.master = host
        sim = medium.attach(ModemSim(model, **kw))
        sim.on_control("rts", 1, 0)                     # supply on
        return await script(loop, sim, host)
    return simclock.run(go)


def press(sim, loop, ms):
    t = loop.time() * 1e6
    sim.on_control("dtr", 1, t)
    sim.on_control("dtr", 0, t + ms * 1000)


async def send(loop, sim, host, line, wait_s=0.5):
    host.heard = b""
    sim.receive(line.encode() + b"\r", loop.time() * 1e6)
    await asyncio.sleep(wait_s)
    return host.heard


def test_sim800_needs_a_long_pwrkey_pulse_and_starts_with_echo():
    async def script(loop, sim, host):
        press(sim, loop, 500)
        await asyncio.sleep(5)
        short = sim.state
        press(sim, loop, 1200)
        await asyncio.sleep(sim.boot_s + 3)
        boot = host.heard
        return short, sim.state, boot, await send(loop, sim, host, "AT")
    short, state, boot, answer = with_modem("sim800", script)
    assert short == "off" and state == "on"
    assert b"RDY" in boot and b"Call Ready" in boot and b"SMS Ready" in boot
    assert answer == b"AT\r\r\nOK\r\n"


def test_sim7600_off_pulse_and_supply_cut():
    async def script(loop, sim, host):
        press(sim, loop, 500)
        await asyncio.sleep(sim.boot_s + 1)
        on = sim.state
        press(sim, loop, 1000)                          # too short to switch it off
        await asyncio.sleep(1)
        still = sim.state
        press(sim, loop, 3000)
        await asyncio.sleep(4)
        off = sim.state
        press(sim, loop, 500)
        await asyncio.sleep(1)
        sim.on_control("rts", 0, loop.time() * 1e6)     # supply cut while it boots
        await asyncio.sleep(sim.boot_s)
        return on, still, off, sim.state
    assert with_modem("sim7600", script) == ("on", "on", "off", "off")


def test_dialect_answers():
    async def script(loop, sim, host):
        press(sim, loop, 500)
        await asyncio.sleep(sim.boot_s + 5)
        out = [await send(loop, sim, host, c) for c in
               ("ATE0", "AT+CPIN?", "AT+CMEE=2", "AT+CPIN?", "AT+CREG?", "AT+CNMP=99", "AT+FOO")]
        return out
    out = with_modem("sim7600", script, sim="absent")
    assert out[0] == b"ATE0\r\r\nOK\r\n"                   # echo on until ATE0
    assert out[1] == b"\r\nERROR\r\n"                      # CMEE=0: plain ERROR
    assert out[3] == b"\r\n+CME ERROR: SIM not inserted\r\n"
    assert out[4] == b"\r\n+CREG: 0,0\r\n\r\nOK\r\n"
    assert out[5] == b"\r\n+CME ERROR: operation not supported\r\n"
    assert out[6] == b"\r\nERROR\r\n"


def test_billing_by_hand():
    b = Billing()
    # up: SYN 60 + ACK 52 + request 200 + its header 52 + ACK of the answer 52 + FIN/ACK 104
    # down: SYN-ACK 60 + ACK 52 + answer 100 + its header 52 + FIN/ACK 104
    assert b.exchange("1.2.3.4", 200, 100) == (520, 368)
    # DNS for "h.example": 20 + 8 + 12 + 4 + 11 (EDNS0) + 9 + 2 = 66 up, + 16 down
    assert b.dns("h.example") == (66, 82)
    assert b.refused("h.example") == (66 + 3 * 60, 82)
    # 3000 bytes: 3 segments (MSS 1378), the server ACKs 2 of them
    up, down = b.exchange("1.2.3.4", 3000, 100)
    assert (up, down) == (60 + 52 + 3000 + 3 * 52 + 52 + 104, 60 + 2 * 52 + 100 + 52 + 104)
    assert b.ntp("1.2.3.4") == (76, 76)


def test_site_populator_attaches_the_modem_and_outages_flip_its_switch():
    from meterlink_tools.simrun import _schedule_outages

    async def go(master):
        loop = asyncio.get_running_loop()
        args = argparse.Namespace(modem="sim800", outage=["10s+20s"], period=None)
        site = await sitemod.build("small", loop, master, args)
        _schedule_outages(site, loop, [(10, 20)])
        modem = site.modem
        seen = []
        for t in (5, 15, 35):
            await asyncio.sleep(t - loop.time())
            seen.append(modem.sw["server_unreachable"])
        summary = site.summary()
        site.close()
        return modem, seen, summary, site
    modem, seen, summary, site = simclock.run(go)
    assert modem.model == "sim800" and modem in site.media["modem"].devices
    assert site.collector_url.startswith(modem.server_url + "/")
    assert seen == [False, True, False]
    assert summary["bytes_on_air"] == 0 and summary["modem"]["model"] == "sim800"


def test_the_operator_opens_a_session_only_on_its_apn():
    async def script(loop, sim, host):
        press(sim, loop, 1200)
        await asyncio.sleep(sim.boot_s + 10)
        out = {}
        if sim.model == "sim800":
            await send(loop, sim, host, 'AT+SAPBR=3,1,"APN","wrong.apn"')
            out["wrong"] = await send(loop, sim, host, "AT+SAPBR=1,1", 5)
            await send(loop, sim, host, 'AT+SAPBR=3,1,"APN","m2m.test"')
            out["right"] = await send(loop, sim, host, "AT+SAPBR=1,1", 5)
        else:
            await send(loop, sim, host, 'AT+CGDCONT=1,"IP","wrong.apn"')
            out["wrong"] = await send(loop, sim, host, "AT+NETOPEN", 5)
            await send(loop, sim, host, 'AT+CGDCONT=1,"IP","m2m.test"')
            out["right"] = await send(loop, sim, host, "AT+NETOPEN", 5)
        return out, sim.pdp
    out, pdp = with_modem("sim800", script, apn="m2m.test")
    assert out["wrong"].endswith(b"ERROR\r\n") and out["right"].endswith(b"OK\r\n") and pdp
    out, pdp = with_modem("sim7600", script, apn="m2m.test")
    assert b"+NETOPEN: 1" in out["wrong"] and b"+NETOPEN: 0" in out["right"] and pdp


def test_the_network_resolves_only_the_names_it_knows():
    async def script(loop, sim, host):
        press(sim, loop, 500)
        await asyncio.sleep(sim.boot_s + 10)
        await send(loop, sim, host, "AT+NETOPEN", 3)
        heard = []
        for url in ("http://elsewhere.test/i", "http://10.1.2.3/i"):
            for c in ("AT+HTTPINIT", 'AT+HTTPPARA="URL","%s"' % url):
                await send(loop, sim, host, c)
            heard.append(await send(loop, sim, host, "AT+HTTPACTION=0", 10))
            await send(loop, sim, host, "AT+HTTPTERM")
        return heard
    unknown, ip = with_modem("sim7600", script, dns_names={"collector.test"})
    assert b"+HTTPACTION: 0,713,0" in unknown            # DNS lookup failed
    assert b"+HTTPACTION: 0,714,0" in ip                 # an address needs no DNS: no server there
