"""The modem supervisor: a state machine that brings the modem to a data session and keeps
it there, climbing a recovery ladder with backoff when a step fails (docs/modem.md)."""
# power_on -> boot -> init -> sim -> mode -> register -> attach -> online
# sim -> sim_locked | no_sim;  any failure -> retry | radio_cycle | power_cycle
import asyncio
import time

from meterlink.drivers.modem import adapter as make_adapter
from meterlink.drivers.modem.base import BOOT_URCS
from meterlink.drivers.modem.engine import AtEngine
from meterlink.drivers.modem.errors import AtError, AtTimeout, ModemError
from meterlink.proto import atparse as ap
from meterlink.services import datausage, log
from meterlink.services.modemstates import States

TAG = "modem"

DEFAULTS = {"reg_timeout_s": 180, "fallback_after_s": 90, "retry_4g_min": 360,
            "session_wait_s": 120, "http_timeout_s": 90, "health_s": 60,
            "ntp_server": "pool.ntp.org", "dns_cache_s": 3600}

LADDER = ("retry", "retry", "radio_cycle", "power_cycle")
BACKOFF_S = (5, 30, 120, 600, 1800)        # grows with every power cycle that did not help

POWER_DOWN_URCS = ("NORMAL POWER DOWN", "UNDER-VOLTAGE POWER DOWN", "OVER-VOLTAGE POWER DOWN")
WARNING_URCS = ("UNDER-VOLTAGE WARN", "OVER-VOLTAGE WARN")     # "WARNNING" on the SIM800
QUIET_URCS = ("*PSUTTZ", "+CTZV", "DST:", "+HTTP_PEER_CLOSED", "+CGEV:", "RING", "+NETCLOSE:",
              "+HTTPACTION:", "+CNTP:", "+NETOPEN:", "+CPSI:")
EXPECT_BOOT = ("power_on", "boot", "power_cycle", "radio_cycle")   # start-up messages are ours
# states that look at the SIM themselves (or have no SIM to lose)
SIM_STATES = EXPECT_BOOT + ("off", "no_modem", "init", "sim", "sim_locked", "no_sim")
NOT_REGISTERED = ("off", "no_modem", "power_on", "boot", "init", "sim", "sim_locked", "no_sim",
                  "mode", "register", "retry", "radio_cycle", "power_cycle")


