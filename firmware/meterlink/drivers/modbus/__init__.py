"""The Modbus RTU master: frames (adu), errors, and the transaction layer on a UartPort (rtu)."""
