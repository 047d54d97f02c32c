//! The archive inside a snapshot: a tar stream written from a folder, and extracted safely.
//!
//! Written: regular files, directories and symbolic links, with their permission bits (`0o7777`
//! masked to `0o777`) and modification times (whole seconds); owners are not kept (uid/gid 0);
//! hard links become separate files; other entries (sockets, FIFOs, devices) and unreadable
//! entries are left out and counted. Entries come in a stable order (names sorted per
//! directory), each directory before its contents.
//!
//! Extracted only through [`Extractor`], which refuses absolute paths, `..`, entries reached
//! through a symlink or a file, duplicate entries and any entry type the writer never makes; it
//! creates every file with `O_EXCL` (never writing through an existing name) and sets directory
//! permissions and times only at the end.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tar::{EntryType, Header};

use crate::error::CliError;
use crate::progress::{Interrupt, Progress};

/// What a backup wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArchiveStats {
    /// Regular files.
    pub files: u64,
    /// Directories (the root not counted).
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Entries left out.
    pub skipped: u64,
    /// Bytes of file content.
    pub source_bytes: u64,
}

/// Sizes of the regular files under `root` (for the progress total), not following symlinks.
pub fn scan_size(root: &Path) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => stack.push(entry.path()),
                Ok(meta) if meta.is_file() => total = total.saturating_add(meta.len()),
                _ => {}
            }
        }
    }
    total
}

/// Writes the folder `root` as a tar stream into `out`. Unreadable entries are reported on
/// stderr and counted in `skipped`; errors writing `out` abort. The directory `exclude`
/// (device, inode) — the repository being written, when it lies inside `root` — is left out.
pub fn write_archive<W: Write>(
    root: &Path,
    exclude: Option<(u64, u64)>,
    out: W,
    progress: &mut Progress,
    interrupt: &Interrupt,
) -> Result<(W, ArchiveStats), CliError> {
    let mut builder = tar::Builder::new(out);
    let mut stats = ArchiveStats::default();
    // Each directory's entries, sorted, consumed from the back.
    let mut stack: Vec<(PathBuf, Vec<std::ffi::OsString>)> = vec![(
        PathBuf::new(),
        sorted_names(root).map_err(|err| CliError::io("reading the folder", root, err))?,
    )];
    let write_err = |err: io::Error| match err.get_ref() {
        Some(inner) if inner.is::<crate::progress::Interrupted>() => CliError::Interrupted,
        _ => CliError::Io {
            context: "writing the snapshot".to_owned(),
            source: err,
        },
    };
    while let Some((rel_dir, names)) = stack.last_mut() {
        let Some(name) = names.pop() else {
            stack.pop();
            continue;
        };
        if interrupt.is_set() {
            return Err(CliError::Interrupted);
        }
        let rel = rel_dir.join(&name);
        let full = root.join(&rel);
        let meta = match fs::symlink_metadata(&full) {
            Ok(meta) => meta,
            Err(err) => {
                skip(&mut stats, &full, &err.to_string());
                continue;
            }
        };
        let mut header = Header::new_gnu();
        header.set_mode(meta.mode() & 0o777);
        header.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
        header.set_uid(0);
        header.set_gid(0);
        let file_type = meta.file_type();
        if file_type.is_dir() && exclude == Some((meta.dev(), meta.ino())) {
            eprintln!(
                "note: left out {}: it is the repository this backup is written to",
                full.display()
            );
        } else if file_type.is_dir() {
            let children = match sorted_names(&full) {
                Ok(children) => children,
                Err(err) => {
                    skip(&mut stats, &full, &err.to_string());
                    continue;
                }
            };
            header.set_entry_type(EntryType::Directory);
            header.set_size(0);
            builder
                .append_data(&mut header, &rel, io::empty())
                .map_err(write_err)?;
            stats.dirs += 1;
            stack.push((rel, children));
        } else if file_type.is_file() {
            let file = match File::open(&full) {
                Ok(file) => file,
                Err(err) => {
                    skip(&mut stats, &full, &err.to_string());
                    continue;
                }
            };
            let size = meta.len();
            header.set_entry_type(EntryType::Regular);
            header.set_size(size);
            let mut content = Exact {
                file,
                left: size,
                short: false,
                progress: &mut *progress,
                interrupt,
            };
            builder
                .append_data(&mut header, &rel, &mut content)
                .map_err(write_err)?;
            if content.short {
                eprintln!(
                    "warning: {} shrank while it was read; the missing end was stored as zeros",
                    full.display()
                );
            }
            stats.files += 1;
            stats.source_bytes += size;
        } else if file_type.is_symlink() {
            let target = match fs::read_link(&full) {
                Ok(target) => target,
                Err(err) => {
                    skip(&mut stats, &full, &err.to_string());
                    continue;
                }
            };
            header.set_entry_type(EntryType::Symlink);
            header.set_size(0);
            builder
                .append_link(&mut header, &rel, &target)
                .map_err(write_err)?;
            stats.symlinks += 1;
        } else {
            skip(
                &mut stats,
                &full,
                "not a regular file, directory or symbolic link",
            );
        }
    }
    let out = builder.into_inner().map_err(write_err)?;
    Ok((out, stats))
}

