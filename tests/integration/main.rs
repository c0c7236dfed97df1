//! berth's integration, privileged and end-to-end tests, as one test binary.
//!
//! One binary instead of one per file (`autotests = false` in tests/Cargo.toml, as wasmtime
//! and ripgrep do): the engine, its runtimes and wasmtime are linked once, not 22 times. Each
//! module is one former test file, so a filter on its name selects it:
//! `cargo test -p berth-tests --test integration network::`. Tests that need root are
//! `#[ignore = "needs root"]`: a non-root run lists them as ignored, and tests/run.sh adds
//! `--include-ignored` when it runs as root (docs/testing.md).

mod archives;
mod attach;
mod breakout_paths;
mod breakout_runtime;
mod breakout_sandbox;
mod breakout_state;
mod build;
mod build_debian;
mod build_docker;
mod cli_errors;
mod compose_config;
mod compose_up;
mod containers;
mod docker_diff;
mod e2e_run;
mod functions_native;
mod functions_wasm;
mod health;
mod images;
mod lifecycle;
mod log_rotation;
mod network;
mod pull_push;
mod recover;
mod registry_faults;
mod registry_server;
mod restart_network;
mod run_cgroups;
mod run_flags;
mod run_security;
mod runtime;
mod templates;
mod unpack;
mod wasm;
mod wasm_package;
