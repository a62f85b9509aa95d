"""The application: builds the services from the board and the configuration, runs asyncio.

One `main()`, long-lived tasks: each task reports to the watchdog and is restarted with a
growing delay if it fails; a task that keeps failing stops reporting and the watchdog resets
the terminal.  The capabilities (meter poller, Modbus poller, modem supervisor, uplink,
config push) register their tasks with `App.add_task`.
"""
import asyncio
import gc
import sys

from meterlink import VERSION
from meterlink.proto import config as configmod
from meterlink.services import bootguard, log
from meterlink.services.clock import Clock
from meterlink.services.leds import Leds
from meterlink.services.readings import ReadingSink
from meterlink.services.watchdog import Watchdog

CONFIG_FILE = "config.json"
RESTART_DELAYS_MS = (1000, 5000, 30000, 120000)

# The capabilities: each module has setup(app), which registers its tasks.  Listed in the
# order they start.  A module missing from this build (an older deploy) is skipped with a log.
# The uplink comes first: its request buffer (which also takes the answers, pushed
# configurations included) is the largest block the app keeps, and it is only there for sure
# before the other capabilities' imports have cut the heap into pieces.
CAPABILITIES = (
    "meterlink.services.uplink",
    "meterlink.services.meters",
    "meterlink.services.modem",
    "meterlink.services.modbus",
    "meterlink.services.configpush",
)


class App:
    def __init__(self, hw, cfg):
        self.hw = hw
        self.cfg = cfg
        self.clock = Clock(hw.rtc())
        log.set_stamp(self.clock.stamp)
        self.leds = Leds(hw)
        self.watchdog = Watchdog(hw, cfg.get("watchdog", {}))
        self.readings = ReadingSink()
        self.tasks = []          # (name, coroutine function, max silence in s)
        self.failures = {}       # task name -> failures so far
        self.reconfigurers = []  # ((top-level sections), fn(cfg) -> False if it needs a restart)
        self.status_sources = [] # fn() -> [(status item id, value)] for the next upload
        self.running = False
        self.stopping = False

    def add_task(self, name, fn, max_silence_s):
        """Run `fn()` as a task; it must call `app.alive(name)` at least every max_silence_s.
        A task added while the app runs (a new configuration needs it) starts at once."""
        self.tasks.append((name, fn, max_silence_s))
        if self.running:
            self._start(name, fn, max_silence_s)

    def _start(self, name, fn, silence):
        self.watchdog.watch(name, silence)
        asyncio.create_task(self._supervise(name, fn))

    def on_reconfigure(self, sections, fn):
        """`fn(cfg)` applies a new configuration's `sections` (top-level names) live; it returns
        False when it cannot, and the app restarts to apply it."""
        self.reconfigurers.append((sections, fn))

    def apply_config(self, cfg):
        """Run a new, checked configuration that is already on flash: live where every changed
        section has a capability that applies it, else a soft restart.  True if it was live."""
        old = self.cfg
        changed = [k for k in cfg if cfg[k] != old.get(k)] + [k for k in old if k not in cfg]
        claimed = []
        for sections, _ in self.reconfigurers:
            claimed += sections
        fixed = [k for k in changed if k not in claimed]
        if fixed:
            self.restart("the configuration changed %s" % ", ".join(sorted(fixed)))
            return False
        self.cfg = cfg
        for sections, fn in self.reconfigurers:
            for k in sections:
                if k in changed:
                    if fn(cfg) is False:
                        self.restart("the configuration changed %s" % ", ".join(sections))
                        return False
                    break
        log.info("config", "version %s runs (%s changed, applied live)"
                 % (cfg["version"], ", ".join(sorted(changed)) or "nothing"), flash=True)
        return True

    def restart(self, why):
        """A clean soft restart: what the spool holds in RAM goes to flash first."""
        log.warn("app", "restarting: %s" % why)
        spool = getattr(self, "spool", None)
        if spool is not None and spool.enc.nsets:
            spool.seal()
        bootguard.confirm()        # a deliberate restart is no crash
        self.watchdog.park()
        self.hw.soft_reset()

    def alive(self, name):
        self.watchdog.alive(name)

    def setup_capabilities(self, names=CAPABILITIES):
        for name in names:
            try:
                mod = __import__(name, None, None, ["setup"])
            except ImportError as e:
                log.error("app", "capability %s missing: %r" % (name, e))
                continue
            mod.setup(self)

    async def _supervise(self, name, fn):
        while True:
            try:
                await fn()
                log.warn("app", "task %s ended" % name)
                return
            except Exception as e:   # noqa: BLE001  a task's failure is counted, not fatal
                n = self.failures.get(name, 0) + 1
                self.failures[name] = n
                log.error("app", "task %s failed (%d): %r" % (name, n, e))
                sys.print_exception(e)
                delay = RESTART_DELAYS_MS[min(n, len(RESTART_DELAYS_MS)) - 1]
                if n > len(RESTART_DELAYS_MS):
                    self.watchdog.unwatch(name)
                    self.watchdog.watch(name, 0)   # stop feeding: let the watchdog reset us
                    return
                await asyncio.sleep_ms(delay)

    async def main(self):
        self.leds.set("power", True)
        log.info("app", "meterlink %s on board %s, reset cause: %s, device %s, config version %s"
                 % (VERSION, self.hw.name, self.hw.reset_cause_name(), self.hw.unique_id(),
                    self.cfg["version"]), flash=True)
        self.running = True
        for name, fn, silence in self.tasks:
            self._start(name, fn, silence)
        gc.collect()
        await self.watchdog.run()


def build(hw=None):
    """The app for this board and the configuration on flash."""
    if hw is None:
        import board
        hw = board.build()
    cfg, err = configmod.load(CONFIG_FILE)
    app = App(hw, cfg)
    if err:
        log.error("config", err + "; running on the built-in defaults")
    app.setup_capabilities()
    return app


def start():
    try:
        app = build()
    except Exception as e:   # noqa: BLE001  cannot even start: count a crashed boot and reset
        log.error("app", "start failed: %r" % e)
        sys.print_exception(e)
        import board
        board.build().reset()
        return
    try:
        asyncio.run(app.main())
    except KeyboardInterrupt:
        app.watchdog.park()
        bootguard.confirm()
        app.leds.set("power", False)
        print("meterlink: stopped (Ctrl-C); the REPL is yours. machine.reset() restarts the terminal.")
    except Exception as e:   # noqa: BLE001  an escaped error is a crash: count it and reset
        log.error("app", "crashed: %r" % e)
        sys.print_exception(e)
        app.hw.reset()
