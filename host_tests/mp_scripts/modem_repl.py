# Host board script: what a technician does at the REPL with the app stopped.
import time

from meterlink.drivers.modem import repl

repl.diagnose()          # still off
repl.power_on()
time.sleep(20)
repl.diagnose()
