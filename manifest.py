# Freezes the meterlink firmware library into a custom MicroPython build for the ESP32, so it
# runs from flash and leaves the heap to the data (see docs/tools.md, "Freezing"):
#
#   cd micropython/ports/esp32
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/meterlink/manifest.py
#
# Paths are relative to this file.  boot.py, main.py, the board file and config.json stay on
# the filesystem: `meterlink deploy --port PORT --board BOARD` copies them and, seeing the
# library frozen in, only the library's data files (Modbus profiles), which are not frozen.
include("$(PORT_DIR)/boards/manifest.py")     # the ESP32 port's own: asyncio, mip, ...
package("meterlink", base_path="firmware")
package("umodbus", base_path="build/mplib")   # fetched by `make setup` (tools/fetch_mplib.py)
