//! The commands: each returns the exit status of a run that did its job.

use std::cell::Cell;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use e2ee_backup::internal::stream::{DEFAULT_SEGMENT_SIZE, HEADER_LEN, StreamReader, StreamWriter};
use e2ee_backup::{BackupKey, RecoveryKey, StreamError};

use crate::archive::{self, ArchiveStats, Extractor};
use crate::error::{CliError, describe_stream_error, stream_error_of};
use crate::exit::{EXIT_OK, EXIT_PARTIAL};
use crate::keys;
use crate::location;
use crate::progress::{self, Interrupt, Progress};
use crate::repo::{self, Compression, IfMissing, Manifest, Repository, SnapshotId};
use crate::store::{ObjectWriter, Store};
use crate::vault::{self, NEW_PASSWORD_ENV, PASSWORD_ENV};
use crate::{
    BackupArgs, Cli, Command, CompressionArg, ImportArgs, InitArgs, KeyArgs, KeyCommand, ListArgs,
    RestoreArgs, VaultArgs, VaultCommand, VerifyArgs,
};

/// Runs one command.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    let key_file = cli.key_file.clone();
    let quiet = cli.quiet;
    match cli.command {
        Command::Init(args) => init(key_file, &args),
        Command::Backup(args) => backup(key_file, quiet, &args),
        Command::Restore(args) => restore(key_file, quiet, &args),
        Command::List(args) => list(key_file, &args),
        Command::Verify(args) => verify(key_file, quiet, &args),
        Command::Key(KeyCommand::Show) => key_show(key_file),
        Command::Key(KeyCommand::Import(args)) => key_import(key_file, &args),
        Command::Key(KeyCommand::Recover(args)) => key_recover(key_file, &args.vault),
        Command::Vault(command) => vault_command(key_file, command),
    }
}

fn key_file_path(key_file: Option<PathBuf>) -> Result<PathBuf, CliError> {
    key_file.or_else(keys::default_key_file).ok_or_else(|| {
        CliError::Key("no key file location: set HOME, or pass --key-file FILE".to_owned())
    })
}

fn load_key(key_file: Option<PathBuf>, args: &KeyArgs) -> Result<BackupKey, CliError> {
    if args.password {
        let endpoint = vault::endpoint(&args.vault)?;
        let password = vault::current_password(&args.vault)?;
        let key = vault::recover(&endpoint, password.as_bytes())?;
        eprintln!(
            "recovered the backup key from the vault (not saved on this device: `e2ee-backup key \
             recover` saves it)"
        );
        return Ok(key);
    }
    key_from_files(key_file, args.recovery_key_file.as_deref())
}

/// The key from the recovery key at `recovery_key_file` if one is named, else the key file.
fn key_from_files(
    key_file: Option<PathBuf>,
    recovery_key_file: Option<&Path>,
) -> Result<BackupKey, CliError> {
    match recovery_key_file {
        Some(source) => keys::read_recovery_key(source),
        None => keys::read_key_file(&key_file_path(key_file)?),
    }
}

/// `key recover`: the key from the vault, saved as the key file (which is never replaced).
fn key_recover(key_file: Option<PathBuf>, args: &VaultArgs) -> Result<u8, CliError> {
    let path = key_file_path(key_file)?;
    // A key file already there: find out before an attempt is spent.
    let existing = keys::read_key_file_if_present(&path)?;
    let endpoint = vault::endpoint(args)?;
    let password = vault::current_password(args)?;
    let key = vault::recover(&endpoint, password.as_bytes())?;
    match existing {
        Some(existing) if existing == key => {
            eprintln!(
                "recovered the backup key; the key file {} already holds it",
                path.display()
            );
            Ok(EXIT_OK)
        }
        Some(_) => Err(CliError::Refused(format!(
            "recovered a backup key, but the key file {} holds another one and is never replaced \
             (a lost key loses every backup made with it): give --key-file a new path",
            path.display()
        ))),
        None => {
            keys::write_key_file(&path, &key)?;
            eprintln!(
                "recovered the backup key and saved it in {} (readable by you only)",
                path.display()
            );
            Ok(EXIT_OK)
        }
    }
}

