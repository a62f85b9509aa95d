"""The hardware layer: turns a board file's tables into UARTs and pins.

This is the one firmware module that touches `machine`.  A board file (boards/*.py, deployed
as /board.py) holds data only and calls `Hardware(globals())`.  Everything above this layer
gets its UARTs and pins from here, so the host board can hand in its own.
"""
import machine

RESET_CAUSES = {
    1: "power-on",
    2: "hard reset",
    3: "watchdog",
    4: "deep sleep",
    5: "soft reset",
}


class Led:
    """One LED; a `None` pin (not fitted on this board) accepts calls and does nothing.

    Blinking uses the pin's PWM channel (the ESP32 LEDC runs down to 1 Hz), so a blinking LED
    costs no CPU and no wake-ups.
    """

    def __init__(self, pin_id, active=1):
        self._id = pin_id
        self._active = active
        self._pwm = None
        self.state = 0
        self._pin = None
        if pin_id is not None:
            self._pin = machine.Pin(pin_id, machine.Pin.OUT, value=0 if active else 1)

    def set(self, on):
        on = 1 if on else 0
        if self._pin is None or (on == self.state and self._pwm is None):
            self.state = on
            return
        if self._pwm is not None:
            self._pwm.deinit()
            self._pwm = None
            self._pin = machine.Pin(self._id, machine.Pin.OUT)
        self.state = on
        self._pin.value(on if self._active else 1 - on)

    def blink(self, hz):
        """Blink at `hz` (at least 1) with equal on and off times."""
        if self._pin is None:
            self.state = hz
            return
        if self._pwm is None:
            self._pwm = machine.PWM(self._pin, freq=max(1, int(hz)), duty_u16=32768)
        else:
            self._pwm.freq(max(1, int(hz)))
        self.state = hz


class PortHw:
    """A serial port's pins and UART.  Ports that share a UART switch its pins on `attach()`."""

    def __init__(self, hw, name, spec):
        self.name = name
        self.spec = spec
        self._hw = hw
        de = spec.get("de")
        self.de = machine.Pin(de, machine.Pin.OUT, value=0) if de is not None else None
        self.uart = None

    def attach(self):
        """Return the UART with this port's pins connected."""
        self.uart = self._hw._uart_for(self)
        return self.uart


class Hardware:
    def __init__(self, spec):
        self.name = spec["NAME"]
        self._spec = spec
        self._uarts = {}     # uart id -> [UART, owner PortHw name]
        self._ports = {}
        self._leds = {}
        self.modem_spec = spec.get("MODEM") or {}
        self.modem_model = self.modem_spec.get("model")
        self.port_names = tuple((spec.get("PORTS") or {}).keys())
        if spec.get("PMU"):
            self._setup_pmu(spec["PMU"])

    def _setup_pmu(self, pmu):
        # IP5306 (LilyGO T-Call): keep the boost converter on at light load, or the modem's
        # supply switches off between transmit bursts
        if pmu.get("type") == "ip5306":
            i2c = machine.I2C(0, sda=machine.Pin(pmu["sda"]), scl=machine.Pin(pmu["scl"]), freq=100000)
            try:
                i2c.writeto_mem(0x75, 0x00, b"\x37")
            except OSError:
                pass   # no PMU answering: a board revision without it

    # -- LEDs --

    def led(self, name):
        """The LED called `name`; names the board maps to one pin share one Led."""
        pin_id = (self._spec.get("LEDS") or {}).get(name)
        key = name if pin_id is None else ("pin", pin_id)
        led = self._leds.get(key)
        if led is None:
            led = Led(pin_id, self._spec.get("LED_ACTIVE", 1))
            self._leds[key] = led
        return led

    # -- serial ports --

    def port(self, name):
        p = self._ports.get(name)
        if p is None:
            spec = (self._spec.get("PORTS") or {}).get(name)
            if spec is None:
                raise ValueError("board %s has no port %r" % (self.name, name))
            p = PortHw(self, name, spec)
            self._ports[name] = p
        return p

    def _uart_kwargs(self, spec):
        kw = {"baudrate": spec.get("baudrate", 9600), "timeout": 0,
              "rxbuf": spec.get("rxbuf", 512), "txbuf": spec.get("txbuf", 256)}
        if spec.get("tx") is not None:
            kw["tx"] = spec["tx"]
        if spec.get("rx") is not None:
            kw["rx"] = spec["rx"]
        return kw

    def _uart_for(self, port):
        uid = port.spec["uart"]
        entry = self._uarts.get(uid)
        if entry is None:
            uart = machine.UART(uid, **self._uart_kwargs(port.spec))
            self._uarts[uid] = [uart, port.name]
            return uart
        uart, owner = entry
        if owner != port.name:
            pins = {}
            if port.spec.get("tx") is not None:
                pins["tx"] = port.spec["tx"]
            if port.spec.get("rx") is not None:
                pins["rx"] = port.spec["rx"]
            if pins:
                uart.init(**pins)
            entry[1] = port.name
        return uart

    def shares_uart(self, a, b):
        ports = self._spec.get("PORTS") or {}
        return a in ports and b in ports and ports[a]["uart"] == ports[b]["uart"]

    # -- modem --

    def modem_uart(self):
        m = self.modem_spec
        kw = self._uart_kwargs({"baudrate": m.get("baudrate", 115200), "rxbuf": m.get("rxbuf", 4096),
                                "txbuf": m.get("txbuf", 1024), "tx": m.get("tx"), "rx": m.get("rx")})
        return machine.UART(m["uart"], **kw)

    def modem_pin(self, role, value=None):
        """An output pin of the modem (pwrkey, power, flight, dtr), or None if the board has none."""
        pin_id = self.modem_spec.get(role)
        if pin_id is None:
            return None
        if value is None:
            return machine.Pin(pin_id, machine.Pin.OUT)
        return machine.Pin(pin_id, machine.Pin.OUT, value=value)

    def modem_input(self, role):
        """An input pin of the modem (status, ri), or None."""
        pin_id = self.modem_spec.get(role)
        return None if pin_id is None else machine.Pin(pin_id, machine.Pin.IN)

    # -- system --

    def safe_button_held(self):
        """True if the safe-mode button is held now or within the board's SAFE_WINDOW_MS.

        On ESP32 boards the button is BOOT (GPIO0): held during reset it selects the ROM
        bootloader, so the window lets the technician press it just after power-up.
        """
        pin_id = self._spec.get("SAFE_PIN")
        if pin_id is None:
            return False
        import time
        pin = machine.Pin(pin_id, machine.Pin.IN, machine.Pin.PULL_UP)
        active = self._spec.get("SAFE_PIN_ACTIVE", 0)
        window = self._spec.get("SAFE_WINDOW_MS", 0)
        t0 = time.ticks_ms()
        while True:
            if pin.value() == active:
                return True
            if time.ticks_diff(time.ticks_ms(), t0) >= window:
                return False
            time.sleep_ms(50)

    def watchdog(self, timeout_ms):
        return machine.WDT(timeout=timeout_ms)

    def rtc(self):
        return machine.RTC()

    def reset_cause(self):
        return machine.reset_cause()

    def reset_cause_name(self):
        return RESET_CAUSES.get(machine.reset_cause(), "unknown")

    def unique_id(self):
        return "".join("%02x" % b for b in machine.unique_id())

    def reset(self):
        machine.reset()

    def soft_reset(self):
        """Restart the interpreter: boot.py and main.py run again (a new configuration)."""
        machine.soft_reset()
