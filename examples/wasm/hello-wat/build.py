#!/usr/bin/env python3
"""Writes hello.wasm: hello.wat assembled by hand (no toolchain needed). Usage: build.py OUT"""
import sys


def leb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def name(s):
    return leb(len(s)) + s.encode()


def section(sid, body):
    return bytes([sid]) + leb(len(body)) + body


types = b"\x02" + b"\x60\x04\x7f\x7f\x7f\x7f\x01\x7f" + b"\x60\x00\x00"
imports = b"\x01" + name("wasi_snapshot_preview1") + name("fd_write") + b"\x00\x00"
funcs = b"\x01\x01"
memory = b"\x01\x00\x01"
exports = b"\x02" + name("memory") + b"\x02\x00" + name("_start") + b"\x00\x01"
code = (
    b"\x00"  # no locals
    + b"\x41\x00\x41\x10\x36\x02\x00"  # i32.store [0] = 16
    + b"\x41\x04\x41\x06\x36\x02\x00"  # i32.store [4] = 6
    + b"\x41\x01\x41\x00\x41\x01\x41\x08\x10\x00\x1a"  # drop(fd_write(1, 0, 1, 8))
    + b"\x0b"
)
codesec = b"\x01" + leb(len(code)) + code
data = b"\x01\x00\x41\x10\x0b" + name("hello\n")
wasm = (
    b"\x00asm\x01\x00\x00\x00"
    + section(1, types)
    + section(2, imports)
    + section(3, funcs)
    + section(5, memory)
    + section(7, exports)
    + section(10, codesec)
    + section(11, data)
)
open(sys.argv[1] if len(sys.argv) > 1 else "hello.wasm", "wb").write(wasm)