fn vault_command(key_file: Option<PathBuf>, command: VaultCommand) -> Result<u8, CliError> {
    match command {
        VaultCommand::Register(args) => {
            let key = key_from_files(key_file, args.recovery_key_file.as_deref())?;
            let endpoint = vault::endpoint(&args.vault)?;
            let password = vault::new_password(args.vault.password_file.as_deref(), PASSWORD_ENV)?;
            let generation = vault::register(&endpoint, password.as_bytes(), &key, args.attempts)?;
            report_registered(generation, args.attempts);
        }
        VaultCommand::ChangePassword(args) => {
            let path = key_file_path(key_file)?;
            let expected = keys::read_key_file_if_present(&path)?;
            let endpoint = vault::endpoint(&args.vault)?;
            let current = vault::current_password(&args.vault)?;
            let new = vault::new_password(args.new_password_file.as_deref(), NEW_PASSWORD_ENV)?;
            let generation = vault::change_password(
                &endpoint,
                current.as_bytes(),
                new.as_bytes(),
                expected.as_ref(),
                args.attempts,
            )?;
            eprintln!("the password is changed");
            report_registered(generation, args.attempts);
        }
        VaultCommand::Delete(args) => {
            let endpoint = vault::endpoint(&args.vault)?;
            if !args.yes
                && !vault::confirm(&format!(
                    "Delete the backup key of account {:?} from the vault? The key file, the \
                     recovery key and the backups stay.",
                    String::from_utf8_lossy(endpoint.account.as_bytes())
                ))
            {
                return Err(CliError::Refused(
                    "not deleted: confirm on the terminal, or pass --yes".to_owned(),
                ));
            }
            let password = vault::current_password(&args.vault)?;
            vault::delete(&endpoint, password.as_bytes())?;
            println!("deleted: the vault no longer holds the backup key of this account");
        }
        VaultCommand::Status(args) => {
            let endpoint = vault::endpoint(&args.vault)?;
            let (state, attempts, _) = vault::status(&endpoint)?;
            println!("{}", vault::describe_status(state, attempts));
        }
    }
    Ok(EXIT_OK)
}

fn report_registered(generation: u64, attempts: u32) {
    println!(
        "the vault holds the backup key behind your password (record generation {generation}); \
         after {attempts} wrong guesses it is erased for good. On a new device: `e2ee-backup key \
         recover`, or `restore --password`."
    );
}

fn init(key_file: Option<PathBuf>, args: &InitArgs) -> Result<u8, CliError> {
    let path = key_file_path(key_file)?;
    // Refused now, before a password is asked for (write_key_file checks again).
    keys::refuse_existing_key_file(&path)?;
    // The vault and the password first: nothing is made if either is wrong.
    let vault_setup = if args.password {
        let endpoint = vault::endpoint(&args.vault)?;
        let password = vault::new_password(args.vault.password_file.as_deref(), PASSWORD_ENV)?;
        Some((endpoint, password))
    } else {
        None
    };
    let key = keys::generate_backup_key()?;
    keys::write_key_file(&path, &key)?;
    let recovery = RecoveryKey::from_backup_key(&key);
    let lines = recovery.to_lines();
    let mut out = io::stdout().lock();
    let shown = writeln!(
        out,
        "Made a new backup key and saved it in {} (readable by you only).\n\n\
         Your recovery key. Write it down and keep it somewhere safe: if this device and its key\n\
         file are lost, it is the only way to restore your backups. Anyone who has it can read\n\
         them.\n",
        path.display()
    )
    .and_then(|()| {
        for line in lines.lines() {
            writeln!(out, "    {line}")?;
        }
        writeln!(
            out,
            "\n`e2ee-backup key show` prints it again; `e2ee-backup key import` sets up a new \
             device with it."
        )
    });
    shown.map_err(|err| CliError::io("writing to", Path::new("stdout"), err))?;
    if let Some((endpoint, password)) = vault_setup {
        let registered = vault::register(&endpoint, password.as_bytes(), &key, args.attempts);
        match registered {
            Ok(generation) => report_registered(generation, args.attempts),
            Err(err) => {
                eprintln!(
                    "the key file and the recovery key are saved, but the vault does not hold the \
                     key yet: `e2ee-backup vault register` tries again"
                );
                return Err(err.into());
            }
        }
    }
    if let Some(repo_path) = &args.repo {
        let store = location::open(repo_path)?;
        let (_, created) = Repository::open(store.as_ref(), key, IfMissing::Create)?;
        eprintln!(
            "{} repository at {}",
            if created {
                "created a new"
            } else {
                "using the existing"
            },
            store.location()
        );
    }
    Ok(EXIT_OK)
}

