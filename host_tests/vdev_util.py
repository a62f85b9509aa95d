"""Helpers for tests that drive `meterlink vdev` with the real mpremote CLI and the tools."""
import os
import select
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
MPREMOTE = str(BIN / "mpremote")
TIMEOUT_S = 40


class Vdev:
    """`meterlink vdev` in a subprocess; `port` is its pty."""

    def __init__(self, rundir, *extra):
        self.rundir = Path(rundir)
        self.rundir.mkdir(parents=True, exist_ok=True)
        self._err = open(self.rundir / "vdev.err", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "meterlink_tools.cli", "vdev", "--dir", str(self.rundir), *extra],
            stdout=subprocess.PIPE, stderr=self._err, text=True)
        self.port = self.proc.stdout.readline().strip()
        assert self.port.startswith("/dev/"), "vdev did not start: %s" % self.messages()

    @property
    def console(self):
        return self.rundir / "console.log"

    def mark(self):
        """A position in the console transcript; wait_console looks only after it."""
        return self.console.stat().st_size if self.console.exists() else 0

    def wait_console(self, text, mark=0, timeout=20):
        """The transcript after `mark` once it contains `text` (AssertionError at the deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            data = self.console.read_bytes()[mark:].decode(errors="replace") if self.console.exists() else ""
            if text in data:
                return data
            assert time.monotonic() < deadline, "no %r on the console within %d s:\n%s" % (
                text, timeout, data[-3000:])
            time.sleep(0.02)

    def wait_message(self, text, timeout=20):
        """Wait for a line of the vdev's own messages (boots and resets)."""
        deadline = time.monotonic() + timeout
        while text not in self.messages():
            assert time.monotonic() < deadline, "no %r from the vdev:\n%s" % (text, self.messages())
            time.sleep(0.02)

    def messages(self):
        self._err.flush()
        return (self.rundir / "vdev.err").read_text()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._err.close()


def mpremote(port, *args, check=True):
    """Run the real mpremote CLI on the port; (returncode, stdout+stderr)."""
    try:
        p = subprocess.run([MPREMOTE, "connect", port, *args], capture_output=True, text=True,
                           timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("mpremote %s hung; it printed:\n%s" % (" ".join(args), e.output)) from None
    out = p.stdout + p.stderr
    if check:
        assert p.returncode == 0, "mpremote %s failed (%d):\n%s" % (" ".join(args), p.returncode, out)
    return p.returncode, out


def meterlink(*args, input=None):
    """Run the meterlink CLI; (returncode, stdout, stderr)."""
    try:
        p = subprocess.run([sys.executable, "-m", "meterlink_tools.cli", *args], capture_output=True,
                           text=True, timeout=TIMEOUT_S, input=input if input is not None else "")
    except subprocess.TimeoutExpired as e:
        raise AssertionError("meterlink %s hung; it printed:\n%s" % (" ".join(args), e.output)) from None
    return p.returncode, p.stdout, p.stderr


def spy_tx(path):
    """The bytes sent to the device, from a pyserial spy:// hex dump (48 columns of hex)."""
    import re
    out = bytearray()
    for line in Path(path).read_text().splitlines():
        m = re.match(r"\S+ TX   [0-9A-F]{4}  (.{48})", line)
        if m:
            out += bytes.fromhex(m.group(1).replace(" ", ""))
    return bytes(out)


class Terminal:
    """A command on a pty of its own, as a technician's terminal runs it."""

    def __init__(self, argv):
        import pty
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(argv[0], argv)
        self.seen = b""

    def send(self, data):
        os.write(self.fd, data)

    def wait_raw(self, timeout=20):
        """Wait until the program has put its terminal in raw mode (keys reach it unchanged)."""
        import termios
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.fd)[3] & termios.ISIG:
            assert time.monotonic() < deadline, "the terminal never went raw"
            time.sleep(0.01)

    def expect(self, text, timeout=20):
        want = text.encode()
        deadline = time.monotonic() + timeout
        while want not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, "no %r on the terminal; got:\n%r" % (text, self.seen[-2000:])
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                assert chunk, "the terminal closed before %r; got:\n%r" % (text, self.seen[-2000:])
                self.seen += chunk
        i = self.seen.index(want) + len(want)
        before, self.seen = self.seen[:i], self.seen[i:]
        return before.decode(errors="replace")

    def wait(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            try:
                r, _, _ = select.select([self.fd], [], [], 0.05)
                if r:
                    self.seen += os.read(self.fd, 4096)
            except OSError:
                pass
        raise AssertionError("the terminal's command did not end")
