"""A generic ESP32 DevKit (WROOM, 30/38 pins) with a SIM800L or SIM7600 module, a MAX485 and
an optical probe (or a MAX3232 for RS-232).  All pins are meterlink's choice (docs/wiring.md)."""
NAME = "esp32-devkit"

MODEM = {
    # "auto" asks the module (AT+CGMM) whether it is a SIM800 or a SIM7600
    "model": "auto",
    "uart": 1, "tx": 27, "rx": 26, "baudrate": 115200, "rxbuf": 4096,
    # SIM7600 modules: PWRKEY through an NPN stage (HIGH pulse presses it);
    # SIM800L breakouts power up by themselves and only use RST
    "pwrkey": 4, "pwrkey_active": 1, "on_pulse_ms": 500, "off_pulse_ms": 3000,
    "boot_ms": 15000,
    "rst": 5,
    "power": None,
    "status": None,
}

PORTS = {
    "rs485": {"uart": 2, "tx": 17, "rx": 16, "de": 18, "rxbuf": 1024},
    "optical": {"uart": 2, "tx": 19, "rx": 35, "rxbuf": 1024},
    "rs232": {"uart": 2, "tx": 19, "rx": 35, "rxbuf": 1024},
}

LEDS = {
    "power": 2,             # the on-board blue LED of most DevKits
    "net": 13,
    "server": 14,
    "rs485_query": 21,
    "rs485_response": 22,
    "rs485_error": 23,
    "opt_query": 25,
    "opt_response": 32,
    "opt_error": 33,
}
LED_ACTIVE = 1

SAFE_PIN = 0             # BOOT button
SAFE_PIN_ACTIVE = 0
SAFE_WINDOW_MS = 1500


def build():
    from meterlink.hardware import Hardware
    return Hardware(globals())