/// Writes the stream into the object, keeping the 80 header bytes and counting the length.
struct DataSink<'s> {
    object: Box<dyn ObjectWriter + 's>,
    header: Vec<u8>,
    len: u64,
}

impl Write for DataSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.object.write(buf)?;
        let room = HEADER_LEN.saturating_sub(self.header.len()).min(n);
        self.header
            .extend_from_slice(buf.get(..room).unwrap_or_default());
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.object.flush()
    }
}

/// Counts the bytes written through it (the tar archive's length).
struct CountingWriter<W> {
    inner: W,
    len: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The archive goes through this into the stream cipher.
enum Compressor<'s> {
    Zstd(zstd::Encoder<'static, StreamWriter<DataSink<'s>>>),
    Plain(StreamWriter<DataSink<'s>>),
}

impl<'s> Compressor<'s> {
    fn finish(self) -> io::Result<StreamWriter<DataSink<'s>>> {
        match self {
            Self::Zstd(encoder) => encoder.finish(),
            Self::Plain(stream) => Ok(stream),
        }
    }
}

impl Write for Compressor<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Zstd(encoder) => encoder.write(buf),
            Self::Plain(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Zstd(encoder) => encoder.flush(),
            Self::Plain(stream) => stream.flush(),
        }
    }
}