fn skip(stats: &mut ArchiveStats, path: &Path, why: &str) {
    eprintln!("warning: left out {}: {why}", path.display());
    stats.skipped += 1;
}

fn sorted_names(dir: &Path) -> io::Result<Vec<std::ffi::OsString>> {
    let mut names = fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<io::Result<Vec<_>>>()?;
    // Consumed from the back: reverse order gives ascending names.
    names.sort_by(|a, b| b.cmp(a));
    Ok(names)
}

/// Reads exactly `left` bytes of a file that may change meanwhile: if it shrinks, zeros fill
/// the rest (and `short` is set), so the tar entry keeps the size in its header.
struct Exact<'a> {
    file: File,
    left: u64,
    short: bool,
    progress: &'a mut Progress,
    interrupt: &'a Interrupt,
}

impl Read for Exact<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.interrupt.check()?;
        let want = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let Some(dst) = buf.get_mut(..want) else {
            return Ok(0);
        };
        let mut n = if self.short { 0 } else { self.file.read(dst)? };
        if n == 0 {
            self.short = true;
            dst.fill(0);
            n = want;
        }
        self.left -= n as u64;
        self.progress.add(n as u64);
        Ok(n)
    }
}

/// Extracts tar entries into a fresh directory, refusing anything that could write outside it.
pub struct Extractor {
    root: PathBuf,
    /// Directories to give their mode and mtime at the end: `(path, mode, mtime)`.
    dirs: Vec<(PathBuf, u32, i64)>,
    /// The last directory checked to be a real directory inside `root`.
    checked_parent: Option<PathBuf>,
    /// What was extracted.
    pub stats: ArchiveStats,
}

