# Host board script: the first boot sets the RTC and resets; later boots report it.
import machine
import time

if machine.reset_cause() == machine.PWRON_RESET and time.time() < 1000:
    machine.RTC().datetime((2026, 11, 23, 0, 12, 0, 0, 0))
    machine.RTC().memory(b"kept")
    print("SET", time.time())
    machine.reset()
print("BOOT", machine.reset_cause(), time.time(), machine.RTC().memory())
