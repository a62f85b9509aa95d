"""LilyGO T-Call SIM800 v1.4 (ESP32-WROOM + SIM800L, IP5306 power management).  Modem pins from
LilyGO's LilyGo-T-Call-SIM800 utilities.h; the rest are meterlink's choice (docs/wiring.md)."""
NAME = "lilygo-t-call-sim800"

MODEM = {
    "model": "sim800",
    "uart": 1, "tx": 27, "rx": 26, "baudrate": 115200, "rxbuf": 4096,
    # PWRKEY driven directly: held LOW for more than 1 s presses the key
    "pwrkey": 4, "pwrkey_active": 0, "on_pulse_ms": 1100, "off_pulse_ms": 1500,
    "boot_ms": 3000,
    "power": 23,         # MODEM_POWER_ON: the modem's DC-DC converter, HIGH = on
    "rst": 5,            # MODEM_RST (not fitted on many v1.4 boards: R114)
    "status": None,      # DTR (32) is not used: the firmware never enables AT+CSCLK sleep
}

PMU = {"type": "ip5306", "sda": 21, "scl": 22}   # boost keep-on, see hardware.py

# RX pins on input-only GPIOs, to keep outputs for the LEDs
PORTS = {
    "rs485": {"uart": 2, "tx": 18, "rx": 39, "de": 19, "rxbuf": 1024},
    "optical": {"uart": 2, "tx": 14, "rx": 34, "rxbuf": 1024},
    "rs232": {"uart": 2, "tx": 14, "rx": 34, "rxbuf": 1024},
}

LEDS = {
    "power": 13,            # the on-board LED
    "net": 12,              # strapping pin: an LED to GND keeps it low at boot, as it must be
    "server": 15,
    "rs485_query": 2,
    "rs485_response": 25,
    "rs485_error": 32,      # the modem's DTR line: harmless, sleep (AT+CSCLK) is never enabled
    "opt_query": 2,         # the optical/RS-232 group shows on the RS-485 LEDs
    "opt_response": 25,
    "opt_error": 32,
}
LED_ACTIVE = 1

SAFE_PIN = 35            # input-only: a push button to GND with a 10k pull-up
SAFE_PIN_ACTIVE = 0
SAFE_WINDOW_MS = 1500


def build():
    from meterlink.hardware import Hardware
    return Hardware(globals())