class Supervisor(States):
    MAX_SILENCE_S = 180

    def __init__(self, app):
        self.app = app
        hw = app.hw
        spec = hw.modem_spec
        self.model = hw.modem_model
        self.settings = dict(DEFAULTS)
        self.settings.update(app.cfg.get("modem") or {})
        self.apn = app.cfg.get("apn") or {}
        self.prefer = (app.cfg.get("network") or {}).get("prefer", "auto")
        self.state = "off"
        self.sim = "unknown"
        self.registered = False
        self.tech = self.operator = self.csq = self.last_error = self.model_name = None
        self.reboots = self.requests = self.sms = self.http_failures = 0
        self._dns = {}           # host -> (address, ticks when asked)
        self.failures = self.cycle = 0
        self.forced_2g_ms = None       # when 4G was given up for 2G
        self._ntp_ms = None            # when NTP was last tried
        self._pdp_lost = self._reg_check = self._suspect = self._off = self._hung = False
        self._sim_lost = False         # the SIM went away (removed, contact lost, crashed)
        self._renew = False            # new APN or network settings: open the session anew
        self._led = None
        self._kick = asyncio.Event()
        self._online = asyncio.Event()
        self._busy = asyncio.Lock()     # one request (or reconfiguration) at a time
        self.usage_store = datausage.DataUsage(app.clock)
        self.at = self.adapter = None
        try:
            self.at = AtEngine(hw.modem_uart(), TAG)
            self.adapter = make_adapter(self.model, self.at)
        except (ValueError, OSError) as e:
            log.error(TAG, "no modem: %r" % e)
            self.at = self.adapter = None
            self.state = "no_modem"
            return
        active = spec.get("pwrkey_active", 1)
        self._key_on = active
        self.pwrkey = hw.modem_pin("pwrkey", 1 - active)
        self._power_on = spec.get("power_active", 1)
        self._powered = True
        self.power = hw.modem_pin("power", self._power_on)     # the supply (T-Call: IO23) on
        self.flight = hw.modem_pin("flight")
        self.on_pulse_ms = spec.get("on_pulse_ms") or self.adapter.ON_PULSE_MS
        self.off_pulse_ms = spec.get("off_pulse_ms") or self.adapter.OFF_PULSE_MS
        self._states = {
            "power_on": self._s_power_on, "boot": self._s_boot, "init": self._s_init,
            "sim": self._s_sim, "sim_locked": self._s_sim_locked, "no_sim": self._s_no_sim,
            "mode": self._s_mode, "register": self._s_register, "attach": self._s_attach,
            "online": self._s_online, "retry": self._s_retry, "radio_cycle": self._s_radio_cycle,
            "power_cycle": self._s_power_cycle,
        }
        self._urcs()

    def opt(self, name):
        return self.settings[name]

    def reconfigure(self, cfg):
        """New modem, APN or network settings, live: a changed APN or network preference closes
        the data session and opens it anew (requests wait for it meanwhile)."""
        settings = dict(DEFAULTS)
        settings.update(cfg.get("modem") or {})
        apn = cfg.get("apn") or {}
        prefer = (cfg.get("network") or {}).get("prefer", "auto")
        renew = apn != self.apn or prefer != self.prefer
        self.settings, self.apn = settings, apn
        if prefer != self.prefer:
            self.prefer = prefer
            self.forced_2g_ms = None
        if renew and self.at is not None:
            log.info(TAG, "new APN or network settings: the data session opens anew")
            self._renew = True
            self.failures = self.cycle = 0      # a fresh ladder for the new settings
            if self.state == "online":
                self._online.clear()
            self._kick.set()
        return True

    def _count_ntp(self):
        q, a = datausage.dns_bytes(self.opt("ntp_server"))
        self.usage_store.add(q + datausage.NTP, a + datausage.NTP)

    # -- unsolicited lines --

    def _urcs(self):
        on = self.at.on
        for p in self.adapter.PDP_LOST:
            on(p, self._on_pdp_lost)
        for p in self.adapter.REG_URCS:
            on(p, self._on_reg)
        for p in BOOT_URCS:
            on(p, self._on_boot)
        for p in ("+CPIN:", "+SIMCARD:"):
            on(p, self._on_sim)
        for p in POWER_DOWN_URCS:
            on(p, self._on_power_down)
        for p in WARNING_URCS:
            on(p, lambda line: log.warn(TAG, line))
        on("+CMTI:", self._on_sms)
        on("+CMT:", self._on_sms)
        for p in QUIET_URCS:
            on(p, lambda line: None)

    def _on_pdp_lost(self, line):
        if line.startswith("+CGEV:") and ap.cgev_cid(line) not in (None, 1):
            return                         # another context (IMS...): ours is cid 1
        if self.state == "online":
            log.warn(TAG, "data session lost: " + line)
            self._pdp_lost = True
            self._kick.set()

    def _on_reg(self, line):
        self._reg_check = True
        self._kick.set()

    def _on_sms(self, line):
        self.sms += 1
        log.info(TAG, "SMS arrived: " + line)

    def _on_sim(self, line):
        st = ap.cpin(line)
        if st == "ready":
            self._on_boot(line)            # "+CPIN: READY" follows RDY: a restart?
            return
        if self.state in SIM_STATES:
            return
        # the SIM went away under a running modem: its registration and session go with it
        log.warn(TAG, "the SIM went away: " + line)
        self.sim = st
        self._sim_lost = True
        self.at.abort("sim")
        self._kick.set()

    def _on_boot(self, line):
        if self.state in EXPECT_BOOT:
            return
        # a late start-up message, or a restart: the run loop asks the modem (_restarted)
        self._suspect = True
        if line == "RDY" and self.state != "init":
            self.at.abort("rebooted")      # whatever was pending will never be answered
        self._kick.set()

    async def _restarted(self):
        """Whether the modem restarted: it then has its default settings again (CMEE 0)."""
        self._suspect = False
        try:
            r = await self.at.cmd("AT+CMEE?", timeout_ms=1000, expect="+CMEE:", check=False)
            kept = bool(r.lines) and ap.fields(r.line())[0] == "2"
        except AtTimeout:
            kept = False
        if kept:
            log.debug(TAG, "a start-up message, but the modem kept its settings")
            return False
        log.warn(TAG, "the modem restarted by itself")
        self.reboots += 1
        return True

    def _on_power_down(self, line):
        if self.state == "power_cycle":
            return
        log.warn(TAG, "the modem switched off: " + line)
        self._off = True
        self.at.abort("off")
        self._kick.set()

    # -- the state machine --

    async def reader(self):
        await self.at.reader(alive=self._rx_alive)

    def _rx_alive(self):
        self.app.alive(TAG + "_rx")

    async def run(self):
        self._enter("power_on")
        while True:
            self.app.alive(TAG)
            try:
                nxt = await self._states[self.state]()
            except AtTimeout as e:
                nxt = self._fail("modem_hung", "no answer (%s)" % e, hung=True)
            except AtError as e:
                nxt = self._fail(self._reason(), str(e))
            except ModemError as e:
                nxt = self._fail(e.reason, str(e), hung=e.reason == "modem_hung",
                                 radio=e.detail == "denied")
            if self._suspect and await self._restarted():
                self._hung = self._sim_lost = False     # init and sim follow anyway
                nxt = "boot"
            self._enter(self._redirect(nxt))

    def _redirect(self, nxt):
        """Events noticed on the way override the planned next state."""
        if self._off:
            self._off = self._hung = self._sim_lost = False
            return "power_on"
        if self._hung:
            self._hung = False
            return self._fail("modem_hung", "a request got no answer", hung=True)
        if self._sim_lost:
            self._sim_lost = False
            self.last_error = "no_sim"
            return "sim"
        return nxt

    def _reason(self):
        return {"sim": "no_sim", "register": "no_network", "attach": "pdp", "mode": "no_network"}.get(
            self.state, "modem")

    def _enter(self, state):
        if state != self.state:
            log.info(TAG, "%s -> %s" % (self.state, state))
            self.state = state
        if state != "online":
            self._online.clear()
            self._pdp_lost = False     # a session is opened anew on the way back anyway
        if state in NOT_REGISTERED:
            self.registered = False
        self._leds()

    def _fail(self, reason, detail, hung=False, radio=False):
        self.last_error = reason
        if radio:
            # a refused registration wants the radio off and on (operators' advice)
            self.failures = max(self.failures, LADDER.index("radio_cycle"))
        self.failures += 1
        if hung:
            # a modem that answered until now may just be restarting: wait for it first
            step = "power_cycle" if self.state in ("power_on", "boot", "power_cycle") else "boot"
        else:
            step = LADDER[min(self.failures, len(LADDER)) - 1]
        log.warn(TAG, "%s in %s: %s; next: %s" % (reason, self.state, detail, step))
        return step

    def _backoff_ms(self):
        return BACKOFF_S[min(self.cycle, len(BACKOFF_S) - 1)] * 1000

    def _interrupted(self):
        """The modem rebooted, switched off, hung or lost its SIM: the run loop takes over."""
        return self._suspect or self._off or self._hung or self._sim_lost

    def _events(self, net):
        if self._interrupted():
            return True
        return net and (self._pdp_lost or self._reg_check or (self._renew and self.state == "online"))

    async def _pause(self, ms, wake=False, net=False):
        """Wait up to ms, reporting alive.  wake: return True early when the modem rebooted,
        switched off or hung; net: also when the data session or the registration changed."""
        until = time.ticks_add(time.ticks_ms(), ms)
        while True:
            if wake and self._events(net):
                return True
            left = time.ticks_diff(until, time.ticks_ms())
            if left <= 0:
                return False
            self.app.alive(TAG)
            self._kick.clear()
            try:
                await asyncio.wait_for_ms(self._kick.wait(), min(left, 10000))
            except asyncio.TimeoutError:
                pass

    async def _pulse(self, ms):
        self.pwrkey.value(self._key_on)
        await asyncio.sleep_ms(ms)
        self.pwrkey.value(1 - self._key_on)

    def _mode(self):
        if self.prefer in ("2g", "4g"):
            return self.prefer
        return "2g" if self.forced_2g_ms is not None else "auto"

    def _leds(self):
        if self.state in ("sim_locked", "no_sim"):
            pattern = 8                      # a SIM problem: fast blink
        elif self.registered:
            pattern = "on" if self.tech == "4G" else (2 if self.tech == "3G" else 1)
        elif self.state in ("off", "no_modem"):
            pattern = "off"
        else:
            pattern = 4                      # starting, searching, recovering
        if pattern != self._led:
            self._led = pattern
            if pattern == "on" or pattern == "off":
                self.app.leds.set("net", pattern == "on")
            else:
                self.app.leds.blink("net", pattern)
