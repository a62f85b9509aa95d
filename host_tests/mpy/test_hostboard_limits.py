# The host board has the ESP32's limits: no deflate compression, a bounded heap.
import io


def test_deflate_can_decompress_but_not_compress():
    import deflate
    d = deflate.DeflateIO(io.BytesIO(b"x\x9c\xcbH\xcd\xc9\xc9\x07\x00\x06,\x02\x15"), deflate.ZLIB)
    assert d.read() == b"hello"
    w = deflate.DeflateIO(io.BytesIO(), deflate.ZLIB)
    assert not hasattr(w, "write"), "this build compresses: firmware could rely on it"


def test_heap_is_limited():
    import gc
    gc.collect()
    total = gc.mem_free() + gc.mem_alloc()
    assert total < 8 * 1024 * 1024
    try:
        bytearray(total + 1024)
    except MemoryError:
        pass
    else:
        raise AssertionError("allocated more than the heap")
