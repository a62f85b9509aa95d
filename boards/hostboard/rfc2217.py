"""RFC 2217 (Telnet COM-PORT-OPTION) client: the far end of a host board UART.

Line settings and the RTS/DTR lines travel as Telnet subnegotiations in the same TCP stream as
the data, so the peer sees them in order with the bytes.  0xFF in data is sent doubled.
The peer may be a simulator, pyserial's PortManager, ser2net or esptool's RFC 2217 server.
"""
import socket

import hostclock

IAC = 255
DONT = 254
DO = 253
WONT = 252
WILL = 251
SB = 250
SE = 240
BINARY = 0
SGA = 3
COM_PORT = 44

SET_BAUDRATE = 1
SET_DATASIZE = 2
SET_PARITY = 3
SET_STOPSIZE = 4
SET_CONTROL = 5
CTRL_BREAK_ON = 5
CTRL_BREAK_OFF = 6
CTRL_DTR_ON = 8
CTRL_DTR_OFF = 9
CTRL_RTS_ON = 11
CTRL_RTS_OFF = 12
SERVER_NOTIFY_MODEMSTATE = 107

PARITY_CODES = {None: 1, 1: 2, 0: 3}    # MicroPython parity: None, 1 = odd, 0 = even
STOP_CODES = {1: 1, 2: 2}
_ACCEPT = (BINARY, SGA, COM_PORT)

# decoder states
_DATA = 0
_IAC = 1
_NEG = 2
_SB = 3
_SB_IAC = 4


def parse_url(url):
    if not url.startswith("rfc2217://"):
        raise ValueError("host UART: only rfc2217://host:port URLs are supported, not %r" % url)
    hostport = url[10:].split("?", 1)[0].rstrip("/")
    host, port = hostport.rsplit(":", 1)
    return host, int(port)


class Link:
    """One TCP connection; counts raw bytes both ways for the virtual clock."""

    def __init__(self, url, link_id):
        self.link_id = link_id
        self.tx_count = 0
        self.rx_count = 0
        self.modemstate = 0
        self.rx = bytearray()
        self.dropped = 0
        self.closed = False
        self._state = _DATA
        self._neg_verb = 0
        self._sb = bytearray()
        self._sent = {}
        host, port = parse_url(url)
        ai = socket.getaddrinfo(host, port)[0][-1]
        self.sock = socket.socket()
        self.sock.connect(ai)
        self.sock.setsockopt(6, 1, 1)   # IPPROTO_TCP, TCP_NODELAY
        self.sock.setblocking(False)
        self._send_option(WILL, COM_PORT)
        self._send_option(DO, COM_PORT)
        self._send_option(WILL, BINARY)
        self._send_option(DO, BINARY)

    # -- sending --

    def _send(self, data):
        mv = memoryview(data)
        while len(mv):
            try:
                n = self.sock.send(mv)
            except OSError as e:
                if e.errno == 11:   # socket buffer full: the peer is slow, wait a real moment
                    hostclock._RealPoll().poll(1)
                    continue
                raise
            self.tx_count += n
            mv = mv[n:]

    def _send_option(self, verb, option):
        self._sent[(verb, option)] = True
        self._send(bytes((IAC, verb, option)))

    def _subneg(self, code, value):
        value = value.replace(b"\xff", b"\xff\xff")
        return bytes((IAC, SB, COM_PORT, code)) + value + bytes((IAC, SE))

    def write(self, data):
        if not isinstance(data, bytes):
            data = bytes(data)      # memoryview/bytearray: `in` and replace need bytes
        if b"\xff" in data:
            data = data.replace(b"\xff", b"\xff\xff")
        self._send(data)

    def set_line(self, baudrate, bits, parity, stop):
        self._send(self._subneg(SET_BAUDRATE, baudrate.to_bytes(4, "big"))
                   + self._subneg(SET_DATASIZE, bytes((bits,)))
                   + self._subneg(SET_PARITY, bytes((PARITY_CODES[parity],)))
                   + self._subneg(SET_STOPSIZE, bytes((STOP_CODES[stop],))))

    def set_control(self, code):
        self._send(self._subneg(SET_CONTROL, bytes((code,))))

    # -- receiving --

    def pump(self):
        """Read what the socket has, without blocking, into self.rx."""
        while not self.closed:
            try:
                data = self.sock.recv(1024)
            except OSError as e:
                if e.errno == 11:
                    return
                raise
            if not data:
                self.closed = True
                return
            self.rx_count += len(data)
            self._decode(data)

    def _decode(self, data):
        if self._state == _DATA and IAC not in data:
            self.rx.extend(data)
            return
        for b in data:
            st = self._state
            if st == _DATA:
                if b == IAC:
                    self._state = _IAC
                else:
                    self.rx.append(b)
            elif st == _IAC:
                if b == IAC:
                    self.rx.append(IAC)
                    self._state = _DATA
                elif b == SB:
                    self._sb = bytearray()
                    self._state = _SB
                elif b in (DO, DONT, WILL, WONT):
                    self._neg_verb = b
                    self._state = _NEG
                else:
                    self._state = _DATA
            elif st == _NEG:
                self._negotiate(self._neg_verb, b)
                self._state = _DATA
            elif st == _SB:
                if b == IAC:
                    self._state = _SB_IAC
                else:
                    self._sb.append(b)
            else:  # _SB_IAC
                if b == SE:
                    self._subnegotiation(bytes(self._sb))
                    self._state = _DATA
                else:
                    self._sb.append(b)
                    self._state = _SB

    def _negotiate(self, verb, option):
        if verb == WILL:
            answer = DO if option in _ACCEPT else DONT
        elif verb == DO:
            answer = WILL if option in _ACCEPT else WONT
        else:
            return
        if (answer, option) not in self._sent:
            self._send_option(answer, option)

    def _subnegotiation(self, sb):
        if len(sb) >= 3 and sb[0] == COM_PORT and sb[1] == SERVER_NOTIFY_MODEMSTATE:
            self.modemstate = sb[2]

    def close(self):
        self.closed = True
        self.sock.close()


class NullLink:
    """A UART with nothing on its pins: what is sent goes nowhere, nothing ever arrives.  Its
    socket is a bound UDP socket nobody sends to, so waits on it last until their deadline."""

    def __init__(self, link_id):
        self.link_id = link_id
        self.tx_count = 0
        self.rx_count = 0
        self.modemstate = 0
        self.rx = bytearray()
        self.closed = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(socket.getaddrinfo("127.0.0.1", 0)[0][-1])
        self.sock.setblocking(False)

    def write(self, data):
        self.tx_count += len(data)

    def set_line(self, baudrate, bits, parity, stop):
        pass

    def set_control(self, code):
        pass

    def pump(self):
        pass

    def close(self):
        self.closed = True
        self.sock.close()
