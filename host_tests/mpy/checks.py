# Assertions for the MicroPython tests (the unix port has no pytest): equality with both values
# in the message, and an expected exception.


def eq(a, b):
    assert a == b, "%r != %r" % (a, b)


def raises(exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return
    raise AssertionError("%s not raised" % exc.__name__)
