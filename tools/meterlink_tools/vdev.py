"""A virtual device on a pty: the firmware on the host board (the MicroPython unix port with a
LittleFS flash image, in real time) behind a pseudo-terminal that mpremote drives as it drives
an ESP32's USB serial port.

The unix port has the raw REPL and raw paste, but differs from a board in three ways the
bridge here makes up for:
- Ctrl-D on an empty REPL line ends the process instead of soft-rebooting: the bridge says
  `MPY: soft reboot`, starts the next boot (without main.py after a raw-REPL soft reset, and
  back in the raw REPL) and carries the RTC over, as a board would;
- while code runs from raw paste the tty stays raw, so Ctrl-C is a plain byte nobody reads:
  the bridge turns a Ctrl-C that arrives while code runs into SIGINT, passes it on as a byte
  at a prompt (where SIGINT would kill the process), and holds one that arrives during
  start-up until the firmware runs;
- the child's tty has no output processing (no ONLCR), so `raw REPL; CTRL-B to exit\\r\\n`
  arrives exactly as mpremote expects it.
"""
import errno
import json
import os
import select
import signal
import subprocess
import termios
import time
import tty

from .hostboard import DEFAULT_HEAPSIZE, EXIT_POWER_CUT, HostBoard, PWRON_RESET

SOFT_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET = 5, 2, 3, 4
EXIT_RESETS = {82: HARD_RESET, 83: WDT_RESET, 84: DEEPSLEEP_RESET, EXIT_POWER_CUT: PWRON_RESET}
SOFT_EXITS = (0, 85)
RESET_NAMES = {PWRON_RESET: "power-on", HARD_RESET: "hard reset", WDT_RESET: "watchdog reset",
               DEEPSLEEP_RESET: "deep sleep", SOFT_RESET: "soft reset"}

SOFT_REBOOT = b"MPY: soft reboot\r\n"
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
PROMPTS = (b">>> ", b"... ", b"=== ", b"\x04>", RAW_BANNER + b">")
CTRL_C = 0x03
# The child's tty says what it is doing through harmless local flags (ECHOCTL does nothing
# without ECHO): starting up (not ready for SIGINT yet), running code (the unix port's
# "original" mode, which run.py sets once the flash is mounted), or in its REPL reading a line
# (the REPL's own raw mode clears them all).
STARTING_LFLAG = termios.NOFLSH | termios.ECHOCTL
RUNNING_LFLAG = termios.NOFLSH
SIGINT_SPACING_S = 0.3      # a second SIGINT before the first is handled ends the unix port
HOST_BACKLOG = 16384        # output kept while nobody reads the pty (older bytes are dropped)
CONSOLE_MAX = 4 << 20       # console.log becomes console.1.log past this size


