"""Logging: lines to the console (the REPL UART) and a small ring in RAM; warnings, errors and
the boot line also go to a two-file ring log on flash that `meterlink logs` reads after a reset
(log.txt, and log.1.txt when it grew past FLASH_MAX)."""
import time

LEVELS = ("debug", "info", "warn", "error")
RAM_LINES = 32
FLASH_FILE = "log.txt"
FLASH_OLD = "log.1.txt"
FLASH_MAX = 8192

_BOOT_TICKS = time.ticks_ms()
_ram = []
_stamp_fn = None     # set by the app: returns the time stamp text for a line
counts = {"warn": 0, "error": 0}
flash_enabled = True
console_level = 1


def set_stamp(fn):
    global _stamp_fn
    _stamp_fn = fn


def _stamp():
    if _stamp_fn is not None:
        return _stamp_fn()
    return uptime_stamp()


def uptime_stamp():
    return "+%ds" % (time.ticks_diff(time.ticks_ms(), _BOOT_TICKS) // 1000)


def _to_flash(line):
    try:
        try:
            import os
            if os.stat(FLASH_FILE)[6] > FLASH_MAX:
                os.rename(FLASH_FILE, FLASH_OLD)
        except OSError:
            pass
        with open(FLASH_FILE, "a") as f:
            f.write(line)
            f.write("\n")
    except (OSError, MemoryError):
        pass   # a full or failing flash (or no room for a file buffer) must not stop the terminal


def log(level, tag, msg, flash=False):
    lv = LEVELS.index(level)
    line = "%s %s %s: %s" % (_stamp(), level.upper(), tag, msg)
    _ram.append(line)
    if len(_ram) > RAM_LINES:
        _ram.pop(0)
    if level in counts:
        counts[level] += 1
    if lv >= console_level:
        print(line)
    if (lv >= 2 or flash) and flash_enabled:
        _to_flash(line)


def debug(tag, msg):
    log("debug", tag, msg)


def info(tag, msg, flash=False):
    """`flash`: keep this line in the flash log too (boots, configuration changes)."""
    log("info", tag, msg, flash)


def warn(tag, msg):
    log("warn", tag, msg)


def error(tag, msg):
    log("error", tag, msg)


def recent():
    return list(_ram)
