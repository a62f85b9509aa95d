# boot.py: runs on every reset, before main.py.  It only decides whether the app may start
# (safe mode); keep it small, so that a mistake in the app can never lock out the REPL.
try:
    import board
    from meterlink.services import bootguard
    from meterlink.proto.config import load
    _cfg, _err = load("config.json")    # a refused config.json is put aside here, once
    if _err:
        from meterlink.services import log
        log.error("config", _err)
    bootguard.on_boot(board.build(), _cfg["safe_mode"]["crash_boots"])
    del _cfg, _err
except Exception as e:   # noqa: BLE001  never let boot.py fail: the REPL must stay reachable
    print("boot.py:", repr(e))
