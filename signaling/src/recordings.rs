//! Filing a session's recording against its dispute: starts the recorder on the room's tap,
//! records each file in the store as it opens and closes, says when the recording has ended,
//! has the composite made, and last writes the manifest listing every file (the composite
//! too) with its hash. The media work is `concord-recording`'s; this is bookkeeping.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use concord_recording::{CompositeInput, RecorderConfig, RecorderEvent, RecorderHandle, Summary};
use concord_sfu::{ParticipantId, RoomHandle as MediaRoom, SCREEN_SUFFIX};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::secrets::{new_id, now_ms};
use crate::session_summary::SessionInfo;
use crate::store::{
    CompositeStatus, FileKind, FileOutcome, FileStatus, NewRecordingFile, Recording,
    RecordingStatus, Store,
};

/// Frames between the room and the recorder. Past this the room drops (and the recorder
/// waits for a keyframe): the call never waits for the disk.
const TAP_QUEUE: usize = 1024;
const EVENT_QUEUE: usize = 256;

/// The names of the files made after the recording, in its directory.
const COMPOSITE: &str = "composite.webm";
const MANIFEST: &str = "manifest.json";

/// A tapped participant's name and role: a shared screen is filed apart from its sharer's
/// camera, under the sharer's name with the role `screen`.
fn roster_entry(
    roster: &HashMap<String, (String, &'static str)>,
    participant: &str,
) -> Option<(String, &'static str)> {
    match participant.strip_suffix(SCREEN_SUFFIX) {
        Some(sharer) => roster.get(sharer).map(|(name, _)| (name.clone(), "screen")),
        None => roster
            .get(participant)
            .map(|(name, role)| (name.clone(), *role)),
    }
}

/// Who is who in the room, by participant id: names files and rows. Written by the room actor
/// on admission, read here; entries stay for the whole recording (people who left still
/// need their names).
pub type Roster = Arc<Mutex<HashMap<String, (String, &'static str)>>>;

pub struct RecordingContext {
    pub store: Store,
    /// The recordings directory; each recording gets a directory named by its id.
    pub root: PathBuf,
    pub session: SessionInfo,
    pub started_by: String,
    pub media: MediaRoom,
    pub roster: Roster,
}

/// A recording in progress.
pub struct ActiveRecording {
    pub id: String,
    recorder: RecorderHandle,
    filer: JoinHandle<()>,
}

impl ActiveRecording {
    /// Stops recording and waits until every file is finished and filed.
    pub async fn stop(self) {
        self.recorder.stop().await;
        let _ = self.filer.await;
    }
}

/// Starts recording; `on_end` runs once it has ended and been filed, with the error that ended
/// it if it was not stopped on purpose.
pub async fn start(
    context: RecordingContext,
    on_end: impl FnOnce(Option<String>) + Send + 'static,
) -> Result<ActiveRecording, String> {
    let id = new_id();
    let store = context.store.clone();
    store
        .create_recording(
            &id,
            &context.session.id,
            &context.session.dispute_id,
            &context.started_by,
            now_ms(),
        )
        .await
        .map_err(|e| format!("could not file the recording: {e}"))?;
    let (tap_tx, tap_rx) = mpsc::channel(TAP_QUEUE);
    if context.media.tap(tap_tx).await.is_err() {
        let error = "the media room is gone";
        let _ = store
            .finish_recording(&id, RecordingStatus::Failed, now_ms(), Some(error), None)
            .await;
        return Err(error.to_owned());
    }
    let dir = context.root.join(&id);
    let roster = context.roster.clone();
    let file_name = Box::new(move |participant: &str| {
        let roster = roster.lock().unwrap_or_else(|e| e.into_inner());
        let short: String = participant.chars().take(6).collect();
        match roster_entry(&roster, participant) {
            Some((name, role)) => format!("{role}-{name}-{short}"),
            None => format!("participant-{short}"),
        }
    });
    let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
    let recorder = concord_recording::start(
        RecorderConfig {
            dir: dir.clone(),
            started: Instant::now(),
            file_name,
        },
        tap_rx,
        events_tx,
    );
    let filer = tokio::spawn(file_events(
        events_rx,
        Filing {
            store,
            media: context.media,
            recording_id: id.clone(),
            root: context.root,
            dir,
            session: context.session,
            roster: context.roster,
        },
        on_end,
    ));
    Ok(ActiveRecording {
        id,
        recorder,
        filer,
    })
}

struct Filing {
    store: Store,
    media: MediaRoom,
    recording_id: String,
    root: PathBuf,
    dir: PathBuf,
    session: SessionInfo,
    roster: Roster,
}

async fn file_events(
    mut events: mpsc::Receiver<RecorderEvent>,
    filing: Filing,
    on_end: impl FnOnce(Option<String>),
) {
    let mut open: HashMap<PathBuf, (String, String, &'static str)> = HashMap::new();
    let mut manifest_files = Vec::new();
    let mut composite_inputs = Vec::new();
    let mut ended_by = None;
    while let Some(event) = events.recv().await {
        match event {
            RecorderEvent::FileOpened {
                participant,
                path,
                at,
            } => {
                let (name, role) = filing.who(&participant);
                let row = NewRecordingFile {
                    id: new_id(),
                    recording_id: filing.recording_id.clone(),
                    kind: FileKind::Participant,
                    participant_name: name.clone(),
                    participant_role: role.to_owned(),
                    path: relative(&filing.root, &path),
                    started_at: ms(at),
                };
                if let Err(error) = filing.store.add_recording_file(&row).await {
                    tracing::error!(%error, "could not file a recording file");
                }
                open.insert(path, (row.id, name, role));
            }
            RecorderEvent::FileClosed {
                participant,
                path,
                at,
                result,
            } => {
                let Some((file_id, name, role)) = open.remove(&path) else {
                    continue;
                };
                let outcome = outcome(&result, ms(at));
                if let Err(error) = filing
                    .store
                    .complete_recording_file(&file_id, &outcome)
                    .await
                {
                    tracing::error!(%error, "could not file a finished recording file");
                }
                manifest_files.push(manifest_entry(&path, &name, role, &outcome, &result));
                if let Ok(summary) = &result {
                    if let Some(start) = summary.start {
                        composite_inputs.push(CompositeInput {
                            path: path.clone(),
                            participant,
                            // Made relative to the earliest file once all are known.
                            offset: start,
                            duration: summary.duration,
                            has_video: summary.video_frames > 0,
                            has_audio: summary.audio_frames > 0,
                            shared_screen: role == "screen",
                        });
                    }
                }
            }
            RecorderEvent::KeyframeWanted { participant } => {
                filing
                    .media
                    .request_keyframe(ParticipantId(participant))
                    .await;
            }
            RecorderEvent::Stopped { error } => {
                ended_by = error;
                break;
            }
        }
    }
    let status = if ended_by.is_some() {
        RecordingStatus::Failed
    } else {
        RecordingStatus::Finished
    };
    let ended_at = now_ms();
    // The recording has ended as soon as its files are: the room is told now, the composite
    // (minutes, at the lowest priority) follows, and the manifest comes last so that it can
    // list every file a clerk will find, the composite included.
    filing
        .finish(status, ended_at, ended_by.as_deref(), None)
        .await;
    on_end(ended_by.clone());
    if !composite_inputs.is_empty() {
        manifest_files.push(filing.compose(composite_inputs).await);
    }
    let manifest_sha = filing
        .write_manifest(manifest_files, ended_by.as_deref())
        .await;
    if manifest_sha.is_some() {
        filing
            .finish(
                status,
                ended_at,
                ended_by.as_deref(),
                manifest_sha.as_deref(),
            )
            .await;
    }
}

impl Filing {
    async fn finish(
        &self,
        status: RecordingStatus,
        ended_at: i64,
        error: Option<&str>,
        manifest_sha256: Option<&str>,
    ) {
        let filed = self
            .store
            .finish_recording(&self.recording_id, status, ended_at, error, manifest_sha256)
            .await;
        if let Err(error) = filed {
            tracing::error!(%error, "could not file the end of a recording");
        }
    }

    /// Makes and files the composite; its progress is kept on the recording for the dispute's
    /// page. Runs after the recording has ended, at the lowest CPU priority. Returns its
    /// manifest entry (with the reason when it could not be made).
    async fn compose(&self, mut inputs: Vec<CompositeInput>) -> Value {
        let store = &self.store;
        let id = &self.recording_id;
        let _ = store
            .set_composite_progress(id, CompositeStatus::Pending, 0)
            .await;
        let earliest = inputs
            .iter()
            .map(|input| input.offset)
            .min()
            .unwrap_or_default();
        for input in &mut inputs {
            input.offset = input.offset.saturating_sub(earliest);
        }
        let output = self.dir.join(COMPOSITE);
        let (percent_tx, mut percent_rx) = tokio::sync::watch::channel(0i64);
        let reporter = {
            let store = store.clone();
            let id = id.clone();
            tokio::spawn(async move {
                while percent_rx.changed().await.is_ok() {
                    let percent = *percent_rx.borrow_and_update();
                    let _ = store
                        .set_composite_progress(&id, CompositeStatus::Running, percent)
                        .await;
                }
            })
        };
        let started_at = now_ms();
        let made = concord_recording::compose(&inputs, &output, |fraction| {
            let percent = (fraction * 100.0) as i64;
            // Only whole steps of five: the store is not written for every progress line.
            if percent / 5 != *percent_tx.borrow() / 5 || percent == 100 {
                let _ = percent_tx.send(percent);
            }
        })
        .await;
        drop(percent_tx);
        let _ = reporter.await;
        let failed =
            |error: String| composite_entry(&output, FileStatus::Failed, None, Some(error));
        if let Err(error) = made {
            tracing::error!(%error, recording = %id, "the composite could not be made");
            let _ = store
                .set_composite_progress(id, CompositeStatus::Failed, 0)
                .await;
            return failed(error.to_string());
        }
        let hashed = tokio::task::spawn_blocking({
            let output = output.clone();
            move || concord_recording::sha256_file(&output)
        })
        .await;
        let (digest, bytes) = match hashed {
            Ok(Ok(hashed)) => hashed,
            Ok(Err(error)) => {
                let _ = store
                    .set_composite_progress(id, CompositeStatus::Failed, 0)
                    .await;
                return failed(format!("could not hash the composite: {error}"));
            }
            Err(error) => {
                let _ = store
                    .set_composite_progress(id, CompositeStatus::Failed, 0)
                    .await;
                return failed(format!("could not hash the composite: {error}"));
            }
        };
        let total = inputs
            .iter()
            .map(|i| i.offset + i.duration)
            .max()
            .unwrap_or_default();
        let outcome = FileOutcome {
            status: FileStatus::Complete,
            sha256: Some(concord_recording::to_hex(&digest)),
            size_bytes: i64::try_from(bytes).ok(),
            duration_ms: i64::try_from(total.as_millis()).ok(),
            ended_at: now_ms(),
        };
        let filed = self
            .file_whole(FileKind::Composite, &output, started_at, &outcome)
            .await;
        let status = if filed.is_ok() {
            CompositeStatus::Done
        } else {
            CompositeStatus::Failed
        };
        let _ = store.set_composite_progress(id, status, 100).await;
        // The file exists with this hash whether or not the store took it.
        composite_entry(&output, FileStatus::Complete, Some(&outcome), None)
    }

    async fn file_whole(
        &self,
        kind: FileKind,
        path: &Path,
        started_at: i64,
        outcome: &FileOutcome,
    ) -> Result<(), crate::store::StoreError> {
        file_whole(
            &self.store,
            &self.root,
            &self.recording_id,
            kind,
            path,
            started_at,
            outcome,
        )
        .await
    }

    fn who(&self, participant: &str) -> (String, &'static str) {
        let roster = self.roster.lock().unwrap_or_else(|e| e.into_inner());
        roster_entry(&roster, participant)
            .unwrap_or_else(|| (participant.to_owned(), "participant"))
    }

    /// The manifest lists every file with its hash (participants' files, then the composite or
    /// why it is missing); it is itself hashed and filed. Written once, created new, after
    /// everything it lists is final.
    async fn write_manifest(&self, files: Vec<Value>, error: Option<&str>) -> Option<String> {
        let manifest = manifest_document(
            &self.recording_id,
            &self.session.id,
            &self.session.dispute_id,
            &self.session.case_number,
            error,
            files,
            false,
        );
        write_and_file_manifest(
            &self.store,
            &self.root,
            &self.recording_id,
            &self.dir,
            manifest,
        )
        .await
    }
}

/// Files a file written whole after the recording (the manifest, the composite): it belongs to
/// nobody in particular and is complete as soon as it is filed.
async fn file_whole(
    store: &Store,
    root: &Path,
    recording_id: &str,
    kind: FileKind,
    path: &Path,
    started_at: i64,
    outcome: &FileOutcome,
) -> Result<(), crate::store::StoreError> {
    let row = NewRecordingFile {
        id: new_id(),
        recording_id: recording_id.to_owned(),
        kind,
        participant_name: String::new(),
        participant_role: String::new(),
        path: relative(root, path),
        started_at,
    };
    store.add_recording_file(&row).await?;
    store.complete_recording_file(&row.id, outcome).await
}

/// What `manifest.json` says. `written_after_restart` marks one written from the records by a
/// restarted server (the run that made the files stopped first): it lists what was filed, and
/// what only the recorder knew (start offsets, frame counts, a failure's words) is null.
fn manifest_document(
    recording_id: &str,
    session_id: &str,
    dispute_id: &str,
    case_number: &str,
    error: Option<&str>,
    files: Vec<Value>,
    written_after_restart: bool,
) -> Value {
    json!({
        "recording_id": recording_id,
        "session_id": session_id,
        "dispute_id": dispute_id,
        "case_number": case_number,
        "written_at": now_ms(),
        "written_after_restart": written_after_restart,
        "error": error,
        "files": files,
    })
}

/// Writes `manifest.json` in `dir` (created new, never over another), files it with its hash
/// and returns the hash; `None` (logged) when it could not be written.
async fn write_and_file_manifest(
    store: &Store,
    root: &Path,
    recording_id: &str,
    dir: &Path,
    manifest: Value,
) -> Option<String> {
    let path = dir.join(MANIFEST);
    let started_at = now_ms();
    let written = tokio::task::spawn_blocking({
        let path = path.clone();
        move || write_new(&path, &manifest)
    })
    .await;
    let (sha256, bytes) = match written {
        Ok(Ok(written)) => written,
        Ok(Err(error)) => {
            tracing::error!(%error, recording = %recording_id, "could not write a recording manifest");
            return None;
        }
        Err(error) => {
            tracing::error!(%error, "manifest task failed");
            return None;
        }
    };
    let outcome = FileOutcome {
        status: FileStatus::Complete,
        sha256: Some(sha256.clone()),
        size_bytes: i64::try_from(bytes).ok(),
        duration_ms: None,
        ended_at: now_ms(),
    };
    let filed = file_whole(
        store,
        root,
        recording_id,
        FileKind::Manifest,
        &path,
        started_at,
        &outcome,
    )
    .await;
    if let Err(error) = filed {
        tracing::error!(%error, "could not file a recording manifest");
    }
    Some(sha256)
}

/// Files cut short by a crash get their hash, size and duration as they are on disk. The
/// duration comes from the file's packets (a clean finish writes it into the header; a crash
/// leaves a placeholder). The files are only read.
pub async fn file_interrupted(store: &Store, root: &Path, recording_ids: &[String]) {
    for recording_id in recording_ids {
        let files = match store.recording(recording_id).await {
            Ok(Some(recording)) => recording.files,
            Ok(None) => continue,
            Err(error) => {
                tracing::error!(%error, "could not read an interrupted recording");
                continue;
            }
        };
        for file in files.into_iter().filter(|f| {
            f.status == FileStatus::Interrupted && (f.sha256.is_none() || f.duration_ms.is_none())
        }) {
            let path = root.join(&file.path);
            let read = tokio::task::spawn_blocking(move || {
                let hashed = concord_recording::sha256_file(&path)?;
                // An empty file (killed before its first frame) has no duration to read.
                let duration = match hashed.1 {
                    0 => None,
                    _ => concord_recording::recorded_duration(&path)
                        .map_err(|error| {
                            tracing::warn!(%error, "no duration for an interrupted recording file");
                        })
                        .ok()
                        .flatten(),
                };
                Ok::<_, concord_recording::Error>((hashed, duration))
            })
            .await;
            let ((digest, bytes), duration) = match read {
                Ok(Ok(read)) => read,
                Ok(Err(error)) => {
                    tracing::error!(%error, "could not read an interrupted recording file");
                    continue;
                }
                Err(error) => {
                    tracing::error!(%error, "interrupted file task failed");
                    continue;
                }
            };
            let outcome = FileOutcome {
                status: FileStatus::Interrupted,
                sha256: Some(concord_recording::to_hex(&digest)),
                size_bytes: i64::try_from(bytes).ok(),
                duration_ms: duration.and_then(|d| i64::try_from(d.as_millis()).ok()),
                ended_at: file.ended_at.unwrap_or_else(now_ms),
            };
            if let Err(error) = store.complete_recording_file(&file.id, &outcome).await {
                tracing::error!(%error, "could not file an interrupted recording file");
            }
        }
    }
}

/// Why a composite has no file after a restart, in its manifest entry.
const COMPOSITE_INTERRUPTED: &str = "the server stopped while the composite was being made; \
     the unfinished file was removed (the participants' files are complete without it)";

/// After a restart, every recording that has ended gets its manifest.
///
/// First, composites the last run was still making are marked `interrupted`, and whatever
/// ffmpeg had written of them is removed: an unfinished composite is no evidence (it is made
/// from the participants' files, which are kept and listed), and ffmpeg, orphaned when the
/// server is killed, may still be writing it, so no hash of it would hold. (Removing the name
/// is enough once ffmpeg has opened its output: it writes on into the unlinked file and exits.
/// An ffmpeg orphaned before opening it would still create it; under systemd the default
/// `KillMode=control-group` stops ffmpeg with the server.)
///
/// Then each ended recording with participants' files and no manifest (stopped while making
/// the composite, or while recording) gets one, written from its records: every participant
/// file with its filed hash, the composite or why it is missing. A `manifest.json` the last
/// run wrote but did not file is filed as it is, if whole; one cut short is left for an
/// operator to look at (logged), never overwritten.
pub async fn complete_after_restart(store: &Store, root: &Path) {
    match store.interrupt_unfinished_composites(now_ms()).await {
        Ok(interrupted) => {
            for recording_id in interrupted {
                remove_unfinished_composite(&root.join(&recording_id).join(COMPOSITE)).await;
            }
        }
        Err(error) => tracing::error!(%error, "could not mark interrupted composites"),
    }
    let recordings = match store.recordings_without_manifest().await {
        Ok(recordings) => recordings,
        Err(error) => {
            tracing::error!(%error, "could not list recordings without a manifest");
            return;
        }
    };
    for recording in recordings {
        let dir = root.join(&recording.id);
        let path = dir.join(MANIFEST);
        let sha256 = match tokio::fs::try_exists(&path).await {
            Ok(false) => {
                let manifest = manifest_from_records(store, &recording, &dir).await;
                write_and_file_manifest(store, root, &recording.id, &dir, manifest).await
            }
            Ok(true) => file_unfiled_manifest(store, root, &recording, &path).await,
            Err(error) => {
                tracing::error!(%error, recording = %recording.id, "cannot look for a manifest");
                None
            }
        };
        let Some(sha256) = sha256 else { continue };
        tracing::warn!(recording = %recording.id, "manifest written after a restart");
        let filed = store
            .finish_recording(
                &recording.id,
                recording.status,
                recording.ended_at.unwrap_or_else(now_ms),
                recording.error.as_deref(),
                Some(&sha256),
            )
            .await;
        if let Err(error) = filed {
            tracing::error!(%error, "could not file a manifest's hash");
        }
    }
}

async fn remove_unfinished_composite(path: &Path) {
    match tokio::fs::remove_file(path).await {
        Ok(()) => tracing::warn!(path = %path.display(), "removed an unfinished composite"),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            tracing::error!(%error, path = %path.display(), "could not remove an unfinished composite");
        }
    }
}

/// The manifest of a recording whose run stopped before writing it, from what was filed.
async fn manifest_from_records(store: &Store, recording: &Recording, dir: &Path) -> Value {
    let case_number = match store.dispute(&recording.dispute_id).await {
        Ok(Some(dispute)) => dispute.case_number,
        Ok(None) => String::new(),
        Err(error) => {
            tracing::error!(%error, "could not read a recording's dispute");
            String::new()
        }
    };
    let mut files: Vec<Value> = recording
        .files
        .iter()
        .filter(|f| f.kind == FileKind::Participant)
        .map(|f| {
            json!({
                "file": file_name(Path::new(&f.path)),
                "kind": "participant",
                "participant_name": f.participant_name,
                "participant_role": f.participant_role,
                "status": f.status,
                "sha256": f.sha256,
                "size_bytes": f.size_bytes,
                "duration_ms": f.duration_ms,
                "start_offset_ms": null,
                "audio_frames": null,
                "video_frames": null,
                "error": null,
            })
        })
        .collect();
    let output = dir.join(COMPOSITE);
    let failed =
        |error: &str| composite_entry(&output, FileStatus::Failed, None, Some(error.to_owned()));
    match recording.composite_status {
        CompositeStatus::Done => {
            let made = recording
                .files
                .iter()
                .find(|f| f.kind == FileKind::Composite && f.status == FileStatus::Complete);
            files.push(match made {
                Some(f) => {
                    let outcome = FileOutcome {
                        status: f.status,
                        sha256: f.sha256.clone(),
                        size_bytes: f.size_bytes,
                        duration_ms: f.duration_ms,
                        ended_at: f.ended_at.unwrap_or(f.started_at),
                    };
                    composite_entry(
                        Path::new(&f.path),
                        FileStatus::Complete,
                        Some(&outcome),
                        None,
                    )
                }
                None => failed("the composite was made but not filed"),
            });
        }
        CompositeStatus::Interrupted => files.push(failed(COMPOSITE_INTERRUPTED)),
        CompositeStatus::Failed => files.push(failed(
            "the composite could not be made (the reason is in the log of the run that tried)",
        )),
        // No composite was started (nothing was recorded with video, or the recording itself was
        // interrupted), or one is still being made.
        CompositeStatus::None | CompositeStatus::Pending | CompositeStatus::Running => {}
    }
    manifest_document(
        &recording.id,
        &recording.session_id,
        &recording.dispute_id,
        &case_number,
        recording.error.as_deref(),
        files,
        true,
    )
}

/// A manifest the last run wrote but stopped before filing: filed as it is when whole (it
/// parses and names its recording); otherwise left in place for an operator.
async fn file_unfiled_manifest(
    store: &Store,
    root: &Path,
    recording: &Recording,
    path: &Path,
) -> Option<String> {
    let whole = match tokio::fs::read(path).await {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes)
            .is_ok_and(|m| m["recording_id"].as_str() == Some(recording.id.as_str())),
        Err(error) => {
            tracing::error!(%error, path = %path.display(), "cannot read an unfiled manifest");
            return None;
        }
    };
    if !whole {
        tracing::error!(
            path = %path.display(),
            "an unfiled manifest is cut short or not this recording's; left for an operator"
        );
        return None;
    }
    let hashed = tokio::task::spawn_blocking({
        let path = path.to_owned();
        move || concord_recording::sha256_file(&path)
    })
    .await;
    let (digest, bytes) = match hashed {
        Ok(Ok(hashed)) => hashed,
        Ok(Err(error)) => {
            tracing::error!(%error, "could not hash an unfiled manifest");
            return None;
        }
        Err(error) => {
            tracing::error!(%error, "manifest hashing task failed");
            return None;
        }
    };
    let sha256 = concord_recording::to_hex(&digest);
    let outcome = FileOutcome {
        status: FileStatus::Complete,
        sha256: Some(sha256.clone()),
        size_bytes: i64::try_from(bytes).ok(),
        duration_ms: None,
        ended_at: now_ms(),
    };
    let filed_row = recording
        .files
        .iter()
        .find(|f| f.kind == FileKind::Manifest);
    let filed = match filed_row {
        Some(row) => store.complete_recording_file(&row.id, &outcome).await,
        None => {
            file_whole(
                store,
                root,
                &recording.id,
                FileKind::Manifest,
                path,
                now_ms(),
                &outcome,
            )
            .await
        }
    };
    if let Err(error) = filed {
        tracing::error!(%error, "could not file a manifest");
    }
    Some(sha256)
}

fn write_new(path: &Path, manifest: &Value) -> std::io::Result<(String, u64)> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_vec_pretty(manifest)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(&text)?;
    file.sync_all()?;
    let (digest, bytes) = concord_recording::sha256_file(path).map_err(std::io::Error::other)?;
    Ok((concord_recording::to_hex(&digest), bytes))
}

