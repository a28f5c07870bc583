//! Snapshot files under `<data_dir>/snapshots/`.
//!
//! Only the latest snapshot is kept, as `snapshots/current.snap`: the first line
//! is the JSON of the [`SnapshotMeta`], the rest is the snapshot data (the JSON of
//! the `MetaState`). A new snapshot is written to a temporary file, fsynced,
//! and renamed over `current.snap` (then the directory is fsynced), so a crash
//! leaves either the old or the new snapshot, never a torn one. A snapshot is
//! only installed if it is newer than the current one, so a slow builder cannot
//! overwrite a snapshot received from the leader meanwhile.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::MetaError;
use crate::types::SnapshotMeta;

const CURRENT: &str = "current.snap";
const TMP_PREFIX: &str = "tmp-";

/// A snapshot as read from disk: its metadata and data.
pub type LoadedSnapshot = (SnapshotMeta, Vec<u8>);

/// The latest snapshot on disk and its metadata.
#[derive(Debug)]
pub struct SnapshotStore {
    dir: PathBuf,
    current: Mutex<Option<SnapshotMeta>>,
}

impl SnapshotStore {
    /// Opens `dir` (creating it), removes leftover temporary files and loads the
    /// latest snapshot, if any: `(meta, data)`.
    pub fn open(dir: &Path) -> Result<(Self, Option<LoadedSnapshot>), MetaError> {
        fs::create_dir_all(dir)?;
        for item in fs::read_dir(dir)? {
            let item = item?;
            if item.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                fs::remove_file(item.path())?;
            }
        }
        let loaded = read_file(&dir.join(CURRENT))?;
        let store = SnapshotStore {
            dir: dir.to_path_buf(),
            current: Mutex::new(loaded.as_ref().map(|(m, _)| m.clone())),
        };
        Ok((store, loaded))
    }

    /// Metadata of the latest snapshot.
    pub fn current_meta(&self) -> Option<SnapshotMeta> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the latest snapshot from disk.
    pub fn load_current(&self) -> Result<Option<LoadedSnapshot>, MetaError> {
        // Hold the lock so a concurrent save cannot swap the file mid-read.
        let _g = self.current.lock().unwrap_or_else(|e| e.into_inner());
        read_file(&self.dir.join(CURRENT))
    }

    /// Durably saves a snapshot unless one at least as new is already saved.
    /// Returns whether it was saved. Blocking: call from a blocking thread.
    pub fn save(&self, meta: &SnapshotMeta, data: &[u8]) -> Result<bool, MetaError> {
        let tmp = self.dir.join(format!("{TMP_PREFIX}{}", meta.snapshot_id));
        {
            let mut f = fs::File::create(&tmp)?;
            let mut header = serde_json::to_vec(meta)?;
            header.push(b'\n');
            f.write_all(&header)?;
            f.write_all(data)?;
            f.sync_all()?;
        }
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let newer = match current.as_ref() {
            None => true,
            Some(cur) => meta.last_log_id > cur.last_log_id,
        };
        if !newer {
            drop(current);
            fs::remove_file(&tmp)?;
            return Ok(false);
        }
        fs::rename(&tmp, self.dir.join(CURRENT))?;
        fs::File::open(&self.dir)?.sync_all()?;
        *current = Some(meta.clone());
        Ok(true)
    }
}

fn read_file(path: &Path) -> Result<Option<LoadedSnapshot>, MetaError> {
    let f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut r = BufReader::new(f);
    let mut header = Vec::new();
    r.read_until(b'\n', &mut header)?;
    let meta: SnapshotMeta = serde_json::from_slice(&header)?;
    let mut data = Vec::new();
    r.read_to_end(&mut data)?;
    Ok(Some((meta, data)))
}
