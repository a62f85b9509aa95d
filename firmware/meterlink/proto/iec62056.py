"""IEC 62056-21 frames, sans-IO: request, identification, option select, data messages with
their BCC (whole or in partial blocks), programming commands, break and error messages."""
try:
    from micropython import const
except ImportError:          # CPython (host tools)
    def const(x):
        return x

SOH = const(0x01)
STX = const(0x02)
ETX = const(0x03)
EOT = const(0x04)
ACK = const(0x06)
LF = const(0x0A)
CR = const(0x0D)
NAK = const(0x15)

# mode C baud-rate characters '0'..'6'; '7'..'9' are reserved (the line stays at 300 Bd)
C_BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200)
B_BAUDS = (600, 1200, 2400, 4800, 9600, 19200)      # mode B 'A'..'F'

# option select mode characters (Y); the Turkish specs give 6 the meaning "short readout"
READOUT = "0"
PROGRAMMING = "1"
SHORT_READOUT = "6"

DISCOVER = b"/@!\r\n"        # TEDAS-2023 serial discovery on RS-485
IDENT_MAX = const(100)       # longest identification line accepted, CR LF included


class IecError(ValueError):
    """Bytes that are not the frame the protocol allows here."""


class BccError(IecError):
    """A frame whose block check character does not match."""


def bcc(data, start=0, end=None):
    """XOR of data[start:end], 7 bits (the characters are 7E1)."""
    if end is None:
        end = len(data)
    x = 0
    for i in range(start, end):
        x ^= data[i]
    return x & 0x7F


def baud_of(char):
    """Baud rate of a mode C baud character ('0'..'6'), else None."""
    if len(char) == 1 and "0" <= char <= "6":
        return C_BAUDS[ord(char) - 48]
    return None


def char_of(baud):
    """Mode C baud character for a rate; ValueError for a rate mode C does not have."""
    for i in range(len(C_BAUDS)):
        if C_BAUDS[i] == baud:
            return chr(48 + i)
    raise ValueError("no mode C character for %d Bd" % baud)


def _check_address(address):
    if len(address) > 32:
        raise IecError("device address longer than 32 characters")
    for c in address:
        if not (c.isalpha() or c.isdigit() or c == " ") or ord(c) > 126:
            raise IecError("device address may hold digits, letters and spaces only: %r" % address)


def request(address=""):
    """The request message `/?address!CRLF` (an empty address: whoever hears it answers)."""
    _check_address(address)
    return b"/?" + address.encode() + b"!\r\n"


class Ident:
    """An identification message `/XXXZ[\\W][<n>]ident`."""
    __slots__ = ("flag", "baud_char", "mode", "baud", "escape", "generation", "ident", "text")

    def __init__(self, flag, baud_char, escape, generation, ident, text):
        self.flag = flag
        self.baud_char = baud_char
        self.escape = escape            # the W of `\W` ('2': mode E capable), or None
        self.generation = generation    # Turkish `<n>` marker as an int, or None
        self.ident = ident
        self.text = text
        if "0" <= baud_char <= "9":
            self.mode = "C"
            self.baud = baud_of(baud_char) or 300
        elif "A" <= baud_char <= "F":
            self.mode = "B"
            self.baud = B_BAUDS[ord(baud_char) - 65]
        else:
            self.mode = "A"
            self.baud = 300

    @property
    def min_reaction_ms(self):
        # a lower-case third flag letter announces a 20 ms minimum reaction time
        return 20 if self.flag[2].islower() else 200

    @property
    def address(self):
        """Flag + serial as Turkish multi-drop requests use it, when the ident is a serial."""
        return self.flag + self.ident if self.ident.isdigit() else None

    def __repr__(self):
        return "Ident(%s)" % self.text


def is_noise(data, end=None):
    """Only what a meter's UART sends while it wakes up: NUL, DEL, 0xFF, CR, LF, blanks."""
    if end is None:
        end = len(data)
    for i in range(end):
        if data[i] not in (0x00, 0x7F, 0xFF, CR, LF, 0x20):
            return False
    return True


def ident_start(line):
    """Index of the '/' that starts an identification, past the wake-up noise some meters
    send first (NUL, DEL, a stray CR LF); -1 when there is none or other bytes come first."""
    k = line.find(b"/")
    return k if k >= 0 and is_noise(line, k) else -1


