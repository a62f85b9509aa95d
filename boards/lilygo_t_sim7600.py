"""LilyGO T-SIM7600 (ESP32-WROVER-E + SIM7600E/G).  Modem pins from LilyGO's
LilyGo-Modem-Series utilities.h; the rest are meterlink's choice (docs/wiring.md)."""
NAME = "lilygo-t-sim7600"

MODEM = {
    "model": "sim7600",
    "uart": 1, "tx": 27, "rx": 26, "baudrate": 115200, "rxbuf": 4096,
    # PWRKEY through an inverting transistor: a HIGH pulse presses the key
    "pwrkey": 4, "pwrkey_active": 1, "on_pulse_ms": 500, "off_pulse_ms": 3000,
    "boot_ms": 15000,
    "flight": 25,        # must be HIGH, or the modem stays in flight mode
    "dtr": 32,           # LOW keeps the modem awake
    "status": 34,        # input: HIGH while the modem runs
    "power": None,       # no switch for the modem's supply on this board
}

# UART0 is the REPL.  RS-485 and the optical/RS-232 port share UART2; its pins are switched
# per session.  Optical probe and RS-232 transceiver use the same pins: fit one of them.
PORTS = {
    "rs485": {"uart": 2, "tx": 18, "rx": 19, "de": 23, "rxbuf": 1024},
    "optical": {"uart": 2, "tx": 22, "rx": 21, "rxbuf": 1024},
    "rs232": {"uart": 2, "tx": 22, "rx": 21, "rxbuf": 1024},
}

# Free GPIOs are few: the SD-card pins (2, 13, 14, 15) drive LEDs (leave the SD slot empty)
# and the optical/RS-232 group shows on the RS-485 LEDs.
LEDS = {
    "power": 12,            # the on-board blue LED
    "net": 13,
    "server": 14,
    "rs485_query": 15,
    "rs485_response": 2,
    "rs485_error": 5,
    "opt_query": 15,
    "opt_response": 2,
    "opt_error": 5,
}
LED_ACTIVE = 1

SAFE_PIN = 0             # BOOT button, LOW while pressed
SAFE_PIN_ACTIVE = 0
SAFE_WINDOW_MS = 1500    # press BOOT within 1.5 s after power-up (held at reset = bootloader)


def build():
    from meterlink.hardware import Hardware
    return Hardware(globals())
