//! `scripts/setup` decides what a fresh machine lacks the way the build looks for it: libclang
//! as clang-sys loads it (not libclang-cpp, which fresh images carry), OpenSSL's headers for
//! librdkafka's TLS. `--dry-run` prints what it would install; `CELERIAC_LIB_DIRS` points the
//! libclang search at a tree of the test's own.

use std::path::Path;
use std::process::Command;

/// What `scripts/setup --dry-run` would install with libclang searched only in `dirs`.
fn missing_with(dirs: &[&Path]) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/setup");
    let joined = dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let out = Command::new(&script)
        .arg("--dry-run")
        .env("CELERIAC_LIB_DIRS", joined)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(out.status.success(), "scripts/setup --dry-run: {out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("missing:"))
        .unwrap_or_else(|| panic!("no 'missing:' line in {stdout:?}"));
    line.split_whitespace().map(str::to_owned).collect()
}

fn tree(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for file in files {
        std::fs::write(dir.path().join(file), b"").expect("write");
    }
    dir
}

#[test]
fn only_libclang_cpp_means_libclang_is_missing() {
    let fresh = tree(&[
        "libclang-cpp.so.14",
        "libclang-cpp.so.14.0.6",
        "libLLVM-14.so",
    ]);
    let missing = missing_with(&[fresh.path()]);
    assert!(
        missing.iter().any(|p| p == "libclang-dev"),
        "a tree with only libclang-cpp must ask for libclang-dev, asked for {missing:?}"
    );
}

#[test]
fn each_name_clang_sys_loads_counts_as_present() {
    for name in [
        "libclang.so",
        "libclang.so.1",
        "libclang-14.so",
        "libclang-14.so.1",
    ] {
        let dir = tree(&["libclang-cpp.so.14", name]);
        let missing = missing_with(&[dir.path()]);
        assert!(
            !missing.iter().any(|p| p == "libclang-dev"),
            "{name} is a libclang clang-sys loads, yet setup asked for {missing:?}"
        );
    }
}

#[test]
fn every_listed_folder_is_searched() {
    let empty = tree(&[]);
    let with = tree(&["libclang-16.so.16"]);
    assert!(missing_with(&[empty.path()])
        .iter()
        .any(|p| p == "libclang-dev"));
    assert!(!missing_with(&[empty.path(), with.path()])
        .iter()
        .any(|p| p == "libclang-dev"));
}
