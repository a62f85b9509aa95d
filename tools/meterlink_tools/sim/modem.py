"""A simulated SIMCom SIM7600 or SIM800 on the modem UART: AT dialects with realistic delays,
PWRKEY and supply physics, real HTTP requests billed as a network would (docs/modem.md)."""
# Scenario switches (SWITCHES) are set from Python or, by a test script on the firmware side,
# with the simulator-only command AT+SIMCTL="name",value.
import collections
import csv
import random
import re
from urllib.parse import urlsplit

from .modem_models import DIALECTS
from .modem_net import Billing, HttpBridge, is_ip
from .wire import Device, LineSettings

SWITCHES = {
    "sim": "ready",               # ready | absent | pin | puk
    "lte": True,                  # LTE coverage here
    "gsm": True,                  # GSM coverage here
    "sim_2g_only": False,         # the SIM's plan has no LTE: registration denied on 4G
    "reg_denied": False,          # refused everywhere: True, or "until_cfun" (a radio cycle cures it)
    "pdp_fail": False,            # the data session cannot be opened
    "dns_fail": False,
    "apn": None,                  # the APN the operator accepts (None: any); others get no session
    "dns_names": None,            # host names the network resolves (None: all); others fail DNS
    "server_unreachable": False,  # no TCP connection to the server (an outage)
    "http_timeout": False,        # the server accepts but never answers
    "force_status": 0,            # every request gets this HTTP status from a proxy (0: off)
    "pdp_drop_on_action": 0,      # the data session drops during the Nth HTTPACTION from now
    "pdp_drop_after_server": False,   # ...after the server got the request
    "brownout_on_action": 0,      # the supply sags during the Nth HTTPACTION: the modem dies
    "hang_on_action": 0,          # the modem stops answering during the Nth HTTPACTION
    "hang": False,                # stops answering now (until power is cut or PWRKEY held)
    "noise": False,               # URCs interleaved in every answer
    "nitz": True,                 # the network sends its time at registration
    # firmware and field variants (docs/modem.md, "Field behaviours handled")
    "httpread_nospace": False,    # SIM7600 ends HTTPREAD with "+HTTPREAD:0" (no space)
    "boot_junk": False,           # NUL/0xFF bytes glued to the first line after power-up
    "autobaud": False,            # SIM800 without a fixed rate: silent until an "AT" taught it
                                  # the rate; that first AT gets no answer
}

# a server's status line and headers (Server, Date, Content-Type, Content-Length, Connection)
ANSWER_HEADER_BYTES = 170

_CMD = re.compile(r"(\+[A-Z0-9_]+|\*[A-Z0-9]+|&[A-Z]|[A-Z])(=\?|\?|=)?(.*)$", re.S | re.I)


def split_args(text):
    """AT command arguments: comma-separated, double quotes removed ('1,"a,b"' -> ['1', 'a,b'])."""
    if not text.strip():
        return []
    return [a.strip() for a in next(csv.reader([text], skipinitialspace=True))]


