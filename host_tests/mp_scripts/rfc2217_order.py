# Host board script for test_rfc2217_uart: writes data interleaved with line changes and the
# DE pin, then reports what it received.
import machine
import time

u = machine.UART(2, baudrate=300, bits=7, parity=0, stop=1, timeout=0)
de = machine.Pin("RS485_DE", machine.Pin.OUT, value=0)
u.write(b"/?!\r\n")
de.on()
u.write(b"\xff\x01")
u.init(baudrate=9600)
u.write(b"AB")
u.flush()
de.off()
u.init(bits=8, parity=None)
u.write(b"\xff")
print("SENT")
got = b""
t0 = time.ticks_ms()
while len(got) < 6 and time.ticks_diff(time.ticks_ms(), t0) < 5000:
    r = u.read()
    if r:
        got += r
    else:
        time.sleep_ms(5)
print("RX", got.hex())
