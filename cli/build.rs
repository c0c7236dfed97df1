//! Links the `berth` binary as a position-dependent executable (`-no-pie`).
//!
//! Every container keeps one `berth shim` (a re-exec of this binary) alive for its whole life,
//! so the binary's idle footprint is paid once per container. As a PIE, the dynamic loader
//! writes ~60 000 relative relocations into `.data.rel.ro`/`.got` at every start: ~1 MiB of the
//! binary becomes private dirty memory in each shim, which nothing can give back. Linked at a
//! fixed address those pages hold their final values in the file, stay clean, and the shim
//! drops them once started (`trim_footprint`), faulting back only the few it touches. The code
//! is still compiled position-independent; only the link changes (the binary's own base
//! address is no longer randomised; shared libraries, heap and stacks still are).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
