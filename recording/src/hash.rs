//! SHA-256 of a finished file, streamed so memory stays flat whatever its size.
//! This blocks on disk reads: callers on an async runtime run it on a blocking thread.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::Error;

const CHUNK: usize = 64 * 1024;

/// Returns the digest and the number of bytes hashed.
pub fn sha256_file(path: &Path) -> Result<([u8; 32], u64), Error> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path, e)),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher.finalize().into(), total))
}

/// Lower-case hex, the form stored next to a recording.
pub fn to_hex(digest: &[u8; 32]) -> String {
    use std::fmt::Write;
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_has_the_well_known_digest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("empty");
        std::fs::write(&p, b"").expect("write");
        let (d, n) = sha256_file(&p).expect("hash");
        assert_eq!(n, 0);
        assert_eq!(
            to_hex(&d),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
