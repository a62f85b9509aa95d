"""UTC time for readings: the RTC, set from the network or the collector.

Until it has been set (after a power-on the ESP32 RTC starts in 2000) the time is not valid
and readings say so.  Times here are Unix seconds, whatever epoch the port's `time` uses.
"""
import time

# seconds from 1970-01-01 to the port's epoch (2000-01-01 on the ESP32, 1970 on some ports)
EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0
VALID_AFTER = 1704067200   # 2024-01-01: an RTC before this has never been set


class Clock:
    def __init__(self, rtc):
        self._rtc = rtc
        self.source = "rtc" if self.valid() else None

    def now(self):
        """Unix seconds (UTC) as the RTC has them, valid or not."""
        return time.time() + EPOCH_OFFSET

    def valid(self):
        return self.now() >= VALID_AFTER

    def set(self, unix_seconds, source):
        """Set the RTC; returns the correction in seconds."""
        before = self.now()
        tm = time.gmtime(int(unix_seconds) - EPOCH_OFFSET)
        self._rtc.datetime((tm[0], tm[1], tm[2], tm[6], tm[3], tm[4], tm[5], 0))
        self.source = source
        return int(unix_seconds) - before

    @staticmethod
    def iso(unix_seconds):
        tm = time.gmtime(int(unix_seconds) - EPOCH_OFFSET)
        return "%04d-%02d-%02dT%02d:%02d:%02dZ" % tm[:6]

    def stamp(self):
        if self.valid():
            return self.iso(self.now())
        from meterlink.services.log import uptime_stamp
        return uptime_stamp()
