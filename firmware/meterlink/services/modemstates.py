"""The modem supervisor's states: each is a coroutine that returns the name of the next one.
Failures raise; the supervisor's run loop turns them into a step of the recovery ladder."""
import asyncio
import time

from meterlink.drivers.modem import errors
from meterlink.services import log
from meterlink.services.clock import VALID_AFTER

TAG = "modem"
SIM_WAIT_MS = 10000          # SIM busy / not ready right after start-up
SIM_RECHECK_MS = 600000      # a locked or missing SIM is looked at again this often
POWER_OFF_MS = 5000          # at least this long without power (SIM800 needs > 0.8 s, A76xx 2 s)
RADIO_OFF_MS = 5000
NTP_RETRY_MS = 3600000       # NTP for a clock that was never set: at most hourly


def _ms():
    return time.ticks_ms()


class States:
    async def _s_power_on(self):
        self.at.reset_input()
        if self.power is not None and not self._powered:
            self.power.value(self._power_on)
            self._powered = True
            await asyncio.sleep_ms(500)
        if self.flight is not None:
            self.flight.value(1)       # low keeps a SIM7600 in flight mode
        # a SIM800 in autobaud mode learns the rate from the first "AT"s: it may miss some
        for _i in range(3):
            if await self.at.probe(300):
                log.info(TAG, "the modem is on already")
                return "init"
        await self._pulse(self.on_pulse_ms)
        return "boot"

    async def _s_boot(self):
        until = time.ticks_add(_ms(), self.adapter.BOOT_MS)
        while time.ticks_diff(until, _ms()) > 0:
            self.app.alive(TAG)
            if await self.at.probe(500):
                return "init"
            await asyncio.sleep_ms(500)
        raise errors.ModemHung("no answer %d s after power-on" % (self.adapter.BOOT_MS // 1000))

    async def _s_init(self):
        self._suspect = self._off = self._hung = self._sim_lost = False
        name = await self.adapter.init()
        if name != self.model_name:
            log.info(TAG, "modem: %s" % name)
            self.model_name = name
        return "sim"

    async def _s_sim(self):
        until = time.ticks_add(_ms(), SIM_WAIT_MS)
        while True:
            st = await self.adapter.sim_state()
            self.sim = st
            if st == "ready":
                return "mode"
            if st in ("pin", "puk", "locked"):
                return "sim_locked"
            if time.ticks_diff(until, _ms()) <= 0:
                if st in ("absent", "failure"):
                    return "no_sim"
                raise errors.NoSim("the SIM is not ready (%s)" % st)
            await self._pause(1000)

    async def _s_sim_locked(self):
        if self.last_error != "sim_pin":
            log.error(TAG, "the SIM asks for its %s: remove the PIN lock (in a phone); this terminal "
                           "never enters a PIN" % self.sim.upper())
        self.last_error = "sim_pin"
        await self._pause(SIM_RECHECK_MS, wake=True)
        st = await self.adapter.sim_state()     # reading the state costs no PIN attempt
        self.sim = st
        if st == "ready":
            return "mode"
        return "sim_locked" if st in ("pin", "puk", "locked") else "sim"

    async def _s_no_sim(self):
        if self.last_error != "no_sim":
            log.error(TAG, "no usable SIM (%s): insert one while the terminal is off" % self.sim)
        self.last_error = "no_sim"
        await self._pause(SIM_RECHECK_MS, wake=True)
        return "power_cycle"      # a SIM7600 only sees a SIM that was there at power-on

    async def _s_mode(self):
        self._renew = False        # the settings as they are now go to the modem here
        mode = self._mode()
        if self.adapter.HAS_4G:
            await self.adapter.set_mode(mode)
        elif mode == "4g":
            log.warn(TAG, "network.prefer is 4g but the %s is 2G only" % self.model)
        apn = self.apn
        await self.adapter.set_apn(apn.get("name", ""), apn.get("user", ""), apn.get("password", ""))
        return "register"

    async def _s_register(self):
        start = _ms()
        denied_since = None
        timeout = self.opt("reg_timeout_s") * 1000
        fallback = self.opt("fallback_after_s") * 1000
        while True:
            self._reg_check = False
            reg, denied, tech = await self.adapter.registration()
            self.csq = await self.adapter.signal()
            if reg:
                self.registered = True
                self.tech = tech
                self.operator = (await self.adapter.operator())[0]
                log.info(TAG, "registered: %s %s, CSQ %s" % (tech, self.operator, self.csq))
                self._leds()
                await self._set_clock()
                return "attach"
            now = _ms()
            if denied and denied_since is None:
                denied_since = now
            waited = time.ticks_diff(now, start)
            if self.adapter.HAS_4G and self.prefer == "auto" and self.forced_2g_ms is None:
                refused = denied_since is not None and self.csq is not None and \
                    time.ticks_diff(now, denied_since) >= fallback
                if refused or waited >= timeout:
                    log.warn(TAG, "%s: trying 2G only" % ("4G refused" if refused else "no registration"))
                    self.forced_2g_ms = now
                    return "mode"
            if denied_since is not None and time.ticks_diff(now, denied_since) >= fallback:
                raise errors.NoNetwork("registration denied for %d s" % (fallback // 1000), "denied")
            if waited >= timeout:
                raise errors.NoNetwork("not registered after %d s" % (timeout // 1000))
            if await self._pause(2000, wake=True, net=True) and not self._reg_check:
                return "register"      # the run loop takes over (reboot, power down...)

    async def _s_attach(self):
        apn = self.apn
        await self.adapter.open_data(apn.get("name", ""), apn.get("user", ""), apn.get("password", ""))
        self._pdp_lost = False
        self.failures = self.cycle = 0
        log.info(TAG, "data session up")
        return "online"

    async def _s_online(self):
        if self._renew:
            await self.adapter.close_data()
            return "mode"
        self._online.set()
        health_ms = self.opt("health_s") * 1000
        next_health = time.ticks_add(_ms(), health_ms)
        while True:
            await self._pause(max(0, time.ticks_diff(next_health, _ms())), wake=True, net=True)
            if self._interrupted():
                return "online"
            async with self._busy:           # not in the middle of somebody's request
                if self._interrupted():
                    return "online"
                if self._renew:
                    self._online.clear()
                    await self.adapter.close_data()
                    return "mode"
                if self._pdp_lost:
                    self._pdp_lost = False
                    self._online.clear()
                    await self.adapter.close_data()
                    return "attach"
                if self._reg_check:
                    self._reg_check = False
                    reg, _denied, tech = await self.adapter.registration()
                    if not reg:
                        log.warn(TAG, "registration lost")
                        self._online.clear()
                        return "register"
                    self.tech = tech
                    self._leds()
                if time.ticks_diff(_ms(), next_health) >= 0:
                    next_health = time.ticks_add(_ms(), health_ms)
                    nxt = await self._health()
                    if nxt is not None:
                        self._online.clear()
                        return nxt

    async def _health(self):
        self.csq = await self.adapter.signal()
        reg, _denied, tech = await self.adapter.registration()
        if not reg:
            log.warn(TAG, "registration lost")
            return "register"
        self.tech = tech
        self._leds()
        if not await self.adapter.data_up():
            log.warn(TAG, "the data session is down")
            return "attach"
        await self._set_clock(ntp=True)
        if self.forced_2g_ms is not None and self.prefer == "auto" and \
                time.ticks_diff(_ms(), self.forced_2g_ms) >= self.opt("retry_4g_min") * 60000:
            log.info(TAG, "trying 4G again")
            self.forced_2g_ms = None
            await self.adapter.close_data()
            return "mode"
        return None

    async def _set_clock(self, ntp=False):
        """Set the terminal's clock from the network if it was never set (NITZ, else NTP)."""
        if self.app.clock.valid():
            return
        t = await self.adapter.clock()
        if (t is None or t < VALID_AFTER) and ntp and (
                self._ntp_ms is None or time.ticks_diff(_ms(), self._ntp_ms) >= NTP_RETRY_MS):
            self._ntp_ms = _ms()
            if await self.adapter.ntp(self.opt("ntp_server")):
                self._count_ntp()
                t = await self.adapter.clock()
        if t is not None and t >= VALID_AFTER:
            log.info(TAG, "clock set from the network (%+d s)" % self.app.clock.set(t, "network"))

    async def _s_retry(self):
        await self._pause(self._backoff_ms(), wake=True)
        return "power_on"

    async def _s_radio_cycle(self):
        await self.adapter.radio(False)
        await self._pause(RADIO_OFF_MS)
        await self.adapter.radio(True)
        return "sim"

    async def _s_power_cycle(self):
        off = False
        if await self.at.probe(300):
            off = await self.adapter.power_off_command()     # a clean shutdown when it listens
        if not off:
            await self._pulse(self.off_pulse_ms)      # boards without a supply switch need this
        if self.power is not None:
            self.power.value(1 - self._power_on)
            self._powered = False
        wait = max(POWER_OFF_MS, self._backoff_ms())
        self.cycle += 1
        self.failures = 0
        log.info(TAG, "modem off for %d s" % (wait // 1000))
        await self._pause(wait)
        return "power_on"
