//! Cross-language proof with an independent Avro implementation, Python's fastavro: it reads
//! the vectors this codec wrote (header fingerprint included) and writes the same records,
//! which this codec then reads. Never skipped: without python3 and fastavro the test fails.

#[macro_use]
mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{avro_dir, testdata, Sample};

const INSTALL_HINT: &str = "the cross-language test needs python3 with fastavro: scripts/test \
                            installs it (or run `python3 -m pip install fastavro`)";

fn python() -> String {
    std::env::var("CELERIAC_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn check_python_written<T: Sample>(out: &Path) -> usize {
    let mut checked = 0;
    for version in T::versions() {
        for (case, record) in T::cases() {
            let stem = format!("{}.v{}.{case}", T::SHORT, version.version());
            let theirs = fs::read(out.join(format!("{stem}.bin")))
                .unwrap_or_else(|e| panic!("fastavro did not write {stem}: {e}"));
            let expected = record.written_by_version(version.version());
            let decoded =
                T::decode(&theirs).unwrap_or_else(|e| panic!("{stem} written by fastavro: {e}"));
            assert_eq!(decoded, expected, "{stem} written by fastavro");
            if version.version() == T::current().version() {
                // Same record, same schema, two implementations: the same bytes.
                assert_eq!(
                    theirs,
                    expected.encode().expect("encodes"),
                    "{stem}: fastavro's bytes differ from ours"
                );
            }
            checked += 1;
        }
    }
    checked
}

#[test]
fn fastavro_reads_our_vectors_and_we_read_fastavros() {
    let probe = Command::new(python())
        .args(["-c", "import fastavro"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!("{INSTALL_HINT}\n{}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("{INSTALL_HINT}\ncannot run {}: {e}", python()),
    }

    let out = tempfile::tempdir().expect("temp dir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fastavro_vectors.py");
    let run = Command::new(python())
        .arg(&script)
        .arg(avro_dir().join("history"))
        .arg(testdata())
        .arg(out.path())
        .output()
        .expect("run fastavro_vectors.py");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "fastavro disagrees with the Rust codec:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");

    let mut checked = 0;
    for_each_record!(T => { checked += check_python_written::<T>(out.path()); });
    let vectors = fs::read_dir(testdata())
        .expect("testdata")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "bin"))
        })
        .count();
    assert_eq!(checked, vectors, "every golden vector went both ways");
}
