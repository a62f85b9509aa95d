# MicroPython tests of small services: the clock, the boot guard and the LED layer.
import os

from meterlink.services import bootguard, clock


class FakeRtc:
    def __init__(self):
        self.set_to = None

    def datetime(self, dt=None):
        import machine
        return machine.RTC().datetime(dt)


def test_clock_is_invalid_until_set_then_converts_to_unix_time():
    import machine
    machine.RTC().datetime((2000, 1, 1, 5, 0, 0, 0, 0))
    c = clock.Clock(FakeRtc())
    assert not c.valid()
    c.set(1795435200, "server")            # 2026-11-23T12:00:00Z
    assert c.valid() and c.source == "server"
    assert abs(c.now() - 1795435200) <= 1
    assert c.iso(1795435200) == "2026-11-23T12:00:00Z"


class Hw:
    def __init__(self, cause, held=False):
        self.cause = cause
        self.held = held

    def reset_cause(self):
        return self.cause

    def reset_cause_name(self):
        return {1: "power-on", 3: "watchdog"}[self.cause]

    def safe_button_held(self):
        return self.held


def _clean():
    try:
        os.remove(bootguard.FILE)
    except OSError:
        pass


def test_boot_guard_counts_crashed_boots_and_power_on_starts_afresh():
    _clean()
    assert bootguard.on_boot(Hw(1), 2) is None          # power-on: count 1
    assert bootguard.on_boot(Hw(3), 2) is None          # watchdog: count 2
    reason = bootguard.on_boot(Hw(3), 2)                # count 3 > 2
    assert reason and "2 boots in a row" in reason and "watchdog" in reason
    assert bootguard.on_boot(Hw(1), 2) is None          # a power-on clears it
    _clean()


def test_boot_guard_confirm_clears_the_count_and_the_button_wins():
    _clean()
    bootguard.on_boot(Hw(3), 2)
    bootguard.on_boot(Hw(3), 2)
    bootguard.confirm()
    assert bootguard.on_boot(Hw(3), 2) is None
    assert "button" in bootguard.on_boot(Hw(1, held=True), 2)
    _clean()


def test_a_subscriber_out_of_memory_is_tried_again_then_the_loss_is_counted():
    from meterlink.services import log
    from meterlink.services.readings import ReadingSink
    sink = ReadingSink()
    calls = {"flaky": 0, "broken": 0, "fine": 0}

    def flaky(r):                 # fails once, as on a heap that a collection mends
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise MemoryError

    def broken(r):
        calls["broken"] += 1
        raise MemoryError

    def fine(r):
        calls["fine"] += 1

    for fn in (flaky, broken, fine):
        sink.subscribe(fn)
    errors = log.counts["error"]
    sink.put("mb:R1", 100, True, {"v": ("1", None)})
    assert calls == {"flaky": 2, "broken": 2, "fine": 1}, calls
    assert sink.count == 1 and sink.dropped == 1
    assert log.counts["error"] == errors + 1
