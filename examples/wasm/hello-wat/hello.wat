;; The smallest WASI preview 1 command: prints "hello" and returns (exit 0).
;; bench/wasm.sh assembles the same module byte by byte (examples/wasm/hello-wat/build.py),
;; so neither the benchmark nor the tests need a wasm toolchain.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
