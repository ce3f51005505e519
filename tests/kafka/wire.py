"""Envelope bytes built by hand, for the tests that must send what the CLI
refuses to write (invalid UTF-8, a NUL byte, an event time far off): the CLI
validates JSON lines exactly as the daemon does."""

T0 = 1767571200000
ENVELOPE_HEADERS = {"content-type": "application/x-protobuf",
                    "message-type": "greenlight.v1.Envelope"}


def _varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _bytes_field(num, data):
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def _int_field(num, value):
    return _varint(num << 3) + _varint(value)


def placed_envelope(event_id, t, order_id, buyer_name):
    """An Envelope holding an OrderPlaced; order_id and buyer_name are bytes."""
    placed = (_bytes_field(1, order_id) + _bytes_field(2, b"B-H") + _bytes_field(3, buyer_name) +
              _bytes_field(4, b"NVIDIA H200") + _int_field(5, 1000) +
              _int_field(6, 2) + _int_field(7, 500))  # 6: END_USE_AI_RESEARCH
    return (_bytes_field(1, event_id.encode()) + _int_field(2, t) +
            _bytes_field(3, b"erp.hostile") + _bytes_field(10, placed))


def tick_envelope(event_id, t):
    """An Envelope holding a Tick (field 16, empty)."""
    return _bytes_field(1, event_id.encode()) + _int_field(2, t) + _bytes_field(16, b"")


def raw_line(topic, key, value, timestamp_ms, partition=None):
    """A raw JSON line for `greenlight produce`: value bytes as hex."""
    line = {"topic": topic, "key": key, "value_hex": value.hex(), "timestamp_ms": timestamp_ms,
            "headers": ENVELOPE_HEADERS}
    if partition is not None:
        line["partition"] = partition
    return line
