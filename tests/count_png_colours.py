#!/usr/bin/env python3
"""Counts the pixels of a PNG screenshot in the frame map's colours for anonymous memory and
free frames (report_template.html), and fails unless a frame map is plainly there.
Decodes 8-bit RGB and RGBA PNGs with the standard library alone.
Usage: count_png_colours.py SCREENSHOT.png"""
import struct
import sys
import zlib

def pixels(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    at, idat, header = 8, b"", None
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        chunk = data[at + 8:at + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        at += 12 + length
    width, height, depth, colour = header[:4]
    assert depth == 8 and colour in (2, 6), f"depth {depth}, colour type {colour}"
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    at = 0
    for _ in range(height):
        kind, line = raw[at], bytearray(raw[at + 1:at + 1 + stride])
        at += 1 + stride
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        yield from (bytes(line[i:i + 3]) for i in range(0, stride, channels))
        previous = line

wanted = {bytes.fromhex("0072b2"): "anon_active", bytes.fromhex("56b4e9"): "anon_inactive",
          bytes.fromhex("e2e2e2"): "free"}
counts = dict.fromkeys(wanted.values(), 0)
for pixel in pixels(sys.argv[1]):
    if pixel in wanted:
        counts[wanted[pixel]] += 1
print("screenshot pixels:", ", ".join(f"{name} {count}" for name, count in counts.items()))
sys.exit(0 if counts["anon_active"] + counts["anon_inactive"] > 2000 else 1)