fn backup(key_file: Option<PathBuf>, quiet: bool, args: &BackupArgs) -> Result<u8, CliError> {
    let key = load_key(key_file, &args.key)?;
    let root = std::path::absolute(&args.path)
        .map_err(|err| CliError::io("resolving", &args.path, err))?;
    let root_meta = fs::metadata(&root).map_err(|err| CliError::io("reading", &root, err))?;
    if !root_meta.is_dir() {
        return Err(CliError::Refused(format!(
            "{} is not a folder; e2ee-backup backs up folders",
            root.display()
        )));
    }
    let store = location::open(&args.repo)?;
    let (repo, created) = Repository::open(store.as_ref(), key, IfMissing::Create)?;
    if created {
        eprintln!("created a new repository at {}", store.location());
    }
    let interrupt = Interrupt::install()
        .map_err(|err| CliError::io("installing signal handlers for", &root, err))?;
    let created_unix_s = repo::now_unix_s();
    let id = SnapshotId::new(created_unix_s)?;
    let total = archive::scan_size(&root);
    let mut progress = Progress::new("backup", total, quiet);
    let write_err = |err: io::Error| match err.get_ref() {
        Some(inner) if inner.is::<progress::Interrupted>() => CliError::Interrupted,
        _ => CliError::Io {
            context: format!("writing snapshot {} to {}", id.as_str(), store.location()),
            source: err,
        },
    };

    let sink = DataSink {
        object: store.put(&id.data_object())?,
        header: Vec::with_capacity(HEADER_LEN),
        len: 0,
    };
    let stream = StreamWriter::new(repo.key(), DEFAULT_SEGMENT_SIZE, &mut keys::os_rng(), sink)
        .map_err(write_err)?;
    let (compression, compressor) = match args.compression {
        CompressionArg::Zstd => (
            Compression::Zstd,
            Compressor::Zstd(zstd::Encoder::new(stream, args.zstd_level).map_err(write_err)?),
        ),
        CompressionArg::None => (Compression::None, Compressor::Plain(stream)),
    };
    let counting = CountingWriter {
        inner: compressor,
        len: 0,
    };
    let repo_dir = fs::metadata(&args.repo)
        .ok()
        .map(|meta| (meta.dev(), meta.ino()));
    let (counting, stats) =
        archive::write_archive(&root, repo_dir, counting, &mut progress, &interrupt)?;
    let archive_len = counting.len;
    let sink = counting
        .inner
        .finish()
        .and_then(StreamWriter::finish)
        .map_err(write_err)?;
    let data_len = sink.len;
    let data_header: [u8; HEADER_LEN] = sink
        .header
        .as_slice()
        .try_into()
        .map_err(|_| CliError::Integrity("the stream header was not written".to_owned()))?;
    if interrupt.is_set() {
        return Err(CliError::Interrupted);
    }
    sink.object.commit()?;
    progress.finish();

    let manifest = Manifest {
        repo_id: *repo.repo_id(),
        id: id.clone(),
        created_unix_s,
        source_path: root.as_os_str().as_bytes().to_vec(),
        root_mode: root_meta.permissions().mode() & 0o777,
        root_mtime: root_meta.mtime(),
        files: stats.files,
        dirs: stats.dirs,
        symlinks: stats.symlinks,
        skipped: stats.skipped,
        source_bytes: stats.source_bytes,
        archive_len,
        compression,
        data_len,
        data_header,
    };
    repo.put_manifest(&manifest)?;
    let secs = progress.elapsed_s();
    if !quiet {
        eprintln!(
            "snapshot {} saved: {} files, {} folders, {} links, {} of data stored as {} in {:.1} s \
             ({}/s){}",
            id.as_str(),
            stats.files,
            stats.dirs,
            stats.symlinks,
            progress::bytes(stats.source_bytes),
            progress::bytes(data_len),
            secs,
            progress::bytes((stats.source_bytes as f64 / secs.max(1e-3)) as u64),
            if stats.skipped > 0 {
                format!(
                    "; {} entries left out (see the warnings above)",
                    stats.skipped
                )
            } else {
                String::new()
            }
        );
    }
    println!("{}", id.as_str());
    Ok(if stats.skipped > 0 {
        EXIT_PARTIAL
    } else {
        EXIT_OK
    })
}

/// Records the first stream error seen by the reader, whatever wraps it later.
struct Tracked<R> {
    inner: R,
    seen: Rc<Cell<Option<StreamError>>>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|err| {
            if let Some(stream_err) = stream_error_of(err)
                && self.seen.get().is_none()
            {
                self.seen.set(Some(stream_err));
            }
        })
    }
}

/// Counts the bytes read through it (the tar archive's length).
struct CountingReader<R> {
    inner: R,
    len: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.len += n as u64;
        Ok(n)
    }
}

