"""What can go wrong in a Modbus transaction; `kind` names the per-device error counter."""


class ModbusError(Exception):
    kind = "error"


class NoAnswer(ModbusError):
    """Nothing came back before the response timeout."""
    kind = "timeout"


class CrcError(ModbusError):
    """An answer from the right device and function, with a wrong CRC."""
    kind = "crc"


class WrongAddress(ModbusError):
    """A sound frame from another unit answered (two devices share an address?)."""
    kind = "address"


class BadFrame(ModbusError):
    """Bytes came back but no frame could be made of them (noise, a collision, wrong line settings)."""
    kind = "frame"


# exception codes (Modbus application protocol v1.1b3 section 7)
EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


class ExceptionResponse(ModbusError):
    """The device refused the request with an exception code; `name` says which."""
    kind = "exception"

    def __init__(self, unit, fc, code):
        self.unit = unit
        self.fc = fc
        self.code = code
        self.name = EXCEPTION_NAMES.get(code, "unknown exception")
        super().__init__("unit %d: function %d refused: exception %d (%s)" % (unit, fc, code, self.name))
