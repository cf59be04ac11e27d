//! After the churn: every recording file on disk is filed in the database, and every filed file
//! is on disk, whole. First the server is given time to finish filing (each recording's
//! composite is made after it stops, and its manifest last, so a recording with a manifest is
//! done); then the recordings directory is walked and compared with `recording_files` in the
//! server's SQLite database, read directly (the REST API does not give the files' paths).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tokio::time::Instant;

use concord_client::ApiClient;

/// How often the recordings' state is asked for while waiting for them to be filed.
const FILING_POLL: Duration = Duration::from_secs(2);

/// What the file check found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileAudit {
    /// Regular files under the recordings directory, and their size.
    pub files_on_disk: usize,
    pub bytes_on_disk: u64,
    /// Rows of `recording_files`.
    pub filed: usize,
    /// Filed, but missing on disk or empty.
    pub lost: Vec<String>,
    /// On disk, but filed nowhere.
    pub unfiled: Vec<String>,
    /// Filed `complete` with a size the file on disk does not have.
    pub size_differs: Vec<String>,
    /// Filed files by status (`complete`, `writing`, `interrupted`, `failed`).
    pub by_status: BTreeMap<String, usize>,
    /// Recordings of the run's disputes, and those still without a manifest when the check ran
    /// (their composite or manifest was not done within the filing timeout).
    pub recordings: usize,
    pub recordings_unfinished: usize,
}

impl FileAudit {
    /// Nothing lost, nothing unfiled, every filed size right.
    pub fn clean(&self) -> bool {
        self.lost.is_empty() && self.unfiled.is_empty() && self.size_differs.is_empty()
    }

    /// The verdict line, then the details of anything wrong.
    pub fn lines(&self) -> String {
        let mut out = format!(
            "files on disk {}, filed {}, lost {}, unfiled {}",
            self.files_on_disk,
            self.filed,
            self.lost.len(),
            self.unfiled.len()
        );
        let statuses: Vec<String> = self
            .by_status
            .iter()
            .map(|(status, n)| format!("{n} {status}"))
            .collect();
        out += &format!(
            "\n{} recordings ({} not finished filing), {:.1} MB on disk; filed: {}",
            self.recordings,
            self.recordings_unfinished,
            self.bytes_on_disk as f64 / 1e6,
            if statuses.is_empty() {
                "none".to_owned()
            } else {
                statuses.join(", ")
            }
        );
        for (what, paths) in [
            ("lost", &self.lost),
            ("unfiled", &self.unfiled),
            ("size differs from its record", &self.size_differs),
        ] {
            for path in paths {
                out += &format!("\n  {what}: {path}");
            }
        }
        out
    }
}

/// Waits until every recording of `disputes` has ended and has its manifest, or `timeout`
/// passes; returns (recordings, those not finished).
pub(super) async fn wait_until_filed(
    api: &ApiClient,
    disputes: &[String],
    timeout: Duration,
) -> Result<(usize, usize)> {
    let deadline = Instant::now() + timeout;
    loop {
        let (mut recordings, mut unfinished) = (0, 0);
        for dispute in disputes {
            let listing = api
                .get(&format!("/api/disputes/{dispute}/recordings"))
                .await?
                .ok()
                .with_context(|| format!("listing the recordings of dispute {dispute}"))?;
            for recording in listing
                .get("recordings")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                recordings += 1;
                let ended = recording.get("status").and_then(Value::as_str) != Some("recording");
                let manifest = recording
                    .get("manifest_sha256")
                    .is_some_and(Value::is_string);
                if !(ended && manifest) {
                    unfinished += 1;
                }
            }
        }
        if unfinished == 0 || Instant::now() >= deadline {
            return Ok((recordings, unfinished));
        }
        tokio::time::sleep(FILING_POLL).await;
    }
}