class ModemSim(Device):
    def __init__(self, model="sim7600", server_url=None, boot_s=None, power_switch=True,
                 pwrkey_active=1, epoch=1767225600, tz_quarters=8, seed=1, **switches):
        super().__init__("modem-" + model, LineSettings(115200, 8, "N", 1))
        self.model = model
        self.d = DIALECTS[model](self)
        self.boot_s = self.d.BOOT_S if boot_s is None else boot_s
        self.power_switch = power_switch
        self.pwrkey_active = pwrkey_active
        self.epoch = epoch                 # Unix time at virtual time 0
        self.tz_quarters = tz_quarters     # the local time zone the modem's clock shows
        self.rng = random.Random(seed)
        self.state = "off"                 # off | booting | on
        self.sw = dict(SWITCHES)
        for k, v in switches.items():
            self.set(k, v)
        self.http = HttpBridge(server_url)
        self.billing = Billing()
        self.rail = not power_switch
        self.hung = False
        self.gen = 0                       # bumps on every power loss/reboot: stale timers die
        self._key_down = None
        self.commands = collections.deque(maxlen=4000)   # (t, command line) as received
        self.events = collections.deque(maxlen=4000)     # (t, what, detail)
        self.counts = collections.Counter()
        self.pin_attempts = 0
        self._reset_runtime()

    # -- switches --

    @property
    def server_url(self):
        return self.http.server_url

    @server_url.setter
    def server_url(self, url):
        self.http.server_url = url

    @property
    def bytes_on_air(self):
        """Everything the network has billed so far, up and down."""
        return self.billing.total

    @property
    def server_unreachable(self):
        return self.sw["server_unreachable"]

    @server_unreachable.setter
    def server_unreachable(self, on):
        self.set("server_unreachable", bool(on))

    def apn_ok(self):
        """Whether the operator gives a data session on the APN the firmware configured."""
        want = self.sw["apn"]
        return want is None or self.apn_set == want

    def resolves(self, host):
        names = self.sw["dns_names"]
        return names is None or not host or is_ip(host) or host in names

    def bill_http(self, body_len, answer_len, tls=False):
        """What one POST of body_len bytes on a new connection would be billed (not recorded):
        this modem's request headers, a typical answer header, TCP/IP and TLS overhead."""
        parts = urlsplit(self.server_url)
        headers = self.d.http_headers(parts.netloc, "application/json", body_len, 1)
        req_len = (len("POST %s HTTP/1.1\r\n" % (parts.path or "/"))
                   + sum(len(k) + len(v) + 4 for k, v in headers) + 2 + body_len)
        up, down = self.billing.exchange(parts.hostname or "", req_len,
                                         ANSWER_HEADER_BYTES + answer_len, tls)
        return up + down

    def set(self, name, value):
        if name not in SWITCHES:
            raise KeyError("unknown modem switch %r (known: %s)" % (name, ", ".join(SWITCHES)))
        self.sw[name] = value
        if name == "hang" and value:
            self.hang()
        elif name in ("lte", "gsm", "sim_2g_only", "reg_denied") and self.state == "on":
            self.d.reg_update()

    def now(self):
        return self.loop.time()

    def event(self, what, detail=""):
        self.events.append((round(self.now(), 3), what, detail))
        self.counts[what] += 1

    # -- runtime state that a reboot resets --

    def _reset_runtime(self):
        self.echo = True
        self.baud_locked = not self.sw["autobaud"]
        self.cmee = 0
        self.cfun = 1
        self.urc_reg = {"CREG": 0, "CGREG": 0, "CEREG": 0}
        self.reg = {"CREG": 0, "CGREG": 0, "CEREG": 0}
        self.rat = None                    # "LTE" | "GSM" | None (camped on)
        self.rtc_set = False
        self.boot_t = self.now() if self.medium else 0.0
        self.pdp = False
        self.apn_set = ""                  # the APN the firmware configured (CGDCONT / SAPBR)
        self._inbuf = bytearray()
        self._download = None
        self.d.reset()

    # -- power: supply on RTS, PWRKEY on DTR --

    def on_control(self, line, level, t_us):
        if line == "rts" and self.power_switch:
            if bool(level) != self.rail:
                self.rail = bool(level)
                self.event("supply", "on" if level else "off")
                if not level:
                    self._power_lost("supply off")
        elif line == "dtr":
            pressed = level == self.pwrkey_active
            if pressed:
                self._key_down = t_us
            elif self._key_down is not None:
                held_ms = (t_us - self._key_down) / 1000
                self._key_down = None
                self._pwrkey(held_ms)

    def _pwrkey(self, held_ms):
        self.event("pwrkey", "%d ms" % held_ms)
        if not self.rail:
            return
        if self.state == "off" and held_ms >= self.d.ON_PULSE_MIN_MS:
            self.power_on()
        elif self.state != "off" and held_ms >= self.d.OFF_PULSE_MIN_MS:
            self.d.shutdown_urc()
            self._power_lost("PWRKEY off")

    def power_on(self):
        self.gen += 1
        self.state = "booting"
        self.hung = False
        self.event("boot", "%.1f s" % self.boot_s)
        self.at(self.boot_s, self._booted)

    def _booted(self):
        self.state = "on"
        self._reset_runtime()
        if self.baud_locked:
            self.d.boot_urcs()
        self.d.reg_update()

    def first_line(self, line):
        """The first start-up line, with power-up junk in front of it if so switched."""
        junk = b"\x00\xff\xff\xfe" if self.sw["boot_junk"] else b"\r\n"
        self.out(junk + line.encode() + b"\r\n")

    def remove_sim(self):
        """The SIM leaves the holder (or loses contact) under a running modem."""
        if self.state != "on":
            return
        self.event("sim", "removed")
        self.sw["sim"] = "absent"
        self.pdp = False
        for line in self.d.SIM_LOST_URCS:
            self.urc(line)
        self.d.reg_update()

    def _power_lost(self, why):
        self.gen += 1
        self.state = "off"
        self.hung = False
        self.event("off", why)
        self._reset_runtime()

    def reboot(self, why="spontaneous"):
        """The modem restarts by itself (a firmware fault, a supply dip)."""
        if self.state == "off":
            return
        self.event("reboot", why)
        self._reset_runtime()
        self.power_on()

    def brownout(self):
        """The supply sags under a transmit burst: the modem switches off and stays off."""
        if self.state != "on":
            return
        self.event("brownout")
        self.d.brownout_urc()
        self.later(0.01, lambda: self._power_lost("brownout"))

    def hang(self):
        if self.state == "on":
            self.event("hang")
            self.hung = True

    # -- output --

    def at(self, delay_s, fn, *args):
        """Run fn after delay_s unless the modem lost power or restarted meanwhile."""
        gen = self.gen

        def run():
            if gen == self.gen:
                fn(*args)
        self.loop.call_later(max(0.0, delay_s), run)

    def later(self, delay_s, fn, *args):
        """Like at(), but only while the modem is on and not hung."""
        gen = self.gen

        def run():
            if gen == self.gen and self.state == "on" and not self.hung:
                fn(*args)
        self.loop.call_later(max(0.0, delay_s), run)

    def out(self, data, delay_s=0.0):
        if isinstance(data, str):
            data = data.encode()
        if delay_s <= 0 and self.state == "on" and not self.hung:
            self.send(data)
        else:
            self.later(delay_s, self.send, data)

    def urc(self, line, delay_s=0.0):
        self.out(b"\r\n" + line.encode() + b"\r\n", delay_s)

    def noise(self):
        if not self.sw["noise"] or self.rng.random() < 0.7:
            return b""
        self.counts["noise"] += 1
        if self.rng.random() < 0.5:
            return b'\r\n+CMTI: "SM",%d\r\n' % self.rng.randrange(1, 30)
        name = self.d.REG_NAMES[0]
        return b"\r\n+%s: %d\r\n" % (name.encode(), self.reg[name])

    def reply(self, lines=(), final="OK", delay_s=None):
        data = bytearray(self.noise())
        for line in lines:
            data += b"\r\n" + (line.encode() if isinstance(line, str) else line) + b"\r\n"
            data += self.noise()
        if final:
            data += b"\r\n" + final.encode() + b"\r\n"
        self.out(bytes(data), self.d.CMD_DELAY_S if delay_s is None else delay_s)

    def error(self, code, text, delay_s=None):
        if self.cmee == 2:
            final = "+CME ERROR: %s" % text
        elif self.cmee == 1:
            final = "+CME ERROR: %d" % code
        else:
            final = "ERROR"
        self.reply((), final, delay_s)

    # -- input --

    def receive(self, data, t_us):
        if self.state != "on" or self.hung:
            return
        for b in data:
            if self._download is not None:
                self._download_byte(b)
            elif b == 0x0D:
                line = bytes(self._inbuf)
                self._inbuf.clear()
                self._command(line)
            elif b != 0x0A and len(self._inbuf) < 2048:
                self._inbuf.append(b)

    def expect_download(self, n, timeout_s, done):
        self._download = [n, bytearray(), done, self.gen]
        gen = self.gen

        def expire():
            if self._download is not None and gen == self.gen and self._download[3] == gen:
                self._download = None
                self.reply((), "ERROR", 0)
        self.loop.call_later(timeout_s, expire)

    def _download_byte(self, b):
        dl = self._download
        dl[1].append(b)
        if len(dl[1]) >= dl[0]:
            self._download = None
            dl[2](bytes(dl[1]))

    def _command(self, raw):
        text = raw.decode("latin-1").strip()
        if not text:
            return
        if not self.baud_locked:
            if text[:2].upper() == "AT":      # the rate is learnt from "AT": no answer yet
                self.baud_locked = True
                self.event("autobaud", "locked")
                self.d.sim_urcs(0.5)
            return
        if self.echo:
            self.out(raw + b"\r")
        if text[:2].upper() != "AT":
            return
        self.commands.append((round(self.now(), 3), text))
        self.counts["commands"] += 1
        rest = text[2:]
        if not rest:
            return self.reply()
        m = _CMD.match(rest)
        if m is None:
            return self.reply((), "ERROR")
        name, op, args = m.group(1).upper(), m.group(2) or "", m.group(3)
        if name[0] not in "+*&" and op == "":
            args = rest[1:]            # ATE0, ATI...
        self.d.dispatch(name, op, split_args(args) if op == "=" else args)
