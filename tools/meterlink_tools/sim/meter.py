"""Simulated IEC 62056-21 mode C meters for the wires in wire.py (independent of the firmware).

An `IecMeter` answers `/?address!` with its identification, switches to the rate the option
select names (optical/RS-232: from 300 Bd; RS-485: a fixed rate), sends its full or short
readout (whole or in partial blocks), serves programming mode (P0, P1, R1/R2, B0) and, on
RS-485, the TEDAS-2023 `/@!` serial discovery.  Faults: see FAULTS.

Field habits (keyword arguments): `wake_noise` (bytes before the identification, e.g. NUL
and DEL while the meter's UART wakes up), `eol` ("\n": LF-only line ends), `short_readout`
(False: mode 6 is unknown to the meter, as to non-Turkish meters) with `unknown_mode` (how it
answers a mode it does not know: "nak", "silent", or "error" for an `(ERROR)` message).
"""
import random
import zlib

from .meter_data import Profile, blocks, data_message, frame_bcc
from .meter_discovery import Discoverable
from .wire import Device, LineSettings

SOH, STX, ETX, EOT, ACK, NAK = 0x01, 0x02, 0x03, 0x04, 0x06, 0x15
C_RATES = (300, 600, 1200, 2400, 4800, 9600, 19200)
# parity: one character of the readout arrives with a flipped bit (the BCC is the sent one's)
FAULTS = ("silent", "bad_bcc", "garbage", "nak", "truncated", "slow", "ignore_switch", "parity")
UNKNOWN_MODE = ("nak", "silent", "error")


def address_matches(asked, flag, serial):
    """The IEC rule: leading zeros are not evaluated; Turkish meters answer flag+serial and,
    like older firmware, the bare serial; an empty address is everybody's."""
    if asked == "":
        return True
    def z(s):
        return s.lstrip("0")
    if z(asked) in (z(flag + serial), z(serial)):
        return True
    return asked[:3] == flag and z(asked[3:]) == z(serial)


