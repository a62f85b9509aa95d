"""The host board's wiring, read once at start from the JSON file named by METERLINK_HOSTBOARD.

The launcher (tools/meterlink_tools/hostboard.py) writes that file: which RFC 2217 URL each
UART reaches, which pins ride on a UART's control lines, the clock, the flash image, the reset
cause of this boot, and where pin changes are logged.  Without the variable the board starts
with nothing wired and real time, which is enough to import the firmware.
"""
import json
import os

DEFAULTS = {
    "uarts": {},          # "2": "rfc2217://127.0.0.1:40001"
    "unwired_uarts": "error",   # or "open": a UART not in "uarts" has nothing on its pins
    "pin_lines": {},      # "RS485_DE": [2, "rts"]: the pin is that UART's RTS line
    "inputs": {},         # "SAFE_BUTTON": 1: level an input pin reads
    "clock": None,        # {"addr": "127.0.0.1:40000", "token": "fw1"} for virtual time
    "flash": None,        # {"image": path, "block_size": 4096, "blocks": 512, "fail_after_writes": N}
    "reset_cause": 1,     # PWRON_RESET
    "unique_id": "6d6c00000001",
    "rtc": 0,             # seconds since 2000-01-01 that the RTC reads at this boot
    "pin_log": None,      # path: one line per output pin change
    "host_dirs": {},      # mount point -> host directory, e.g. "/host/firmware"
    "sys_path": None,     # list, defaults to ESP32's ['', '.frozen', '/lib']
    "wdt_real_guard_s": 120,
    "state_file": None,   # path: @@STATE records go there instead of stdout (stdout is a REPL)
    "board_start": False, # boot.py/main.py from the flash root, each only if present
    "raw_repl": False,    # this boot follows a soft reset in the raw REPL: no main.py
    "skip_main": False,   # no main.py either (the vdev coming back to a prompt)
    "repl": False,        # run with `micropython -i`: the REPL follows
}

conf = dict(DEFAULTS)
_path = os.getenv("METERLINK_HOSTBOARD")
if _path:
    with open(_path) as f:
        conf.update(json.load(f))

# opened now: once the flash is mounted at / host paths are out of reach
pin_log = open(conf["pin_log"], "a") if conf["pin_log"] else None
state_out = open(conf["state_file"], "a") if conf["state_file"] else None


def uart_url(uart_id):
    return conf["uarts"].get(str(uart_id))


def pin_line(name):
    v = conf["pin_lines"].get(str(name))
    return (int(v[0]), v[1]) if v else None


def input_level(name, default=1):
    return conf["inputs"].get(str(name), default)
