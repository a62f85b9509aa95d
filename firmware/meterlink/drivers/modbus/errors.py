"""What can go wrong in a Modbus transaction: one class with a `kind`, and the device's refusals."""
# kind names the per-device counter: "timeout" (no answer), "crc" (an answer from the right
# device with a bad CRC), "address" (a sound frame from another unit), "frame" (bytes that are
# no answer: noise, a collision, wrong line settings, an incomplete answer), "length" (a sound
# answer with another byte count than asked for), "exception" (ExceptionResponse), "error".
# One class rather than one per kind: each class costs heap on the device.


class ModbusError(Exception):
    def __init__(self, kind, msg):
        super().__init__(msg)
        self.kind = kind


# exception codes (Modbus application protocol v1.1b3, section 7)
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


# worth asking again after a pause: the device is busy (05 acknowledge: still working on a
# long command; 06 busy) or a gateway's device did not answer it (0B)
RETRY_CODES = (5, 6, 11)
# a gateway that cannot reach the device (0A, 0B): the device is as good as silent
GATEWAY_CODES = (10, 11)


class ExceptionResponse(ModbusError):
    """The device refused the request with an exception code; `name` says which."""

    def __init__(self, unit, fc, code):
        self.unit = unit
        self.fc = fc
        self.code = code
        self.name = EXCEPTION_NAMES.get(code, "unknown exception")
        super().__init__("exception", "unit %d: function %d refused: exception %d (%s)"
                         % (unit, fc, code, self.name))