/// Compares the files under `recordings_dir` with the rows of `recording_files` in the SQLite
/// database at `database`.
pub(super) async fn audit_files(recordings_dir: &Path, database: &Path) -> Result<FileAudit> {
    let dir = recordings_dir.to_owned();
    let on_disk = tokio::task::spawn_blocking(move || files_under(&dir))
        .await
        .context("the directory walk")??;
    let filed = filed_files(database).await?;

    let mut audit = FileAudit {
        files_on_disk: on_disk.len(),
        bytes_on_disk: on_disk.values().sum(),
        filed: filed.len(),
        ..FileAudit::default()
    };
    let filed_paths: BTreeSet<&str> = filed.iter().map(|f| f.path.as_str()).collect();
    for path in on_disk.keys() {
        if !filed_paths.contains(path.as_str()) {
            audit.unfiled.push(path.clone());
        }
    }
    for file in &filed {
        *audit.by_status.entry(file.status.clone()).or_default() += 1;
        match on_disk.get(&file.path) {
            None | Some(0) => audit.lost.push(file.path.clone()),
            Some(&size) => {
                let recorded = file.size_bytes.and_then(|s| u64::try_from(s).ok());
                if file.status == "complete" && recorded.is_some_and(|r| r != size) {
                    audit.size_differs.push(format!(
                        "{} ({size} bytes, filed as {} bytes)",
                        file.path,
                        recorded.unwrap_or_default()
                    ));
                }
            }
        }
    }
    Ok(audit)
}

/// A row of `recording_files`.
#[derive(Debug)]
struct FiledFile {
    /// Relative to the recordings directory.
    path: String,
    status: String,
    size_bytes: Option<i64>,
}

async fn filed_files(database: &Path) -> Result<Vec<FiledFile>> {
    // Read-only, beside the running server (its database is in WAL mode: readers do not
    // block it).
    let mut connection = SqliteConnectOptions::new()
        .filename(database)
        .read_only(true)
        .connect()
        .await
        .with_context(|| format!("opening {} read-only", database.display()))?;
    let rows: Vec<(String, String, Option<i64>)> =
        sqlx::query_as("SELECT path, status, size_bytes FROM recording_files ORDER BY path")
            .fetch_all(&mut connection)
            .await
            .with_context(|| format!("reading recording_files of {}", database.display()))?;
    let _ = connection.close().await;
    Ok(rows
        .into_iter()
        .map(|(path, status, size_bytes)| FiledFile {
            path,
            status,
            size_bytes,
        })
        .collect())
}

/// Every regular file under `root`, by its path relative to `root` (`/`-separated, as the
/// database has them), with its size. A missing `root` holds nothing (no recording was made).
fn files_under(root: &Path) -> Result<BTreeMap<String, u64>> {
    let mut files = BTreeMap::new();
    if !root.exists() {
        return Ok(files);
    }
    let mut dirs: Vec<PathBuf> = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
            let kind = entry
                .file_type()
                .with_context(|| format!("the type of {}", entry.path().display()))?;
            let path = entry.path();
            if kind.is_dir() {
                dirs.push(path);
            } else if kind.is_file() {
                let size = entry
                    .metadata()
                    .with_context(|| format!("the size of {}", path.display()))?
                    .len();
                let relative = path.strip_prefix(root).unwrap_or(&path);
                let parts: Vec<String> = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                files.insert(parts.join("/"), size);
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_listed_by_their_path_under_the_root() {
        let root = tempfile::tempdir().expect("a directory");
        let recording = root.path().join("rec1");
        std::fs::create_dir_all(&recording).expect("a recording directory");
        std::fs::write(recording.join("party-A-abc.webm"), b"12345").expect("a file");
        std::fs::write(recording.join("manifest.json"), b"{}").expect("a file");
        let files = files_under(root.path()).expect("the walk");
        assert_eq!(files.get("rec1/party-A-abc.webm"), Some(&5));
        assert_eq!(files.get("rec1/manifest.json"), Some(&2));
        assert_eq!(files.len(), 2, "directories are not files: {files:?}");
        assert!(files_under(&root.path().join("none"))
            .expect("nothing")
            .is_empty());
    }

    #[test]
    fn the_verdict_line_counts_each_kind_of_trouble() {
        let audit = FileAudit {
            files_on_disk: 3,
            filed: 3,
            lost: vec!["r/a.webm".to_owned()],
            unfiled: vec!["r/b.webm".to_owned()],
            ..FileAudit::default()
        };
        assert!(!audit.clean());
        let lines = audit.lines();
        assert!(
            lines.starts_with("files on disk 3, filed 3, lost 1, unfiled 1"),
            "{lines}"
        );
        assert!(lines.contains("lost: r/a.webm") && lines.contains("unfiled: r/b.webm"));
        assert!(FileAudit::default().clean());
    }
}
