//! Build script: keeps the embedded web editor (`client-web/dist`, see src/web_assets.rs) in
//! step with the binary.
//!
//! rust-embed embeds the files of release builds through `include_bytes!`, so cargo notices
//! when an embedded file changes, but not when a build adds or removes files (Vite's hashed
//! names change on every content change). Watching the folder makes cargo rebuild then. The
//! folder is created empty when missing: cargo would otherwise treat the watched path as always
//! stale and rebuild the server on every build. It stays empty until the web editor is built;
//! the binary then shows a page saying how to build it.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let dist = manifest_dir.join("..").join("client-web").join("dist");
    if let Err(error) = std::fs::create_dir_all(&dist) {
        // Not fatal: rust-embed allows the folder to be missing.
        println!("cargo::warning=cannot create {}: {error}", dist.display());
    }
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed={}", dist.display());
}
