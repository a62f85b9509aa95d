"""AT response tokenising (pure: bytes in, tokens out): CRLF lines, prompts without a line
end, and the length-prefixed binary payloads that follow +HTTPREAD headers."""
# emit(kind, payload) gets LINE (bytes, CR/LF stripped), PROMPT (b"> " or b"DOWNLOAD") and
# DATA (exactly the announced number of bytes, CR/LF and 0xFF included: a bytearray, or a
# memoryview of the sink).
LINE = 0
PROMPT = 1
DATA = 2

MAX_LINE = 1024

# headers announcing <n> raw bytes right after their line end: SIM7600 "+HTTPREAD: DATA,<n>",
# SIM800 and A76xx "+HTTPREAD: <n>"; some firmwares leave out the space ("+HTTPREAD:DATA,<n>")
_HTTPREAD = b"+HTTPREAD:"


def raw_length(line):
    """Bytes of binary payload that follow this line (0: none)."""
    if not line.startswith(_HTTPREAD):
        return 0
    rest = line[len(_HTTPREAD):].strip()
    if rest.startswith(b"DATA,"):
        rest = rest[5:].strip()
    if rest and rest.isdigit():
        return int(rest)
    return 0


def _junk(c):
    # what a modem puts before its first line at power-up (NUL, 0xFF, bytes at a wrong baud
    # rate); no AT line starts with a control character or a byte above 0x7E
    return c < 32 or c > 126


def clean(buf):
    """A line without the junk in front of it (and without CRs at either end)."""
    k = 0
    n = len(buf)
    while k < n and _junk(buf[k]):
        k += 1
    return bytes(buf[k:]).strip(b"\r\x00")


class Tokenizer:
    def __init__(self, max_line=MAX_LINE):
        self._buf = bytearray()
        self._raw = 0            # payload bytes still to come
        self._rawbuf = None      # where they go: the sink or a buffer of their own
        self._rawpos = 0
        self._rawstart = 0
        self.max_line = max_line
        self.prompts = False     # a prompt is expected: "> " or "DOWNLOAD" without a line end
        self.overflows = 0
        self.sink = None         # payloads go here, one after the other, when set
        self.sink_used = 0

    def set_sink(self, buf):
        """Put the next payloads into `buf` (one allocation for a whole HTTP body)."""
        self.sink = buf
        self.sink_used = 0

    def reset(self):
        """Forget a partial line or payload (the modem was powered off or rebooted)."""
        self._buf = bytearray()
        self._raw = 0
        self._rawbuf = None

    def feed(self, data, emit):
        mv = memoryview(data)
        i = 0
        n = len(data)
        while i < n:
            if self._raw:
                take = min(self._raw, n - i)
                pos = self._rawpos
                self._rawbuf[pos:pos + take] = mv[i:i + take]
                self._rawpos = pos + take
                self._raw -= take
                i += take
                if not self._raw:
                    buf = self._rawbuf
                    self._rawbuf = None
                    if buf is self.sink:
                        self.sink_used = self._rawpos
                        emit(DATA, memoryview(buf)[self._rawstart:self._rawpos])
                    else:
                        emit(DATA, buf)
                continue
            j = data.find(b"\n", i)
            if j < 0:
                self._buf.extend(mv[i:n])
                self._partial(emit)
                return
            self._buf.extend(mv[i:j])
            i = j + 1
            self._line(emit)

    def _partial(self, emit):
        buf = self._buf
        if self.prompts:
            k = 0
            while k < len(buf) and _junk(buf[k]):
                k += 1
            rest = bytes(buf[k:])
            if rest == b"> " or rest == b"DOWNLOAD":
                self._buf = bytearray()
                emit(PROMPT, rest)
                return
        if len(buf) > self.max_line:
            self.overflows += 1
            self._line(emit)

    def _line(self, emit):
        line = clean(self._buf)
        self._buf = bytearray()
        if not line:
            return
        if self.prompts and line in (b"DOWNLOAD", b">", b"> "):
            emit(PROMPT, line)
            return
        emit(LINE, line)
        n = raw_length(line)
        if n:
            self._raw = n
            sink = self.sink
            if sink is not None and self.sink_used + n <= len(sink):
                self._rawbuf = sink
                self._rawstart = self._rawpos = self.sink_used
            else:
                self._rawbuf = bytearray(n)
                self._rawstart = self._rawpos = 0


def text(line):
    """A line as str; bytes that are not UTF-8 (line noise) become '?'."""
    try:
        return line.decode()
    except UnicodeError:
        return bytes(c if c < 128 else 63 for c in line).decode()


def final_kind(line):
    """'ok', 'error' or None: whether a line ends a command."""
    if line == "OK":
        return "ok"
    if line == "ERROR" or line.startswith("+CME ERROR:") or line.startswith("+CMS ERROR:"):
        return "error"
    if line in ("NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE"):
        return "error"
    return None


def cme(line):
    """(code or None, text) of a '+CME ERROR: ...' / '+CMS ERROR: ...' line."""
    i = line.find(":")
    if i < 0:
        return None, line
    rest = line[i + 1:].strip()
    if rest.isdigit():
        return int(rest), rest
    return None, rest
