"""Where readings go: pollers `put()` them, the spool (and tests) subscribe.

A reading set is one device's values at one moment:
    (source, t, clock_ok, values)
- source: "meter:<address or port>" for IEC 62056-21 meters, "mb:<id>" for Modbus devices
  (the id of their modbus[] entry);
- t: Unix seconds (UTC) from the terminal's clock; clock_ok is False when the RTC had never
  been set (the time is then uptime-based and the collector must not trust it);
- values: {key: (value, unit)}: key is an OBIS code ("1.8.0") or a Modbus profile's semantic
  key ("voltage_l1"); value is the exact decimal text ("012345.678") or an int; unit a string
  or None.
"""
import gc

from meterlink.services import log


class ReadingSink:
    def __init__(self):
        self._subscribers = []
        # Nothing per source is kept here: a dict that grows with the sources needs ever
        # larger contiguous blocks (4.7 KB for 247 Modbus devices), which a fragmented heap
        # may not have in the middle of a poll cycle.  The pollers keep their own state.
        self.count = 0
        self.dropped = 0         # subscriber deliveries lost for want of memory (logged)

    def subscribe(self, fn):
        """fn(reading) is called for every reading set, in order."""
        self._subscribers.append(fn)

    def put(self, source, t, clock_ok, values):
        r = (source, t, clock_ok, values)
        self.count += 1
        for fn in self._subscribers:
            try:
                fn(r)
            except MemoryError:
                # a fragmented heap: collect and try once more, rather than let the poller
                # task die with this reading set and the rest of its cycle
                gc.collect()
                try:
                    fn(r)
                except MemoryError:
                    self.dropped += 1
                    log.error("readings", "%s: no memory to take this reading set" % source)
        return r
