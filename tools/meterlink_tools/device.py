"""One connection to a board (or `meterlink vdev`) through mpremote's serial transport, with
the few file operations the tools need: hashes in one round trip, atomic writes, and a restart
of the app when they are done."""
import ast
import time

from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

WRITE_CHUNK = 512
PROFILES_DIR = "/lib/meterlink/profiles"

HASH_CODE = """
import hashlib, binascii
def _h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    d = hashlib.sha256()
    b = bytearray(512)
    while True:
        n = f.readinto(b)
        if not n:
            break
        d.update(memoryview(b)[:n])
    f.close()
    return binascii.hexlify(d.digest()).decode()
print(repr([_h(p) for p in %r]))
"""

WALK_CODE = """
import os
def _w(d, out):
    try:
        es = list(os.ilistdir(d))
    except OSError:
        return
    for e in es:
        p = d + '/' + e[0]
        if e[1] & 0x4000:
            _w(p, out)
        else:
            out.append(p)
_o = []
_w(%r, _o)
print(repr(_o))
"""

RENAME_CODE = """
import os
try:
    os.rename(%(tmp)r, %(dst)r)
except OSError:
    os.remove(%(dst)r)    # FAT cannot rename over a file; LittleFS can, atomically
    os.rename(%(tmp)r, %(dst)r)
"""


class DeviceError(Exception):
    pass


class Device:
    """A board at `port` (a serial device, a pty, or a pyserial URL such as rfc2217://...).

    Connecting stops the app (Ctrl-C) and, with `soft_reset`, restarts the Python heap without
    it, as mpremote does; `close(restart=True)` starts the app again.
    """

    def __init__(self, port, soft_reset=True):
        self.port = port
        try:
            self.t = SerialTransport(port, baudrate=115200)
        except TransportError as e:
            raise DeviceError("cannot open %s: %s" % (port, e)) from None
        try:
            self.t.enter_raw_repl(soft_reset=soft_reset)
        except TransportError as e:
            self.t.close()
            raise DeviceError("no MicroPython REPL on %s (%s)" % (port, e)) from None

    def exec(self, code):
        """Run code on the device; its printed output (bytes).  DeviceError with the traceback."""
        try:
            return self.t.exec(code)
        except TransportExecError as e:
            raise DeviceError(e.error_output.strip()) from None

    def eval(self, code):
        """The Python literal that `code` prints as its last line."""
        out = self.exec(code).decode().strip().splitlines()
        return ast.literal_eval(out[-1])

    def read(self, path):
        """A file's bytes, or None if it does not exist."""
        try:
            return bytes(self.t.fs_readfile(path))
        except FileNotFoundError:
            return None
        except (OSError, TransportExecError) as e:
            raise DeviceError("cannot read %s: %s" % (path, e)) from None

    def write_atomic(self, path, data, progress=None):
        """Write to a temporary name, then rename over `path`: a cut link leaves the old file."""
        tmp = path + ".tmp"
        try:
            self.t.fs_writefile(tmp, data, chunk_size=WRITE_CHUNK, progress_callback=progress)
        except (OSError, TransportExecError) as e:
            raise DeviceError("cannot write %s: %s" % (tmp, e)) from None
        self.exec(RENAME_CODE % {"tmp": tmp, "dst": path})

    def hashes(self, paths):
        """{path: sha256 hex or None} for the files, in one round trip."""
        paths = list(paths)
        if not paths:
            return {}
        return dict(zip(paths, self.eval(HASH_CODE % (paths,))))

    def files(self, top):
        """Every file below the directory `top` (empty if it does not exist)."""
        return self.eval(WALK_CODE % (top,))

    def makedirs(self, path):
        self.exec("import os\np = ''\nfor part in %r.strip('/').split('/'):\n"
                  "    p += '/' + part\n    try:\n        os.mkdir(p)\n    except OSError:\n"
                  "        pass\n" % (path,))

    def remove(self, path):
        self.exec("import os\nos.remove(%r)" % (path,))

    def profiles(self):
        """Names of the Modbus profiles installed on the device, or None if it has none there."""
        names = self.eval("import os\ntry:\n    print(repr(os.listdir(%r)))\nexcept OSError:\n"
                          "    print('None')" % PROFILES_DIR)
        if names is None:
            return None
        return sorted({n.split(".", 1)[0] for n in names if n[:1] not in ("_", ".")})

    def restart_app(self, timeout=10):
        """Leave the raw REPL and soft-reset from the normal one, which runs boot.py and main.py
        (a soft reset in the raw REPL skips main.py)."""
        self.t.exit_raw_repl()
        self.t.read_until(1, b">>> ", timeout=timeout)
        self.t.serial.write(b"\x04")
        data = self.t.read_until(1, b"soft reboot\r\n", timeout=timeout)
        if not data.endswith(b"soft reboot\r\n"):
            raise DeviceError("the device did not restart (got %r)" % data[-200:])

    def watch(self, seconds, out):
        """Copy the console to `out` (a binary stream) for a while."""
        end = time.monotonic() + seconds
        s = self.t.serial
        while time.monotonic() < end:
            s.timeout = max(0.0, min(0.1, end - time.monotonic()))
            data = s.read(4096)
            if data:
                out.write(data)
                out.flush()

    def close(self, restart=True):
        try:
            if restart:
                self.restart_app()
            elif self.t.in_raw_repl:
                self.t.exit_raw_repl()
        finally:
            self.t.close()