class IecMeter(Discoverable, Device):
    def __init__(self, brand="makel", serial="12345678", *, bus=False, line_baud=None,
                 offered=None, reaction_ms=200, fault=None, fault_sessions=None, slow_ms=2600,
                 block_size=None, password="00000000", discoverable=False, registers=None,
                 accept_lower=True, b0_reply=None, inactivity_s=60, seed=None, name=None,
                 wake_noise=b"", eol="\r\n", short_readout=True, unknown_mode="nak"):
        self.profile = Profile(brand)
        self.serial = serial
        self.flag = self.profile.flag
        self.address = self.flag + serial
        self.line_baud = line_baud or (9600 if bus else None)
        if offered is None:
            z = self.profile.baud_char
            offered = C_RATES[int(z)] if z.isdigit() and int(z) < len(C_RATES) else 300
        self.offered = self.line_baud or offered
        self.reaction_ms = reaction_ms
        self.fault = fault
        self.fault_sessions = fault_sessions      # None: for ever; n: the next n sessions
        self.slow_ms = slow_ms
        self.block_size = block_size
        self.password = password
        self.discoverable = discoverable
        self.registers = dict(registers or {})
        self.accept_lower = accept_lower
        self.b0_reply = b0_reply
        self.wake_noise = bytes(wake_noise)
        self.eol = eol
        self.modes = "016" if short_readout else "01"
        if unknown_mode not in UNKNOWN_MODE:
            raise ValueError("unknown_mode: one of %s" % (UNKNOWN_MODE,))
        self.unknown_mode = unknown_mode
        self.inactivity_us = inactivity_s * 1_000_000
        # (crc32, not hash(): str hashes change from one Python process to the next)
        self.rng = random.Random(seed if seed is not None else zlib.crc32(serial.encode()))
        super().__init__(name or "%s:%s" % (brand, serial), self._initial())
        self.rx = bytearray()
        self.state = "idle"
        self.gen = 0
        self.engaged = False          # the last request on the line was for this meter
        self.last_rx_us = 0
        self.muted_until_us = 0
        self._discovery_tries = 0
        self._blocks = []
        self._block_i = 0
        self._block_naks = 0
        self.stats = {"requests": 0, "idents": 0, "readouts": 0, "b0": 0, "naks": 0,   # naks heard
                      "rates": [], "discovery_replies": 0, "confirmed": 0}
        self.rx_bytes = 0             # bytes of messages meant for this meter
        self.tx_bytes = 0
        self.first_request_start_us = None
        self.last_b0_end_us = None
        self.sessions = []            # [request start, B0 end or None, bytes on the wire]
        self.events = []              # (t_us, what, detail)

    # -- helpers --

    def _initial(self):
        return LineSettings(self.line_baud or 300, 7, "E", 1)

    @property
    def ident_line(self):
        z = self.profile.baud_char
        if z.isdigit() and self.offered in C_RATES:     # mode C: announce the offered rate
            z = str(C_RATES.index(self.offered))
        return ("/%s%s%s\r\n" % (self.flag, z, self.profile.ident_rest)).encode("ascii")

    def _faulty(self, name):
        return self.fault == name

    def _react_us(self):
        return (self.slow_ms if self._faulty("slow") else self.reaction_ms) * 1000

    def _later(self, t_us, data, then=None):
        gen = self.gen
        def go():
            if gen != self.gen:
                return
            start = max(self.now_us(), self.busy_until())
            self.send(data)
            self.tx_bytes += len(data)
            self.events.append((start, "tx", (self.busy_until(), data[:12])))
            if then is not None:
                self.loop.call_at(self.busy_until() / 1e6, lambda: gen == self.gen and then())
        self.loop.call_at(max(t_us, self.now_us()) / 1e6, go)

    def _back_to_start(self):
        self.state = "idle"
        self.settings = self._initial()

    def _log(self, what, detail=""):
        self.events.append((self.now_us(), what, detail))

    # -- receiving --

    def receive(self, data, t_us):
        if self.busy_until() > t_us + 1:
            return                      # half duplex: deaf while talking
        self.rx += data
        if len(self.rx) > 2048:
            del self.rx[:-512]
        self._scan(t_us)

    def _scan(self, t_us):
        rx = self.rx
        while rx:
            c = rx[0]
            if c == 0x2F:
                k = rx.find(b"!\r\n")
                if k < 0:
                    if len(rx) > 48:
                        del rx[0]
                        continue
                    return
                j = rx.rfind(b"/", 0, k)
                msg = bytes(rx[j:k + 3])
                del rx[:k + 3]
                self._on_slash(msg, t_us)
            elif c == ACK and self.state == "blocks":
                del rx[0]
                self._on_block_answer(True, t_us)
            elif c == ACK:
                if len(rx) < 6:
                    return
                msg = bytes(rx[:6])
                if msg[4:6] != b"\r\n":
                    del rx[0]
                    continue
                del rx[:6]
                self._on_option(chr(msg[2]), chr(msg[3]), t_us)
            elif c == NAK:
                del rx[0]
                if self.state == "blocks":
                    self._on_block_answer(False, t_us)
            elif c in (SOH, STX):
                e = -1
                for i in range(1, len(rx)):
                    if rx[i] in (ETX, EOT):
                        e = i
                        break
                if e < 0 or e + 1 >= len(rx):
                    j = rx.find(b"/?")
                    if j > 0 and rx.find(b"!\r\n", j) > 0:
                        del rx[:j]            # a request after line noise
                        continue
                    if len(rx) > 600:
                        del rx[0]
                        continue
                    return
                frame = bytes(rx[:e + 2])
                del rx[:e + 2]
                self._on_frame(frame, t_us)
            else:
                del rx[0]

    # -- sign-on --

    def _on_slash(self, msg, t_us):
        if msg == b"/@!\r\n":
            self._on_discover(t_us)
            return
        if not msg.startswith(b"/?"):
            return
        asked = msg[2:-3].decode("ascii", "replace")
        self.gen += 1
        self._back_to_start()
        self.engaged = address_matches(asked, self.flag, self.serial)
        if not self.engaged:
            return
        self.rx_bytes += len(msg)
        self.stats["requests"] += 1
        start = t_us - len(msg) * self.settings.char_us()
        if self.first_request_start_us is None:
            self.first_request_start_us = start
        self.sessions.append([start, None, self.rx_bytes + self.tx_bytes - len(msg)])
        self.last_rx_us = t_us
        if self.fault_sessions is not None:
            if self.fault_sessions <= 0:
                self.fault = None
            self.fault_sessions -= 1
        self._log("request", asked)
        if self._faulty("silent"):
            return
        if self._faulty("garbage"):
            junk = bytes(self.rng.randrange(0x20, 0x7F) for _ in range(40))
            self._later(t_us + self._react_us(), junk.replace(b"\n", b"?") + b"\x15")
            return
        self.state = "wait_ack"
        self.stats["idents"] += 1
        self._later(t_us + self._react_us(), self.wake_noise + self.ident_line)

    def _on_option(self, z, y, t_us):
        if self.state != "wait_ack" or t_us - self.last_rx_us > self.inactivity_us:
            return
        self.rx_bytes += 6
        self.last_rx_us = t_us
        if self._faulty("nak"):
            self._later(t_us + self._react_us(), bytes([NAK]))
            return
        rate = self.settings.baudrate
        if not self.line_baud and not self._faulty("ignore_switch") and z.isdigit() and int(z) < 7:
            asked = C_RATES[int(z)]
            if asked == self.offered or (self.accept_lower and asked < self.offered):
                rate = asked
        self.settings = LineSettings(rate, 7, "E", 1)
        self.stats["rates"].append(rate)
        self._log("option", "%s %s at %d" % (z, y, rate))
        at = t_us + self._react_us()
        if y not in self.modes:
            self._log("unknown_mode", y)
            if self.unknown_mode == "nak":
                self._later(at, bytes([NAK]), self._back_to_start)
            elif self.unknown_mode == "error":
                self._later(at, self._frame(b"\x02(ERROR)"), self._back_to_start)
            else:
                self._back_to_start()
        elif y == "1":
            self.state = "prog"
            self._later(at, self._frame(b"\x01P0\x02(%s)" % self.serial.encode()))
        else:
            lines = self.profile.data_lines(self.serial, short=(y == "6"), registers=self.registers)
            self._send_readout(lines, at)

    def _send_readout(self, lines, at):
        if self.block_size:
            self._blocks = blocks(lines, self.block_size, self.profile.glued, self.eol)
            self._block_i = 0
            self._block_naks = 0
            self.state = "blocks"
            first = self._blocks[0]
            if self._faulty("bad_bcc"):       # the first block's first copy is damaged
                first = first[:-1] + bytes([(first[-1] ^ 0x11) & 0x7F])
            self._later(at, first)
            return
        msg = data_message(lines, self.profile.glued, self.eol)
        if self._faulty("bad_bcc"):
            msg = msg[:-1] + bytes([(msg[-1] ^ 0x11) & 0x7F])
        elif self._faulty("parity"):
            # a digit of the first energy register, one bit off (e.g. 2 -> 3)
            k = msg.find(b"1.8.0(")
            k = k + 7 if k >= 0 else len(msg) // 2
            msg = msg[:k] + bytes([msg[k] ^ 0x01]) + msg[k + 1:]
        elif self._faulty("truncated"):
            msg = msg[:len(msg) // 2]
        self.state = "sending"
        self._later(at, msg, self._readout_done)

    def _readout_done(self):
        self.stats["readouts"] += 1
        self._back_to_start()

    def _on_block_answer(self, ok, t_us):
        self.last_rx_us = t_us
        self.rx_bytes += 1
        if ok:
            self._block_i += 1
            self._block_naks = 0
        else:
            self._block_naks += 1
            self.stats["naks"] += 1
            if self._block_naks > 3:
                self._back_to_start()
                return
        last = self._block_i == len(self._blocks) - 1
        then = self._readout_done if last else None
        if last:
            self.state = "sending"
        self._later(t_us + self._react_us(), self._blocks[self._block_i], then)

    # -- programming mode and break --

    @staticmethod
    def _frame(body_with_head):
        body = body_with_head[1:] + b"\x03"
        return body_with_head[:1] + body + bytes([frame_bcc(body)])

    def _on_frame(self, frame, t_us):
        if frame.startswith(b"\x02\x06"):
            self._on_confirm(frame)
            return
        if frame[0] != SOH or not self.engaged:
            return
        ok = frame_bcc(frame[1:-1]) == frame[-1] & 0x7F
        cmd = frame[1:3]
        if cmd == b"B0" and ok:
            self.rx_bytes += len(frame)
            self.stats["b0"] += 1
            self.last_b0_end_us = t_us
            if self.sessions:
                self.sessions[-1][1] = t_us
            self.gen += 1
            self._back_to_start()
            if self.b0_reply:
                self._later(t_us + self._react_us(), self.b0_reply)
            return
        if self.state != "prog":
            return
        self.rx_bytes += len(frame)
        self.last_rx_us = t_us
        at = t_us + self._react_us()
        if not ok:
            self._later(at, bytes([NAK]))
            return
        data = frame[4:-2].decode("ascii", "replace") if frame[3] == STX else ""
        if cmd[:1] == b"P":
            good = data.strip("()") == self.password
            self._later(at, bytes([ACK if good else NAK]))
        elif cmd in (b"R1", b"R2"):
            code = data.split("(", 1)[0]
            line = next((ln for ln in self.profile.data_lines(self.serial, registers=self.registers)
                         if ln.split("(", 1)[0] == code), None)
            payload = (line or "(ERROR)").encode()
            self._later(at, self._frame(b"\x02" + payload))
        else:
            self._later(at, bytes([NAK]))