class VirtualDevice:
    def __init__(self, rundir, uarts=None, heapsize=DEFAULT_HEAPSIZE, host_firmware=False,
                 log=None, echo=None):
        self.board = HostBoard(rundir, uarts=uarts, heapsize=heapsize, mount_host=host_firmware,
                               name="vdev")
        self.rundir = self.board.rundir
        self.log = log or (lambda msg: None)
        self.echo = echo            # a binary stream that also gets the console, or None
        self.boots = 0
        self.proc = None
        self.path = None
        self._stop = False
        self._out = bytearray()     # device output not yet taken by the host side
        self._in = bytearray()      # host input the child's tty has no room for yet
        self._tail = b""            # the last bytes the device wrote
        self._host_tail = b""
        self._paste = None          # None | "asked" | "input" | "running"
        self._raw = False           # the device's REPL is the raw REPL
        self._sigint_at = 0.0
        self._interrupt = False     # a Ctrl-C that waits for the boot to get far enough

    # -- the two ptys --

    def open(self):
        """Create the host-side pty; returns its path (what mpremote connects to)."""
        self.hm, self._hs = os.openpty()
        tty.setraw(self._hs)
        self.path = os.ttyname(self._hs)
        os.set_blocking(self.hm, False)
        self.cm, self.cs = os.openpty()     # the child's console
        os.set_blocking(self.cm, False)
        self._console = open(self.rundir / "console.log", "ab")
        return self.path

    def _child_tty_mode(self):
        tty.setraw(self.cs, termios.TCSANOW)    # TCSAFLUSH would drop what the host sent
        attrs = termios.tcgetattr(self.cs)
        attrs[3] = STARTING_LFLAG
        termios.tcsetattr(self.cs, termios.TCSANOW, attrs)

    # -- boots --

    def _spawn(self, cause, raw, why="", skip_main=False):
        self.boots += 1
        # a Ctrl-C held for the previous start-up was meant for that run, not for this one
        self._interrupt = False
        (self.rundir / "state.log").write_text("")     # read by _child_exited; one boot's worth
        argv, env = self.board.write_conf(self.boots, cause, repl=True, raw_repl=raw,
                                          state_file=str(self.rundir / "state.log"),
                                          tty_lflag=RUNNING_LFLAG, skip_main=skip_main,
                                          unwired_uarts="open")
        self._child_tty_mode()
        self.proc = subprocess.Popen(argv, stdin=self.cs, stdout=self.cs, stderr=self.cs,
                                     cwd=str(self.rundir), env=env, start_new_session=True)
        self._pidfd = os.pidfd_open(self.proc.pid)
        self._paste = None
        self._raw = raw
        self._tail = b""
        self._sigint_at = 0.0
        if raw:
            os.write(self.cm, b"\x01")     # back into the raw REPL once it starts
        self.log("boot %d: %s%s%s" % (self.boots, RESET_NAMES.get(cause, cause),
                                      ", raw REPL" if raw else "", why))

    def _last_state(self):
        try:
            lines = (self.rundir / "state.log").read_text().splitlines()
        except OSError:
            return None
        for line in reversed(lines):
            if line.startswith("@@STATE "):
                return json.loads(line[8:])
        return None

    def _child_exited(self):
        self._from_device(self._drain_child())
        code = self.proc.wait()
        os.close(self._pidfd)
        self.board.load_state(code, self._last_state())
        why = " (the last one ended with %d)" % code if code else ""
        if code == -signal.SIGINT:
            # Our SIGINT met the unix port between its interrupt handler and its prompt (it
            # briefly leaves its raw tty mode around every line it reads): a board would have
            # ignored that Ctrl-C at the prompt, so come back to the prompt, without main.py.
            self._spawn(SOFT_RESET, self._raw, " (Ctrl-C at a prompt)", skip_main=True)
        elif code in SOFT_EXITS:
            self._to_host(SOFT_REBOOT)
            self._spawn(SOFT_RESET, self._raw, why)
        else:
            cause = EXIT_RESETS.get(code, HARD_RESET)
            self._to_host(b"\r\nvdev: %s (exit %d)\r\n" % (RESET_NAMES[cause].encode(), code))
            self._spawn(cause, False, why)

    def _drain_child(self):
        data = b""
        while True:
            try:
                chunk = os.read(self.cm, 4096)
            except OSError:
                return data
            if not chunk:
                return data
            data += chunk

    # -- the byte streams --

    def _state(self):
        """'running' (Ctrl-C must interrupt), 'starting' (not yet), or 'prompt' (a plain byte)."""
        if self.proc.poll() is not None:
            return "starting"                   # it ended; the next boot is on its way
        if self._paste == "running":
            return "running"
        lflag = termios.tcgetattr(self.cs)[3]
        if lflag == STARTING_LFLAG:
            return "starting"
        # The REPL also leaves its raw mode for a moment around each line it reads, without an
        # interrupt handler: the last thing it wrote being a prompt says it is there.
        if not lflag or self._tail.endswith(PROMPTS):
            return "prompt"
        return "running"

    def _sigint(self):
        now = time.monotonic()
        if now - self._sigint_at >= SIGINT_SPACING_S:
            self._sigint_at = now
            self.proc.send_signal(signal.SIGINT)

    def _deliver_interrupt(self):
        """A Ctrl-C that came during start-up goes to the firmware once it runs."""
        state = self._state()
        if state == "running":
            self._sigint()
        if state != "starting":
            self._interrupt = False

    def _from_host(self, data):
        self._host_tail = (self._host_tail + data)[-3:]
        if self._host_tail.endswith(b"\x05A\x01") or b"\x05A\x01" in data:
            self._paste = "asked"
        while CTRL_C in data:
            i = data.index(CTRL_C)
            self._to_child(data[:i])
            data = data[i + 1:]
            state = self._state()
            if state == "running":
                self._sigint()
            elif state == "starting":
                self._interrupt = True
            else:
                self._to_child(b"\x03")
        self._to_child(data)

    def _to_child(self, data):
        # kept here while the child's input queue is full, so the bridge never blocks on it
        self._in += data
        self._flush_child()

    def _flush_child(self):
        while self._in:
            try:
                n = os.write(self.cm, self._in)
            except BlockingIOError:
                return
            del self._in[:n]

    def _from_device(self, data):
        if not data:
            return
        self._console.write(data)
        self._console.flush()
        if self._console.tell() > CONSOLE_MAX:
            self._console.close()
            os.replace(self.rundir / "console.log", self.rundir / "console.1.log")
            self._console = open(self.rundir / "console.log", "ab")
        if self.echo is not None:
            self.echo.write(data)
            self.echo.flush()
        self._tail = (self._tail + data)[-64:]
        # one chunk may hold several steps: the answer, the acknowledgement and the prompt
        if self._paste == "asked" and b"R" in data:
            self._paste = "input" if b"R\x01" in self._tail else None
        if self._paste == "input" and b"\x04" in data:
            self._paste = "running"             # the device has all the code and runs it
        if self._paste == "running" and self._tail.endswith(b"\x04>"):
            self._paste = None
        if RAW_BANNER in self._tail:
            self._raw = True
        if self._tail.endswith(b">>> "):
            self._raw = False
        self._to_host(data)

    def _to_host(self, data):
        self._out += data
        if len(self._out) > HOST_BACKLOG:
            del self._out[:len(self._out) - HOST_BACKLOG]
        self._flush_host()

    def _flush_host(self):
        while self._out:
            try:
                n = os.write(self.hm, self._out)
            except BlockingIOError:
                return
            del self._out[:n]

    # -- running --

    def serve(self):
        """Run until stop(): boot the device and bridge the two ptys."""
        if self.path is None:
            self.open()
        self._spawn(PWRON_RESET, False)
        try:
            while not self._stop:
                wl = ([self.hm] if self._out else []) + ([self.cm] if self._in else [])
                wait = 0.01 if self._interrupt else 0.5
                r, w, _ = select.select([self.hm, self.cm, self._pidfd], wl, [], wait)
                if self.cm in r:
                    try:
                        self._from_device(os.read(self.cm, 4096))
                    except OSError as e:
                        if e.errno != errno.EIO:
                            raise
                if self._pidfd in r:
                    self._child_exited()
                if self.hm in r:
                    self._from_host(os.read(self.hm, 4096))
                if self.hm in w:
                    self._flush_host()
                if self.cm in w:
                    self._flush_child()
                if self._interrupt:
                    self._deliver_interrupt()
        finally:
            self.close()

    def stop(self, *_):
        self._stop = True

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for fd in ("hm", "_hs", "cm", "cs"):
            if getattr(self, fd, None) is not None:
                os.close(getattr(self, fd))
                setattr(self, fd, None)
        if getattr(self, "_console", None):
            self._console.close()
