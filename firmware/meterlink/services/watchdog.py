"""The hardware watchdog, fed only while every watched task has reported in time.

A task calls `alive(name)` each time round its loop; if one stays silent longer than it
promised, feeding stops and the hardware resets the terminal.  After a healthy period the
boot is confirmed, which clears the crash-boot counter that leads to safe mode.
"""
import asyncio
import time

from meterlink.services import bootguard, log


class Watchdog:
    def __init__(self, hw, cfg):
        self._hw = hw
        self.timeout_ms = int(cfg.get("timeout_ms", 60000))
        self.start_delay_s = int(cfg.get("start_delay_s", 30))
        self.confirm_after_s = int(cfg.get("confirm_after_s", 120))
        self._watched = {}    # name -> [allowed silence ms, last seen ticks]
        self._wdt = None
        self.stale = None

    def watch(self, name, max_silence_s):
        self._watched[name] = [int(max_silence_s * 1000), time.ticks_ms()]

    def unwatch(self, name):
        self._watched.pop(name, None)

    def alive(self, name):
        w = self._watched.get(name)
        if w is not None:
            w[1] = time.ticks_ms()

    def healthy(self):
        now = time.ticks_ms()
        for name, (allowed, seen) in self._watched.items():
            if time.ticks_diff(now, seen) > allowed:
                return name
        return None

    async def run(self):
        started = time.ticks_ms()
        confirmed = False
        period = max(1000, self.timeout_ms // 3)
        while True:
            up_s = time.ticks_diff(time.ticks_ms(), started) // 1000
            stale = self.healthy()
            if stale is not None:
                if stale != self.stale:
                    log.error("watchdog", "task %r stopped reporting; no longer feeding the watchdog" % stale)
                self.stale = stale
            else:
                self.stale = None
                if self._wdt is None and up_s >= self.start_delay_s:
                    self._wdt = self._hw.watchdog(self.timeout_ms)
                    log.info("watchdog", "hardware watchdog started (%d ms)" % self.timeout_ms)
                if self._wdt is not None:
                    self._wdt.feed()
                if not confirmed and up_s >= self.confirm_after_s:
                    bootguard.confirm()
                    confirmed = True
            await asyncio.sleep_ms(period)

    def park(self):
        """On a clean stop: stretch the running watchdog as far as it goes (it cannot be stopped)."""
        if self._wdt is not None:
            self._wdt = self._hw.watchdog(0x7FFFFFFF)
