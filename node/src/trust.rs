//! The trusted state of a replica host (SPEC.md "Rollback", "Hosts", "Trusted cell file").
//!
//! - **volatile** ([`NodeTrust::Volatile`]): no trusted state. Every start is an amnesia
//!   recovery from the peers; the disk is never believed. The safe default without hardware.
//! - **durable** ([`NodeTrust::File`]): a small file stands in for the HSM's NVRAM cell.
//!   **In production this cell lives inside the HSM**, where the operator can neither read nor
//!   roll it back. A plain file gives *no* rollback protection: whoever can copy the data
//!   folder can copy this file with it. It exists so that a reference host can restart from
//!   its disk instead of recovering every time, and to exercise the same code path.

use std::path::{Path, PathBuf};

use e2ee_backup::internal::vault::{
    DurableOrVolatile, TrustedCell, TrustedState, TrustedStateError,
};

use crate::files;

/// Magic of the trusted cell file.
pub const CELL_MAGIC: &[u8; 6] = b"E2EETC";
/// Version of the trusted cell file.
pub const CELL_VERSION: u8 = 1;
/// Length of the trusted cell file: magic, version, incarnation, era, writes.
pub const CELL_FILE_LEN: usize = 6 + 1 + 3 * 8;

/// Encodes a cell: magic ‖ version ‖ incarnation ‖ era ‖ writes (u64 big-endian each).
pub fn encode_cell(cell: &TrustedCell) -> Vec<u8> {
    let mut out = Vec::with_capacity(CELL_FILE_LEN);
    out.extend_from_slice(CELL_MAGIC);
    out.push(CELL_VERSION);
    for v in [cell.incarnation, cell.era, cell.writes] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

/// Decodes what [`encode_cell`] wrote.
pub fn decode_cell(bytes: &[u8]) -> Option<TrustedCell> {
    if bytes.len() != CELL_FILE_LEN || &bytes[..6] != CELL_MAGIC || bytes[6] != CELL_VERSION {
        return None;
    }
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(bytes.get(7 + 8 * i..15 + 8 * i)?);
        Some(u64::from_be_bytes(w))
    };
    Some(TrustedCell {
        incarnation: word(0)?,
        era: word(1)?,
        writes: word(2)?,
    })
}

/// A trusted cell kept in a file, replaced atomically with fsync on every write.
#[derive(Debug)]
pub struct FileTrustedState {
    path: PathBuf,
}

impl FileTrustedState {
    /// The cell in `path` (a missing file is a fresh cell, incarnation 0).
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }

    /// The cell as the file holds it now.
    pub fn read(&self) -> Result<TrustedCell, TrustedStateError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => decode_cell(&bytes).ok_or(TrustedStateError::Failed),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TrustedCell::default()),
            Err(_) => Err(TrustedStateError::Failed),
        }
    }

    fn write(&self, cell: &TrustedCell) -> Result<(), TrustedStateError> {
        files::write_atomic(&self.path, &encode_cell(cell), true)
            .map_err(|_| TrustedStateError::Failed)
    }
}

impl TrustedState for FileTrustedState {
    fn begin(&mut self) -> Result<TrustedCell, TrustedStateError> {
        let mut cell = self.read()?;
        let started = cell.begin();
        self.write(&cell)?;
        Ok(started)
    }

    fn check(&self, incarnation: u64) -> Result<(), TrustedStateError> {
        // Another process started on the same cell supersedes this one.
        self.read()?.check(incarnation)
    }

    fn advance(
        &mut self,
        incarnation: u64,
        era: u64,
        writes: u64,
    ) -> Result<(), TrustedStateError> {
        let mut cell = self.read()?;
        cell.advance(incarnation, era, writes)?;
        self.write(&cell)
    }
}

/// The trusted state of a replica host, in either mode: the cell file (durable mode) or none.
pub type NodeTrust = DurableOrVolatile<FileTrustedState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_cell_survives_reopening_and_a_second_instance_supersedes_the_first() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("cell");
        let mut first = FileTrustedState::new(&path);
        assert_eq!(first.begin().map(|c| c.incarnation), Ok(1));
        assert_eq!(first.advance(1, 1, 7), Ok(()));
        let mut second = FileTrustedState::new(&path);
        let cell = second.begin();
        assert_eq!(
            cell.map(|c| (c.incarnation, c.era, c.writes)),
            Ok((2, 1, 7))
        );
        assert_eq!(first.check(1), Err(TrustedStateError::Superseded));
        assert_eq!(first.advance(1, 1, 8), Err(TrustedStateError::Superseded));
        assert_eq!(second.read().map(|c| c.writes), Ok(7));
        std::fs::write(&path, b"garbage").expect("write");
        assert_eq!(second.check(2), Err(TrustedStateError::Failed));
    }
}