/// Reads a whole snapshot and authenticates it, extracting into `dest` when given. Every error
/// from a stream that failed authentication becomes an integrity error.
fn read_snapshot(
    repo: &Repository<'_>,
    manifest: &Manifest,
    dest: Option<&Path>,
    progress: &mut Progress,
    interrupt: &Interrupt,
) -> Result<ArchiveStats, CliError> {
    let id = manifest.id.as_str();
    let what = if dest.is_some() {
        "; nothing was restored"
    } else {
        ""
    };
    let integrity = |why: String| CliError::Integrity(format!("snapshot {id}: {why}{what}"));
    let store = repo.store();
    let data = manifest.id.data_object();
    let size = store.size(&data)?;
    if size != manifest.data_len {
        return Err(integrity(format!(
            "its data object has {size} bytes but its manifest says {}: it was truncated or \
             extended in the store",
            manifest.data_len
        )));
    }
    let mut object = store.get(&data)?;
    let mut header = [0u8; HEADER_LEN];
    object
        .read_exact(&mut header)
        .map_err(|_| integrity("its data object is shorter than a stream header".to_owned()))?;
    if header != manifest.data_header {
        return Err(integrity(
            "its data object is not the one its manifest was made for (replaced in the store)"
                .to_owned(),
        ));
    }
    let seen = Rc::new(Cell::new(None));
    let stream =
        StreamReader::new(repo.key(), io::Cursor::new(header).chain(object)).map_err(|err| {
            match stream_error_of(&err) {
                Some(stream_err) => integrity(describe_stream_error(stream_err)),
                None => CliError::Io {
                    context: format!("reading snapshot {id}"),
                    source: err,
                },
            }
        })?;
    let tracked = Tracked {
        inner: stream,
        seen: Rc::clone(&seen),
    };
    let plain: Box<dyn Read + '_> = match manifest.compression {
        Compression::Zstd => Box::new(zstd::Decoder::new(tracked).map_err(|err| CliError::Io {
            context: "starting the zstd decoder".to_owned(),
            source: err,
        })?),
        Compression::None => Box::new(tracked),
    };
    let mut archive = tar::Archive::new(CountingReader {
        inner: plain,
        len: 0,
    });
    let mut extractor = Extractor::new(dest.unwrap_or(Path::new(".")));
    let result = extractor
        .extract(&mut archive, dest.is_some(), progress, interrupt)
        .and_then(|()| {
            // Read to the end: only the final segment's check proves nothing was cut off.
            let mut rest = archive.into_inner();
            io::copy(&mut rest, &mut io::sink()).map_err(|err| CliError::Io {
                context: format!("reading snapshot {id}"),
                source: err,
            })?;
            Ok(rest.len)
        });
    if let Some(stream_err) = seen.get() {
        return Err(integrity(describe_stream_error(stream_err)));
    }
    let archive_len = match result {
        Ok(len) => len,
        // The stream authenticated as far as it was read, so a malformed archive (or zstd
        // stream) inside was written so, or by another program with this key.
        Err(CliError::Io { context, source }) => {
            return Err(integrity(format!(
                "malformed archive ({context}: {source})"
            )));
        }
        Err(err) => return Err(err),
    };
    let stats = extractor.stats;
    let expected = ArchiveStats {
        files: manifest.files,
        dirs: manifest.dirs,
        symlinks: manifest.symlinks,
        skipped: 0,
        source_bytes: manifest.source_bytes,
    };
    if archive_len != manifest.archive_len || stats != expected {
        return Err(integrity(
            "its archive does not match its manifest (length or entry counts)".to_owned(),
        ));
    }
    if dest.is_some() {
        extractor.finish()?;
    }
    Ok(stats)
}

fn open_repo<'s>(
    store: &'s dyn Store,
    key_file: Option<PathBuf>,
    key: &KeyArgs,
) -> Result<Repository<'s>, CliError> {
    if key.password {
        // No vault attempt for a store that holds no repository.
        Repository::check_present(store)?;
    }
    let key = load_key(key_file, key)?;
    Ok(Repository::open(store, key, IfMissing::Fail)?.0)
}

