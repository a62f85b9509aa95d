# main.py: starts the terminal unless boot.py chose safe mode.
from meterlink.services import bootguard

_reason = bootguard.safe_mode_reason()
if _reason:
    print("meterlink: SAFE MODE (%s). The app was not started; the REPL is free."
          " machine.reset() tries again." % _reason)
else:
    from meterlink import app
    app.start()
