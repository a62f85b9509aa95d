"""Reading an IEC 62056-21 data message as it arrives: `BlockReader` frames it (blocks, BCC,
lines), `Collector` keeps the selected data sets of the lines."""
try:
    from micropython import const
except ImportError:          # CPython (host tools)
    def const(x):
        return x

from meterlink.proto import iecdata
from meterlink.proto.iec62056 import CR, EOT, ETX, LF, IecError, is_value_text


class BlockReader:
    """A data message `STX data ! CR LF ETX BCC` (or partial blocks ending in EOT) read as it
    arrives: splits the data into lines for `on_line` and checks each block's BCC.

    Memory: one line buffer, reused; nothing grows with the size of the readout.
    """
    WAIT = const(0)
    DATA = const(1)
    CHECK = const(2)
    DONE = const(3)

    def __init__(self, line_max=512, junk_max=64):
        self.line = bytearray()
        self.line_max = line_max
        self.junk_max = junk_max
        self._mark = b""
        self.reset()

    def reset(self):
        self.state = self.WAIT
        self.line[:] = b""
        self._bcc = 0
        self.junk = 0              # bytes seen before the first STX
        self.blocks = 0
        self.last = False          # the last block read ended the message (ETX, not EOT)
        self.block_ok = False      # its BCC matched
        self.bcc_ok = True         # every block's BCC matched so far
        self.long_lines = 0
        self._skip = False

    def mark(self):
        """Remember the partial line at a block's start, so a repeated block can rewind."""
        self._mark = bytes(self.line)

    def rewind(self):
        """Forget the last block (its BCC was wrong, a NAK asks for it again)."""
        self.line[:] = self._mark
        self.state = self.WAIT
        self.bcc_ok = True

    def feed(self, data, on_line):
        """Consume bytes; on_line(bytearray) gets each complete line (CR LF removed; do not
        keep it).  Returns -1 while a block goes on, else the index in `data` just past the
        block's BCC (then see .last and .block_ok).  IecError when no STX comes."""
        i = 0
        n = len(data)
        while i < n:
            st = self.state
            if st == self.WAIT:
                j = data.find(b"\x02", i)
                if j < 0:
                    self.junk += n - i
                    self._check_junk()
                    return -1
                self.junk += j - i
                self._check_junk()
                self.state = self.DATA
                self._bcc = 0
                i = j + 1
            elif st == self.DATA:
                x = self._bcc
                start = i
                b = 0
                while i < n:
                    b = data[i]
                    x ^= b
                    if b == LF or b == ETX or b == EOT:
                        break
                    i += 1
                self._bcc = x
                self._append(data, start, i)
                if i == n:
                    return -1
                i += 1
                if b == LF:
                    self._emit(on_line)
                else:
                    self.last = b == ETX
                    if self.last and self.line:
                        self._emit(on_line)      # the last line may lack CR LF
                    self.state = self.CHECK
            elif st == self.CHECK:
                ok = (data[i] & 0x7F) == (self._bcc & 0x7F)
                self.block_ok = ok
                self.bcc_ok = self.bcc_ok and ok
                self.blocks += 1
                self.state = self.DONE if self.last else self.WAIT
                return i + 1
            else:
                return i
        return -1

    def _check_junk(self):
        if self.junk > self.junk_max:
            raise IecError("no data message: %d bytes without STX" % self.junk)

    def _append(self, data, a, b):
        if b <= a or self._skip:
            return
        if len(self.line) + b - a > self.line_max:
            self._skip = True
            self.long_lines += 1
            return
        self.line.extend(memoryview(data)[a:b])

    def _emit(self, on_line):
        line = self.line
        if self._skip:
            self._skip = False
        else:
            n = len(line)
            while n and line[n - 1] == CR:
                n -= 1
            if n != len(line):
                line[n:] = b""
            if n:
                on_line(line)
        line[:] = b""


class Collector:
    """The selected values of one readout; a block's values count once its BCC matched."""

    def __init__(self, select):
        self.select = select
        self.values = {}
        self._staged = {}
        self.units = {}
        self.lines = 0
        self.bad_lines = 0
        self.sets = 0
        self.first_bare = None      # the value of a first data set without an address
        self.ended = False

    def line(self, line):
        self.lines += 1
        try:
            sets, ended = iecdata.parse_line(line)
        except IecError:
            self.bad_lines += 1
            return
        for address, index, value, unit in sets:
            self.sets += 1
            if self.sets == 1 and not address:
                self.first_bare = value
            c = iecdata.code(address)
            if c.startswith("97."):
                for k, u in iecdata.unit_announcement(value).items():
                    if self.select(k):
                        self.units[k] = u
            key = self.select.key(c)
            if key is not None:
                self._staged[key if index == 1 else "%s#%d" % (key, index)] = (value, unit)
        if ended:
            self.ended = True

    def error_message(self):
        """The text of an error message `(ERROR)` sent instead of the data, else None."""
        v = self.first_bare
        if self.sets == 1 and v and not is_value_text(v):
            return v
        return None

    def commit(self):
        self.values.update(self._staged)
        self._staged = {}

    def drop(self):
        self._staged = {}

    def finish(self):
        for k, (v, u) in self.values.items():
            if u is None and k in self.units:
                self.values[k] = (v, self.units[k])
        return self.values