fn restore(key_file: Option<PathBuf>, quiet: bool, args: &RestoreArgs) -> Result<u8, CliError> {
    let target =
        std::path::absolute(&args.to).map_err(|err| CliError::io("resolving", &args.to, err))?;
    let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
        return Err(CliError::Refused(format!(
            "cannot restore into {}: give a folder below it",
            target.display()
        )));
    };
    // Refuse early, before the key is even asked for.
    let target_exists = match fs::symlink_metadata(&target) {
        Ok(meta) if meta.is_dir() => true,
        Ok(_) => {
            return Err(CliError::Refused(format!(
                "{} exists and is not a folder",
                target.display()
            )));
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => false,
        Err(err) => return Err(CliError::io("checking", &target, err)),
    };
    let target_nonempty = target_exists
        && fs::read_dir(&target)
            .map_err(|err| CliError::io("reading", &target, err))?
            .next()
            .is_some();
    if target_nonempty && !args.force {
        return Err(CliError::Refused(format!(
            "{} is not empty; restore into a new or empty folder, or pass --force to move its \
             contents aside (to {}.before-restore-<time>) once the restore has succeeded",
            target.display(),
            target.display()
        )));
    }

    let store = location::open(&args.repo)?;
    let repo = open_repo(store.as_ref(), key_file, &args.key)?;
    let id = repo.resolve(&args.snapshot)?;
    let manifest = repo.manifest(&id)?;
    fs::create_dir_all(parent).map_err(|err| CliError::io("creating", parent, err))?;
    let interrupt = Interrupt::install()
        .map_err(|err| CliError::io("installing signal handlers for", &target, err))?;
    let mut temp_name = OsStr::new(".").to_os_string();
    temp_name.push(name);
    temp_name.push(".e2ee-restore-");
    let temp = tempfile::Builder::new()
        .prefix(&temp_name)
        .tempdir_in(parent)
        .map_err(|err| CliError::io("creating a temporary folder in", parent, err))?;
    let mut progress = Progress::new("restore", manifest.source_bytes, quiet);
    let stats = match read_snapshot(
        &repo,
        &manifest,
        Some(temp.path()),
        &mut progress,
        &interrupt,
    ) {
        Ok(stats) => stats,
        Err(err) => {
            progress.finish();
            let temp_path = temp.path().to_path_buf();
            if let Err(rm) = temp.close() {
                eprintln!(
                    "warning: could not remove the temporary folder {}: {rm}",
                    temp_path.display()
                );
            }
            return Err(err);
        }
    };
    progress.finish();
    let temp_path = temp.keep();
    let placed = place(&temp_path, &target, &manifest, target_nonempty);
    if placed.is_err() {
        let _ = fs::remove_dir_all(&temp_path);
    }
    let aside = placed?;
    if let Some(aside) = &aside {
        eprintln!(
            "moved the old contents of {} to {}",
            target.display(),
            aside.display()
        );
    }
    if !quiet {
        eprintln!(
            "restored snapshot {} into {}: {} files, {} folders, {} links, {} in {:.1} s",
            id.as_str(),
            target.display(),
            stats.files,
            stats.dirs,
            stats.symlinks,
            progress::bytes(stats.source_bytes),
            progress.elapsed_s()
        );
    }
    Ok(EXIT_OK)
}

/// Gives the restored root its metadata and renames it to `target` (an absent or empty folder;
/// a non-empty one is first renamed aside, and that name returned).
fn place(
    temp: &Path,
    target: &Path,
    manifest: &Manifest,
    target_nonempty: bool,
) -> Result<Option<PathBuf>, CliError> {
    if manifest.root_mode != 0 {
        fs::set_permissions(temp, fs::Permissions::from_mode(manifest.root_mode))
            .map_err(|err| CliError::io("setting the permissions of", temp, err))?;
    }
    let time = filetime::FileTime::from_unix_time(manifest.root_mtime, 0);
    filetime::set_file_mtime(temp, time)
        .map_err(|err| CliError::io("setting the time of", temp, err))?;
    let aside = if target_nonempty {
        let (y, mo, d, h, mi, s) = repo::civil_from_unix(repo::now_unix_s());
        let mut name = target.as_os_str().to_os_string();
        name.push(format!(
            ".before-restore-{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z"
        ));
        let aside = PathBuf::from(name);
        if fs::symlink_metadata(&aside).is_ok() {
            return Err(CliError::Refused(format!(
                "{} exists already; try again in a second",
                aside.display()
            )));
        }
        fs::rename(target, &aside).map_err(|err| CliError::io("moving aside", target, err))?;
        Some(aside)
    } else {
        None
    };
    // rename(2) replaces an empty directory atomically.
    fs::rename(temp, target).map_err(|err| CliError::io("moving the restore into", target, err))?;
    if let Some(parent) = target.parent() {
        let _ = crate::store::sync_dir(parent);
    }
    Ok(aside)
}

