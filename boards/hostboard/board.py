"""The host board: the firmware's board file when it runs in the unix port.

Same shape as the ESP32 board files; pins are names (the pin log shows them) and UART ids
are resolved by the host wiring (hostconf) to RFC 2217 links.
"""
import hostconf

NAME = "host"

_MODEL = hostconf.conf.get("modem_model", "sim7600")

MODEM = {
    "model": _MODEL,
    "uart": 1, "baudrate": 115200, "rxbuf": 4096,
    "pwrkey": "MODEM_PWRKEY", "pwrkey_active": 1,
    # SIM7600: 500 ms on, 3 s off; SIM800: more than 1 s on, 1.5-33 s off
    "on_pulse_ms": 1200 if _MODEL == "sim800" else 500,
    "off_pulse_ms": 2000 if _MODEL == "sim800" else 3000,
    "power": "MODEM_POWER", "flight": None, "status": None,
}

PORTS = {
    "rs485": {"uart": 2, "de": "RS485_DE", "rxbuf": 1024},
    "optical": {"uart": 3, "rxbuf": 1024},
    "rs232": {"uart": 4, "rxbuf": 1024},
}

LEDS = {
    "power": "LED_POWER",
    "net": "LED_NET",
    "server": "LED_SERVER",
    "rs485_query": "LED_RS485_QUERY",
    "rs485_response": "LED_RS485_RESPONSE",
    "rs485_error": "LED_RS485_ERROR",
    "opt_query": "LED_OPT_QUERY",
    "opt_response": "LED_OPT_RESPONSE",
    "opt_error": "LED_OPT_ERROR",
}
LED_ACTIVE = 1

SAFE_PIN = "SAFE_BUTTON"     # reads 0 while "held"
SAFE_PIN_ACTIVE = 0


def build():
    from meterlink.hardware import Hardware
    return Hardware(globals())
