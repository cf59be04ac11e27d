//! Compiles `cpp/mkv.cc`, our C interface to libwebm's muxer, against the libwebm that the
//! `webm-sys` crate compiles and links (so libwebm is built once, and no copy of it lives in
//! this repository).
//!
//! webm-sys does not export its include directory, and Debian's libwebm-dev ships only the
//! parser's headers, so the headers are taken from webm-sys's own source directory: Cargo has
//! unpacked it under `$CARGO_HOME/registry/src/*/webm-sys-<version>/` to build it.
//! `CONCORD_LIBWEBM_DIR` (a directory holding `mkvmuxer/mkvmuxer.h`) overrides the search, for
//! vendored or offline source layouts.

use std::env;
use std::path::{Path, PathBuf};

/// Must match the `webm-sys` pin in Cargo.toml: the headers must be the linked library's.
const WEBM_SYS_VERSION: &str = "2.2.1";
const OVERRIDE: &str = "CONCORD_LIBWEBM_DIR";

fn main() {
    println!("cargo:rerun-if-changed=cpp/mkv.cc");
    println!("cargo:rerun-if-env-changed={OVERRIDE}");
    let include = match libwebm_dir() {
        Ok(dir) => dir,
        Err(searched) => panic!(
            "libwebm's headers (mkvmuxer/mkvmuxer.h of webm-sys {WEBM_SYS_VERSION}) not found; \
             searched {searched}. Set {OVERRIDE} to the directory holding mkvmuxer/."
        ),
    };
    cc::Build::new()
        .cpp(true)
        .file("cpp/mkv.cc")
        .include(&include)
        // The flags webm-sys compiles libwebm with: without RTTI there is no typeinfo for
        // IMkvWriter to link our subclass against.
        .flag("-std=gnu++11")
        .flag("-fno-rtti")
        .flag("-fno-exceptions")
        .warnings(true)
        .compile("concord_mkv");
}

fn has_headers(dir: &Path) -> bool {
    dir.join("mkvmuxer").join("mkvmuxer.h").is_file()
}

fn libwebm_dir() -> Result<PathBuf, String> {
    if let Some(dir) = env::var_os(OVERRIDE).map(PathBuf::from) {
        return if has_headers(&dir) {
            Ok(dir)
        } else {
            Err(format!("{OVERRIDE}={}", dir.display()))
        };
    }
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .ok_or_else(|| "nothing: neither CARGO_HOME nor HOME is set".to_owned())?;
    let registry = cargo_home.join("registry").join("src");
    let crate_dir = format!("webm-sys-{WEBM_SYS_VERSION}");
    let mut indexes: Vec<PathBuf> = std::fs::read_dir(&registry)
        .map_err(|e| format!("{} ({e})", registry.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    // Any index's copy of one crate version is the same source; sorted for a stable choice.
    indexes.sort();
    indexes
        .into_iter()
        .map(|index| index.join(&crate_dir).join("libwebm"))
        .find(|dir| has_headers(dir))
        .ok_or_else(|| format!("{}/*/{crate_dir}/libwebm", registry.display()))
}