fn verify(key_file: Option<PathBuf>, quiet: bool, args: &VerifyArgs) -> Result<u8, CliError> {
    let store = location::open(&args.repo)?;
    let repo = open_repo(store.as_ref(), key_file, &args.key)?;
    let id = repo.resolve(&args.snapshot)?;
    let manifest = repo.manifest(&id)?;
    let interrupt = Interrupt::install()
        .map_err(|err| CliError::io("installing signal handlers for", Path::new("verify"), err))?;
    let mut progress = Progress::new("verify", manifest.source_bytes, quiet);
    let stats = read_snapshot(&repo, &manifest, None, &mut progress, &interrupt);
    progress.finish();
    let stats = stats?;
    println!(
        "snapshot {}: OK ({} stored bytes authenticated; {} files, {} folders, {} links, {})",
        id.as_str(),
        manifest.data_len,
        stats.files,
        stats.dirs,
        stats.symlinks,
        progress::bytes(stats.source_bytes)
    );
    Ok(EXIT_OK)
}

fn list(key_file: Option<PathBuf>, args: &ListArgs) -> Result<u8, CliError> {
    let store = location::open(&args.repo)?;
    let repo = open_repo(store.as_ref(), key_file, &args.key)?;
    let (ids, orphans) = repo.snapshot_ids()?;
    let mut out = io::stdout().lock();
    let mut damaged = None;
    let mut lines = vec![format!(
        "{:<25}  {:<19}  {:>7}  {:>10}  {:>10}  SOURCE",
        "ID", "CREATED (UTC)", "FILES", "SIZE", "STORED"
    )];
    for id in &ids {
        match repo.manifest(id) {
            Ok(m) => lines.push(format!(
                "{:<25}  {:<19}  {:>7}  {:>10}  {:>10}  {}",
                id.as_str(),
                repo::format_utc(m.created_unix_s),
                m.files,
                progress::bytes(m.source_bytes),
                progress::bytes(m.data_len),
                String::from_utf8_lossy(&m.source_path)
            )),
            Err(err) => {
                lines.push(format!("{:<25}  DAMAGED: {err}", id.as_str()));
                damaged = Some(err);
            }
        }
    }
    for line in lines {
        writeln!(out, "{line}")
            .map_err(|err| CliError::io("writing to", Path::new("stdout"), err))?;
    }
    if orphans > 0 {
        eprintln!(
            "note: {orphans} interrupted backup(s) left a data object without a manifest; they \
             are not snapshots"
        );
    }
    match damaged {
        Some(err) => Err(err),
        None => Ok(EXIT_OK),
    }
}

fn key_show(key_file: Option<PathBuf>) -> Result<u8, CliError> {
    let path = key_file_path(key_file)?;
    let key = keys::read_key_file(&path)?;
    let lines = RecoveryKey::from_backup_key(&key).to_lines();
    eprintln!(
        "The recovery key of {} (anyone who has it can read your backups):",
        path.display()
    );
    let mut out = io::stdout().lock();
    writeln!(out, "{}", lines.as_str())
        .map_err(|err| CliError::io("writing to", Path::new("stdout"), err))?;
    Ok(EXIT_OK)
}

fn key_import(key_file: Option<PathBuf>, args: &ImportArgs) -> Result<u8, CliError> {
    let path = key_file_path(key_file)?;
    let key = keys::read_recovery_key(&args.recovery_key_file)?;
    keys::write_key_file(&path, &key)?;
    eprintln!("saved the key in {}", path.display());
    Ok(EXIT_OK)
}