def parse_ident(line):
    """Parse an identification line (bytes, with or without CR LF) into an Ident; bytes
    before its '/' (wake-up noise) are skipped."""
    n = len(line)
    while n and line[n - 1] in (CR, LF):
        n -= 1
    s = ident_start(line)
    if s < 0 or n - s < 5:
        raise IecError("identification must start with '/' and hold at least 4 characters")
    for i in range(s, n):
        c = line[i]
        if c < 0x20 or c > 0x7E:
            raise IecError("identification holds a non-printable byte 0x%02x" % c)
    text = bytes(line[s:n]).decode()
    n = len(text)
    flag = text[1:4]
    if not flag.isalpha():
        raise IecError("manufacturer flag must be 3 letters: %r" % flag)
    baud_char = text[4]
    i = 5
    escape = generation = None
    while i + 1 < n:
        if text[i] == "\\":
            escape = text[i + 1]
            i += 2
        elif text[i] == "<" and i + 2 < n and text[i + 2] == ">" and text[i + 1].isdigit():
            generation = ord(text[i + 1]) - 48
            i += 3
        else:
            break
    ident = text[i:]
    if "/" in ident or "!" in ident:
        raise IecError("identification text may not contain '/' or '!'")
    return Ident(flag, baud_char, escape, generation, ident, text)


def option_select(baud_char, mode=READOUT, protocol="0"):
    """ACK V Z Y CR LF: protocol control V (always '0' in mode C), baud Z, mode Y."""
    return b"\x06" + protocol.encode() + baud_char.encode() + mode.encode() + b"\r\n"


def command(cmd, data=None):
    """A programming command `SOH C D [STX data] ETX BCC`, e.g. command("R2", "0.9.2()")."""
    if len(cmd) != 2:
        raise IecError("command is two characters (P0, R2, B0...)")
    body = bytearray(b"\x01")
    body.extend(cmd.encode())
    if data is not None:
        body.append(STX)
        body.extend(data.encode() if isinstance(data, str) else data)
    body.append(ETX)
    body.append(bcc(body, 1))
    return bytes(body)


BREAK = b"\x01B0\x03q"       # command("B0"): complete sign-off


def message_end(buf, start=0):
    """Index just past a whole message starting at buf[start]: a single ACK or NAK, or
    SOH/STX ... ETX|EOT BCC; -1 while incomplete.  Fits UartPort.recv(until=...)."""
    n = len(buf)
    if start >= n:
        return -1
    c = buf[start]
    if c == ACK or c == NAK:
        return start + 1
    if c != SOH and c != STX:
        return -1
    for i in range(start + 1, n):
        c = buf[i]
        if c == ETX or c == EOT:
            return i + 2 if i + 1 < n else -1
    return -1


def line_end(buf):
    """Index just past the first LF, -1 before it: the end of an identification line."""
    i = buf.find(b"\n")
    return -1 if i < 0 else i + 1


def _check_bcc(frame):
    n = len(frame)
    if n < 3 or frame[n - 2] not in (ETX, EOT):
        raise IecError("frame does not end with ETX/EOT and a BCC")
    if bcc(frame, 1, n - 1) != frame[n - 1] & 0x7F:
        raise BccError("BCC mismatch: got 0x%02x, computed 0x%02x" % (frame[n - 1], bcc(frame, 1, n - 1)))


def parse_command(frame):
    """(cmd, data or None) of `SOH C D [STX data] ETX BCC`; checks the BCC."""
    if len(frame) < 5 or frame[0] != SOH:
        raise IecError("a command starts with SOH")
    _check_bcc(frame)
    cmd = bytes(frame[1:3]).decode()
    if frame[3] == STX:
        return cmd, bytes(frame[4:len(frame) - 2])
    if frame[3] in (ETX, EOT) and len(frame) == 5:
        return cmd, None
    raise IecError("command %s: STX or ETX expected after it" % cmd)


def is_value_text(text):
    """Numbers, dates, times and ranges; an error text holds letters and never a '*' unit."""
    if "*" in text:
        return True
    for c in text:
        if not (c.isdigit() or c in "+-.:,; "):
            return False
    return True


def parse_answer(frame):
    """Classify a meter's answer in programming mode:
    ("ack", None), ("nak", None), ("data", payload bytes), ("error", text),
    ("command", (cmd, data)) e.g. the P0 operand.  Checks the BCC (BccError)."""
    if len(frame) == 1 and frame[0] in (ACK, NAK):
        return ("ack" if frame[0] == ACK else "nak"), None
    if not frame:
        raise IecError("empty answer")
    if frame[0] == SOH:
        return "command", parse_command(frame)
    if frame[0] != STX:
        raise IecError("answer starts with 0x%02x, not STX/SOH/ACK/NAK" % frame[0])
    _check_bcc(frame)
    payload = bytes(frame[1:len(frame) - 2])
    # an error message is `(text)` without an address, its text not a number
    if len(payload) >= 2 and payload[0] == 0x28 and payload[-1] == 0x29 and payload.count(b"(") == 1:
        try:
            text = payload[1:-1].decode()
        except UnicodeError:
            raise IecError("answer holds non-ASCII bytes")
        if text and not is_value_text(text):
            return "error", text
    return "data", payload
