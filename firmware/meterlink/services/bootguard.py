"""Safe mode: a held button at boot, or too many crashed boots in a row, keeps the app from
starting so the REPL stays free for a technician.

boot.py calls `on_boot()`; main.py asks `safe_mode_reason()`.  The count lives in a small
file and grows on every boot that was not a power-on or a soft reset (mpremote soft-resets
the board on every connection, which is no crash); the app clears it once it has run healthy
for a while (`confirm()`), and a clean Ctrl-C stop clears it too.
"""
import json

FILE = "bootguard.json"
POWER_ON = 1
SOFT_RESET = 5

_reason = None
count = 0


def _read():
    try:
        with open(FILE) as f:
            return int(json.load(f).get("unconfirmed", 0))
    except (OSError, ValueError, AttributeError):
        return 0


def _write(n):
    try:
        with open(FILE, "w") as f:
            json.dump({"unconfirmed": n}, f)
    except OSError:
        pass


def on_boot(hw, crash_boots=3):
    """Count this boot and decide whether the app may start."""
    global _reason, count
    cause = hw.reset_cause()
    n = 0 if cause == POWER_ON else _read()
    if cause == SOFT_RESET:
        count = n
    else:
        count = n + 1
        _write(count)
    if hw.safe_button_held():
        _reason = "safe-mode button held at boot"
    elif count > crash_boots:
        _reason = "%d boots in a row without a healthy run (last reset: %s)" % (
            count - 1, hw.reset_cause_name())
    else:
        _reason = None
    return _reason


def safe_mode_reason():
    return _reason


def confirm():
    global count
    count = 0
    _write(0)
