"""The front-panel LEDs by name; blinking is left to the LED's PWM channel so it costs no CPU.

Names: power, net, server, and per port group (rs485, opt): <group>_query, <group>_response,
<group>_error.  The optical probe and RS-232 share the "opt" group, as on the panel.
"""

GROUP_OF_PORT = {"rs485": "rs485", "optical": "opt", "rs232": "opt"}


class Leds:
    def __init__(self, hw):
        self._hw = hw
        self.state = {}   # name -> 0, 1 or blink frequency in Hz as a float

    def set(self, name, on):
        self._hw.led(name).set(on)
        self.state[name] = 1 if on else 0

    def blink(self, name, hz):
        self._hw.led(name).blink(hz)
        self.state[name] = float(hz)

    # the port group's three LEDs: query sent, response received, communication error
    def query(self, port, on):
        self.set(GROUP_OF_PORT.get(port, port) + "_query", on)

    def response(self, port, on):
        self.set(GROUP_OF_PORT.get(port, port) + "_response", on)

    def error(self, port, on):
        self.set(GROUP_OF_PORT.get(port, port) + "_error", on)