impl Extractor {
    /// Extracts into `root`, which must exist and be empty.
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            dirs: Vec::new(),
            checked_parent: None,
            stats: ArchiveStats::default(),
        }
    }

    /// Extracts every entry of `archive`; with `write = false`, only checks them (verify).
    pub fn extract<R: Read>(
        &mut self,
        archive: &mut tar::Archive<R>,
        write: bool,
        progress: &mut Progress,
        interrupt: &Interrupt,
    ) -> Result<(), CliError> {
        let read_err = |err: io::Error| CliError::Io {
            context: "reading the snapshot's archive".to_owned(),
            source: err,
        };
        for entry in archive.entries().map_err(read_err)? {
            if interrupt.is_set() {
                return Err(CliError::Interrupted);
            }
            let mut entry = entry.map_err(read_err)?;
            let header_path = entry.path().map_err(read_err)?.into_owned();
            let rel = checked_relative(&header_path)?;
            let mode = entry.header().mode().map_err(read_err)? & 0o777;
            let mtime = i64::try_from(entry.header().mtime().map_err(read_err)?).unwrap_or(0);
            let kind = entry.header().entry_type();
            let full = self.root.join(&rel);
            match kind {
                EntryType::Directory => {
                    self.stats.dirs += 1;
                    if write {
                        self.ensure_parent(&rel)?;
                        match fs::symlink_metadata(&full) {
                            Ok(meta) if meta.is_dir() && !meta.file_type().is_symlink() => {}
                            Ok(_) => return Err(duplicate(&rel)),
                            Err(_) => make_dir(&full)?,
                        }
                        self.dirs.push((full, mode, mtime));
                    }
                }
                EntryType::Regular | EntryType::Continuous => {
                    self.stats.files += 1;
                    self.stats.source_bytes += entry.size();
                    if write {
                        self.ensure_parent(&rel)?;
                        let mut file = OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .mode(0o600)
                            .open(&full)
                            .map_err(|err| {
                                if err.kind() == io::ErrorKind::AlreadyExists {
                                    duplicate(&rel)
                                } else {
                                    CliError::io("creating", &full, err)
                                }
                            })?;
                        copy_counted(&mut entry, &mut file, progress, interrupt)
                            .map_err(|err| classify(err, &full))?;
                        file.set_permissions(fs::Permissions::from_mode(mode))
                            .and_then(|()| file.set_modified(time_of(mtime)))
                            .map_err(|err| CliError::io("setting the metadata of", &full, err))?;
                    } else {
                        copy_counted(&mut entry, &mut io::sink(), progress, interrupt)
                            .map_err(|err| classify(err, &full))?;
                    }
                }
                EntryType::Symlink => {
                    self.stats.symlinks += 1;
                    let target = entry
                        .link_name()
                        .map_err(read_err)?
                        .ok_or_else(|| malformed(&rel, "a symbolic link without a target"))?
                        .into_owned();
                    if write {
                        self.ensure_parent(&rel)?;
                        std::os::unix::fs::symlink(&target, &full).map_err(|err| {
                            if err.kind() == io::ErrorKind::AlreadyExists {
                                duplicate(&rel)
                            } else {
                                CliError::io("creating the symbolic link", &full, err)
                            }
                        })?;
                        let time = filetime::FileTime::from_unix_time(mtime, 0);
                        filetime::set_symlink_file_times(&full, time, time)
                            .map_err(|err| CliError::io("setting the time of", &full, err))?;
                    }
                }
                other => {
                    return Err(malformed(
                        &rel,
                        &format!("an entry of a type e2ee-backup never writes ({other:?})"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Gives directories their mode and time, deepest first (after all their contents).
    pub fn finish(&mut self) -> Result<(), CliError> {
        for (path, mode, mtime) in self.dirs.drain(..).rev() {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .and_then(|()| {
                    let time = filetime::FileTime::from_unix_time(mtime, 0);
                    filetime::set_file_mtime(&path, time)
                })
                .map_err(|err| CliError::io("setting the metadata of", &path, err))?;
        }
        Ok(())
    }

    /// Checks (creating missing ones) that every parent directory of `rel` is a real
    /// directory inside the root: never a symlink or a file.
    fn ensure_parent(&mut self, rel: &Path) -> Result<(), CliError> {
        let Some(parent) = rel.parent() else {
            return Ok(());
        };
        if parent.as_os_str().is_empty() || self.checked_parent.as_deref() == Some(parent) {
            return Ok(());
        }
        let mut current = self.root.clone();
        for component in parent.components() {
            current.push(component);
            match fs::symlink_metadata(&current) {
                Ok(meta) if meta.is_dir() && !meta.file_type().is_symlink() => {}
                Ok(_) => {
                    return Err(CliError::Integrity(format!(
                        "the snapshot's archive has an entry {} that goes through {}, which is \
                         not a directory (a symbolic link or a file); nothing was restored",
                        rel.display(),
                        current.display()
                    )));
                }
                Err(err) if err.kind() == io::ErrorKind::NotFound => make_dir(&current)?,
                Err(err) => return Err(CliError::io("checking", &current, err)),
            }
        }
        self.checked_parent = Some(parent.to_path_buf());
        Ok(())
    }
}

/// The entry's path if it is relative and stays inside the root (no `/…`, no `..`).
fn checked_relative(path: &Path) -> Result<PathBuf, CliError> {
    let mut rel = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => rel.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(CliError::Integrity(format!(
                    "the snapshot's archive has an entry {} that points outside the target \
                     (absolute or with `..`); nothing was restored",
                    path.display()
                )));
            }
        }
    }
    if rel.as_os_str().is_empty() {
        return Err(malformed(path, "an entry with an empty path"));
    }
    Ok(rel)
}

fn make_dir(path: &Path) -> Result<(), CliError> {
    let mut builder = fs::DirBuilder::new();
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(path)
        .map_err(|err| CliError::io("creating the folder", path, err))
}

fn duplicate(rel: &Path) -> CliError {
    malformed(rel, "an entry that exists already (a duplicate)")
}

fn malformed(rel: &Path, what: &str) -> CliError {
    CliError::Integrity(format!(
        "the snapshot's archive has {what}: {}; nothing was restored",
        rel.display()
    ))
}

fn time_of(unix_s: i64) -> SystemTime {
    match u64::try_from(unix_s) {
        Ok(secs) => UNIX_EPOCH + Duration::from_secs(secs),
        Err(_) => UNIX_EPOCH,
    }
}

fn copy_counted(
    from: &mut impl Read,
    to: &mut impl Write,
    progress: &mut Progress,
    interrupt: &Interrupt,
) -> io::Result<()> {
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        interrupt.check()?;
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        to.write_all(buf.get(..n).unwrap_or_default())?;
        progress.add(n as u64);
    }
}

fn classify(err: io::Error, path: &Path) -> CliError {
    match err.get_ref() {
        Some(inner) if inner.is::<crate::progress::Interrupted>() => CliError::Interrupted,
        _ => CliError::io("restoring", path, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(path bytes, type, link target, content)` of one raw tar entry.
    type RawEntry<'a> = (&'a [u8], EntryType, &'a [u8], &'a [u8]);

    /// A tar archive of the given entries, built without the tar crate's path checks (as a
    /// hostile archive would be).
    fn raw_archive(entries: &[RawEntry<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, kind, link, content) in entries {
            let mut header = Header::new_old();
            header.as_old_mut().name[..path.len()].copy_from_slice(path);
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            header.set_size(content.len() as u64);
            header.set_cksum();
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(content);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    fn extract(bytes: &[u8], root: &Path) -> Result<ArchiveStats, CliError> {
        let mut extractor = Extractor::new(root);
        let mut progress = Progress::new("test", 0, true);
        extractor.extract(
            &mut tar::Archive::new(bytes),
            true,
            &mut progress,
            &Interrupt::default(),
        )?;
        extractor.finish()?;
        Ok(extractor.stats)
    }

    fn hostile(entries: &[RawEntry<'_>]) -> (tempfile::TempDir, String) {
        let outer = tempfile::tempdir().expect("temp dir");
        let root = outer.path().join("root");
        fs::create_dir(&root).expect("root");
        let err = extract(&raw_archive(entries), &root).expect_err("hostile archive accepted");
        assert!(matches!(err, CliError::Integrity(_)), "{err:?}");
        // Nothing was written next to the root.
        let outside: Vec<_> = fs::read_dir(outer.path())
            .expect("outer")
            .flatten()
            .collect();
        assert_eq!(outside.len(), 1, "something was written outside the root");
        (outer, err.to_string())
    }

    #[test]
    fn refuses_entries_with_dot_dot() {
        let (_dir, msg) = hostile(&[(b"a/../../evil", EntryType::Regular, b"", b"x")]);
        assert!(msg.contains("outside the target"), "{msg}");
    }

    #[test]
    fn refuses_absolute_entries() {
        let (_dir, msg) = hostile(&[(b"/tmp/e2ee-backup-evil", EntryType::Regular, b"", b"x")]);
        assert!(msg.contains("outside the target"), "{msg}");
        assert!(!Path::new("/tmp/e2ee-backup-evil").exists());
    }

    #[test]
    fn refuses_to_write_through_a_symlink() {
        let (dir, msg) = hostile(&[
            (b"link", EntryType::Symlink, b"..", b""),
            (b"link/evil", EntryType::Regular, b"", b"x"),
        ]);
        assert!(msg.contains("not a directory"), "{msg}");
        assert!(!dir.path().join("evil").exists());
    }

    #[test]
    fn refuses_to_replace_a_symlink_with_a_file() {
        let (_dir, msg) = hostile(&[
            (b"link", EntryType::Symlink, b"../outside", b""),
            (b"link", EntryType::Regular, b"", b"x"),
        ]);
        assert!(msg.contains("duplicate"), "{msg}");
    }

    #[test]
    fn refuses_hard_links_and_devices() {
        hostile(&[(b"hard", EntryType::Link, b"/etc/passwd", b"")]);
        hostile(&[(b"dev", EntryType::Char, b"", b"")]);
    }

    #[test]
    fn extracts_a_plain_archive() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stats = extract(
            &raw_archive(&[
                (b"d", EntryType::Directory, b"", b""),
                (b"d/f", EntryType::Regular, b"", b"hello"),
                (b"./g", EntryType::Regular, b"", b""),
                (b"l", EntryType::Symlink, b"/etc/hosts", b""),
            ]),
            dir.path(),
        )
        .expect("extracts");
        assert_eq!((stats.files, stats.dirs, stats.symlinks), (2, 1, 1));
        assert_eq!(fs::read(dir.path().join("d/f")).expect("f"), b"hello");
        assert_eq!(
            fs::read_link(dir.path().join("l")).expect("l"),
            Path::new("/etc/hosts")
        );
    }
}
