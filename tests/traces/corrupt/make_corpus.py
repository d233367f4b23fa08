#!/usr/bin/env python3
"""Writes the damaged trace files of this directory from valid.trace.

valid.trace is a real recording (`vmbsim run hello --set
workloads.0.requests=2 --record valid.trace`); every other file is it with
one kind of damage, made here so that each can be made again and read as a
recipe. expected.tsv says what `vmbsim trace` must answer for each.
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_varint(data, at):
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def layout(data):
    """Offsets of the parts of a trace: version, header, events, footer."""
    at = 8
    version_at = at
    _, at = read_varint(data, at)
    header_len_at = at
    header_len, at = read_varint(data, at)
    header_at = at
    at += header_len
    events = []
    while True:
        length_at = at
        length, at = read_varint(data, at)
        if length == 0:
            break
        events.append((length_at, at, length))
        at += length
    end_marker_at = length_at
    footer_len, footer_at = read_varint(data, at)
    return dict(version_at=version_at, header_len_at=header_len_at, header_at=header_at,
                header_len=header_len, events=events, end_marker_at=end_marker_at,
                footer_len_at=at, footer_at=footer_at, footer_len=footer_len)


def footer_fields(footer):
    """The footer's fields as (number, wire type, raw value bytes)."""
    fields, at = [], 0
    while at < len(footer):
        tag, at = read_varint(footer, at)
        number, wire = tag >> 3, tag & 7
        start = at
        if wire == 0:
            _, at = read_varint(footer, at)
        elif wire == 1:
            at += 8
        elif wire == 2:
            n, at = read_varint(footer, at)
            at += n
        fields.append((number, wire, footer[start:at]))
    return fields


def with_footer(data, lay, fields):
    body = b"".join(varint(n << 3 | w) + raw for n, w, raw in fields)
    return data[:lay["footer_len_at"]] + varint(len(body)) + body


def main():
    data = open(os.path.join(HERE, "valid.trace"), "rb").read()
    lay = layout(data)
    first_len_at, first_at, first_len = lay["events"][0]
    mid_len_at, mid_at, mid_len = lay["events"][len(lay["events"]) // 2]
    footer = data[lay["footer_at"]:lay["footer_at"] + lay["footer_len"]]
    fields = footer_fields(footer)

    def replace_field(number, raw):
        return [(n, w, raw if n == number else r) for n, w, r in fields]

    files = {
        "empty.trace": b"",
        "garbage.trace": b"this is not a trace, just some text\n" * 4,
        "bad_magic.trace": b"VMBTRACX" + data[8:],
        "version_2.trace": data[:8] + varint(2) + data[lay["header_len_at"]:],
        "only_magic.trace": data[:8],
        "truncated_header.trace": data[:lay["header_at"] + lay["header_len"] // 2],
        "huge_header_length.trace": data[:lay["header_len_at"]] + varint(1 << 40) + data[lay["header_at"]:],
        "malformed_header.trace": data[:lay["header_at"]] + b"\xff" * lay["header_len"]
        + data[lay["header_at"] + lay["header_len"]:],
        "truncated_event.trace": data[:mid_at + mid_len // 2],
        "no_end_of_events.trace": data[:lay["end_marker_at"]],
        "event_too_long.trace": data[:mid_len_at] + bytes([120]) + data[mid_at:],
        "bad_field_tag.trace": data[:first_at] + b"\x0a" + data[first_at + 1:],
        "no_footer.trace": data[:lay["end_marker_at"] + 1],
        "wrong_fingerprint.trace": with_footer(data, lay, replace_field(2, b"\x00" * 8)),
        "wrong_event_count.trace": with_footer(data, lay, replace_field(1, varint(9999))),
        "trailing_bytes.trace": data + b"\x00\x01",
        "bit_flip_in_event.trace": data[:mid_at + mid_len - 1] + bytes([data[mid_at + mid_len - 1] ^ 0x80])
        + data[mid_at + mid_len:],
        "version_0.trace": data[:8] + varint(0) + data[lay["header_len_at"]:],
        "zero_header_length.trace": data[:lay["header_len_at"]] + varint(0) + data[lay["header_at"]:],
        "huge_event_length.trace": data[:mid_len_at] + varint(1 << 40) + data[mid_at:],
        "events_end_early.trace": data[:first_len_at] + varint(0) + data[lay["footer_len_at"]:],
    }
    # kind_too_big: the first event re-encoded with a 17-bit kind.
    event = bytearray(data[first_at:first_at + first_len])
    at = 0
    out = bytearray()
    while at < len(event):
        tag = event[at]
        at += 1
        value, next_at = read_varint(bytes(event), at)
        if tag >> 3 == 2:
            out += bytes([tag]) + varint(0x10000)
        else:
            out += bytes([tag]) + event[at:next_at]
        at = next_at
    files["kind_too_big.trace"] = data[:first_len_at] + varint(len(out)) + bytes(out) + data[first_at + first_len:]
    for name, content in files.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(content)


if __name__ == "__main__":
    main()