fn outcome(result: &Result<Summary, String>, ended_at: i64) -> FileOutcome {
    match result {
        Ok(summary) => FileOutcome {
            status: FileStatus::Complete,
            sha256: Some(summary.sha256_hex()),
            size_bytes: i64::try_from(summary.bytes).ok(),
            duration_ms: i64::try_from(summary.duration.as_millis()).ok(),
            ended_at,
        },
        Err(_) => FileOutcome {
            status: FileStatus::Failed,
            sha256: None,
            size_bytes: None,
            duration_ms: None,
            ended_at,
        },
    }
}

fn manifest_entry(
    path: &Path,
    name: &str,
    role: &str,
    outcome: &FileOutcome,
    result: &Result<Summary, String>,
) -> Value {
    let file = file_name(path);
    let (start_ms, audio_frames, video_frames, error) = match result {
        Ok(summary) => (
            summary.start.map(|s| s.as_millis() as u64),
            summary.audio_frames,
            summary.video_frames,
            None,
        ),
        Err(error) => (None, 0, 0, Some(error.as_str())),
    };
    json!({
        "file": file,
        "kind": "participant",
        "participant_name": name,
        "participant_role": role,
        "status": outcome.status,
        "sha256": outcome.sha256,
        "size_bytes": outcome.size_bytes,
        "duration_ms": outcome.duration_ms,
        "start_offset_ms": start_ms,
        "audio_frames": audio_frames,
        "video_frames": video_frames,
        "error": error,
    })
}

/// The composite's line in the manifest: its hash when made, why not otherwise.
fn composite_entry(
    path: &Path,
    status: FileStatus,
    outcome: Option<&FileOutcome>,
    error: Option<String>,
) -> Value {
    let file = file_name(path);
    json!({
        "file": file,
        "kind": "composite",
        "status": status,
        "sha256": outcome.and_then(|o| o.sha256.clone()),
        "size_bytes": outcome.and_then(|o| o.size_bytes),
        "duration_ms": outcome.and_then(|o| o.duration_ms),
        "error": error,
    })
}

/// A file's name as the manifest gives it (no directory).
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn ms(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or_else(now_ms)
}
