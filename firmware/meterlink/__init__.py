"""meterlink: an ESP32 + SIMCom energy-meter communication terminal."""
VERSION = "0.1.0"
