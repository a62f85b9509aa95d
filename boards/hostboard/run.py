"""Host board start-up: what the ESP32's _boot.py does, then the firmware's boot.py and main.py.

Run by the launcher as `micropython -X heapsize=N run.py [script]`.  With a script, that
script runs instead of boot.py/main.py (tests drive firmware parts this way).  With
`micropython -i`, the REPL follows, as on a board.
"""
import sys

import hostconf

conf = hostconf.conf

import hostclock  # noqa: E402

hostclock.setup(conf)
hostclock.install()
hostclock.heap_probe = bool(conf.get("heap_probe"))

import machine  # noqa: E402  (the host board's machine.py, found first on the path)

machine._boot(conf)


def _quit():
    machine._exit(0)


hostclock.clock.on_quit = _quit

import os  # noqa: E402
import vfs  # noqa: E402

_flash = conf.get("flash")
if _flash:
    import flashdev
    _dev = flashdev.open_image(_flash)
    machine._flash_dev = _dev
    vfs.umount("/")
    flashdev.mount_root(_dev)
    for _mp, _path in conf.get("host_dirs", {}).items():
        vfs.mount(vfs.VfsPosix(_path), _mp)
    os.chdir("/")

if conf.get("sys_path") is not None:
    sys.path[:] = conf["sys_path"]

# files the launcher provisions (config.json, secrets.json...), written as a deploy would
for _name, _text in (conf.get("files") or {}).items():
    if "/" in _name:        # e.g. profiles/x.json: make its folder first
        try:
            os.mkdir(_name.rsplit("/", 1)[0])
        except OSError:
            pass
    with open(_name + ".tmp", "w") as _f:
        _f.write(_text)
    os.rename(_name + ".tmp", _name)


if hostclock.heap_probe:
    # what the host board itself holds (its machine module stands in for C code on the ESP32)
    import gc
    gc.collect()
    hostclock.heap_base = gc.mem_alloc()


def _tty_ready():
    # `meterlink vdev` sends SIGINT for a Ctrl-C only once the tty says the firmware runs:
    # earlier, before the flash is mounted, it would stop the start-up itself
    import termios
    attrs = termios.tcgetattr(0)
    attrs[3] = conf["tty_lflag"]
    termios.tcsetattr(0, termios.TCSANOW, attrs)


if conf.get("tty_lflag") is not None:
    _tty_ready()


def _run_file(path):
    with open(path) as f:
        src = f.read()
    exec(src, {"__name__": "__main__", "__file__": path})


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def main():
    script = conf.get("script")
    if conf.get("repl"):
        sys.atexit(machine._save_state)     # the REPL may end the process later
    try:
        if script:
            _run_file(script)
        else:
            app_dir = conf.get("app_dir", "")
            for name in ("boot.py", "main.py"):
                path = app_dir + "/" + name if app_dir else name
                if conf.get("board_start") and not _exists(path):
                    continue    # an ESP32 just skips what is not on its flash
                if name == "main.py" and (conf.get("raw_repl") or conf.get("skip_main")):
                    continue    # like the ESP32: no main.py after a soft reset in the raw REPL
                _run_file(path)
    finally:
        machine._save_state()
        if hostconf.pin_log:
            hostconf.pin_log.flush()


main()
