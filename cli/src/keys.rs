//! The backup key on this device: the key file, the recovery key, and the OS RNG.
//!
//! Key file format (SPEC.md "CLI formats", "Key file"): UTF-8 text; lines starting with `#` and
//! blank lines are comments; exactly one line `e2ee-backup-key-v1 <recovery key>`, where the
//! recovery key is in its standard dashed form. The recovery key's own checksum detects a damaged
//! file. The file is created with mode 0600 in a folder created with mode 0700.

use std::fs;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use e2ee_backup::internal::rng::Compat;
use e2ee_backup::{BACKUP_KEY_LEN, BackupKey, RecoveryKey};
use rand::rand_core::{TryRng, UnwrapErr};
use rand::rngs::SysRng;
use zeroize::Zeroizing;

use crate::error::CliError;

/// The tag of the key line of a version 1 key file.
pub const KEY_FILE_TAG_V1: &str = "e2ee-backup-key-v1";

/// Longest key file or recovery key input read (a key file is about 300 bytes).
const MAX_KEY_INPUT: u64 = 16 * 1024;

/// The OS RNG (getrandom) as the `rand_core` 0.6 RNG the core crate takes: rand 0.10's
/// `SysRng` through the core crate's [`Compat`] adapter. It panics only if the OS RNG fails
/// after [`generate_backup_key`] succeeded with it.
pub fn os_rng() -> Compat<UnwrapErr<SysRng>> {
    Compat(UnwrapErr(SysRng))
}

/// A fresh random 256-bit backup key from the OS RNG; an OS failure is an error, not a panic.
pub fn generate_backup_key() -> Result<BackupKey, CliError> {
    let mut bytes = Zeroizing::new([0u8; BACKUP_KEY_LEN]);
    SysRng
        .try_fill_bytes(bytes.as_mut())
        .map_err(|err| CliError::Io {
            context: "reading the operating system's random number generator".to_owned(),
            source: io::Error::other(err.to_string()),
        })?;
    Ok(BackupKey::from_bytes(*bytes))
}

/// The key file's text for `key`.
pub fn key_file_text(key: &BackupKey) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "# e2ee-backup key file (format 1; SPEC.md \"CLI formats\").\n\
         # Anyone who has this file can read every backup made with it: keep it private.\n\
         # The key line holds the recovery key; `e2ee-backup key show` prints it.\n\
         {KEY_FILE_TAG_V1} {}\n",
        RecoveryKey::from_backup_key(key)
    ))
}

/// Reads a key file's text.
pub fn parse_key_file(text: &str, path: &Path) -> Result<BackupKey, CliError> {
    let mut key = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: String| CliError::Key(format!("key file {}: {why}", path.display()));
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        if tag != KEY_FILE_TAG_V1 {
            return Err(bad(if tag.starts_with("e2ee-backup-key-v") {
                format!(
                    "format {tag:?} is not supported by this version (it reads {KEY_FILE_TAG_V1})"
                )
            } else {
                "not an e2ee-backup key file".to_owned()
            }));
        }
        if key.is_some() {
            return Err(bad("more than one key line".to_owned()));
        }
        let parsed = RecoveryKey::parse(rest)
            .map_err(|err| bad(format!("the key line is damaged: {err}")))?;
        key = Some(parsed.to_backup_key());
    }
    key.ok_or_else(|| {
        CliError::Key(format!(
            "key file {}: no key line (is it an e2ee-backup key file?)",
            path.display()
        ))
    })
}

/// The default key file: `$XDG_CONFIG_HOME/e2ee-backup/key`, else `~/.config/e2ee-backup/key`.
pub fn default_key_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("e2ee-backup").join("key"))
}

/// Writes a new key file (mode 0600, folder 0700); never replaces an existing one.
pub fn write_key_file(path: &Path, key: &BackupKey) -> Result<(), CliError> {
    refuse_existing_key_file(path)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir)?;
    let mut file = tempfile::Builder::new()
        .prefix(".key-")
        .permissions(private_file_permissions())
        .tempfile_in(&dir)
        .map_err(|err| CliError::io("creating a key file in", &dir, err))?;
    let text = key_file_text(key);
    file.write_all(text.as_bytes())
        .and_then(|()| file.as_file().sync_all())
        .map_err(|err| CliError::io("writing the key file", path, err))?;
    file.persist_noclobber(path)
        .map_err(|err| CliError::io("saving the key file", path, err.error))?;
    crate::store::sync_dir(&dir).map_err(|err| CliError::io("syncing", &dir, err))
}

/// Fails if something is at `path` already: a key file is never replaced.
pub fn refuse_existing_key_file(path: &Path) -> Result<(), CliError> {
    if fs::symlink_metadata(path).is_ok() {
        return Err(CliError::Refused(format!(
            "a key file exists already at {}; it is never replaced (a lost key loses every backup \
             made with it). Use --key-file to choose another path",
            path.display()
        )));
    }
    Ok(())
}

fn private_file_permissions() -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    fs::Permissions::from_mode(0o600)
}

fn create_private_dir(dir: &Path) -> Result<(), CliError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|err| CliError::io("creating the folder", dir, err))
}

/// Reads the key file at `path`. Warns (on stderr) when others may read it.
pub fn read_key_file(path: &Path) -> Result<BackupKey, CliError> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(CliError::Key(format!(
                "no key file at {}: run `e2ee-backup init` on this device, or give the recovery \
                 key with --recovery-key-file FILE (or --recovery-key-file - to type it)",
                path.display()
            )));
        }
        Err(err) => return Err(CliError::io("opening the key file", path, err)),
    };
    if let Ok(meta) = file.metadata() {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: key file {} can be read by other users (mode {:o}); run chmod 600 on it",
                path.display(),
                meta.permissions().mode() & 0o777
            );
        }
    }
    let text = read_bounded(file).map_err(|err| CliError::io("reading the key file", path, err))?;
    parse_key_file(&text, path)
}

/// The key file at `path` if there is one (anything at `path` must be a valid key file).
pub fn read_key_file_if_present(path: &Path) -> Result<Option<BackupKey>, CliError> {
    if fs::symlink_metadata(path).is_ok() {
        read_key_file(path).map(Some)
    } else {
        Ok(None)
    }
}

fn read_bounded(reader: impl Read) -> io::Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::with_capacity(MAX_KEY_INPUT as usize));
    reader.take(MAX_KEY_INPUT).read_to_string(&mut text)?;
    Ok(text)
}

/// Reads a recovery key from a file, or with `-` from standard input: a hidden prompt (three
/// tries) when it is a terminal, the whole input otherwise.
pub fn read_recovery_key(source: &Path) -> Result<BackupKey, CliError> {
    let mistyped = |origin: &str, err: e2ee_backup::RecoveryKeyError| {
        CliError::Key(format!("recovery key {origin}: {err}"))
    };
    if source == Path::new("-") {
        if io::stdin().is_terminal() {
            let mut last = None;
            for _ in 0..3 {
                let typed = Zeroizing::new(
                    rpassword::prompt_password("Recovery key (64 characters, dashes optional): ")
                        .map_err(|err| CliError::io("reading the recovery key from", source, err))?,
                );
                match RecoveryKey::parse(&typed) {
                    Ok(key) => return Ok(key.to_backup_key()),
                    Err(err) => {
                        eprintln!("{err}");
                        last = Some(err);
                    }
                }
            }
            return Err(match last {
                Some(err) => mistyped("typed in", err),
                None => CliError::Key("no recovery key typed in".to_owned()),
            });
        }
        let text = read_bounded(io::stdin().lock()).map_err(|err| {
            CliError::io("reading the recovery key from", Path::new("stdin"), err)
        })?;
        return RecoveryKey::parse(&text)
            .map(|key| key.to_backup_key())
            .map_err(|err| mistyped("from standard input", err));
    }
    let file = fs::File::open(source)
        .map_err(|err| CliError::io("opening the recovery key file", source, err))?;
    let text = read_bounded(file)
        .map_err(|err| CliError::io("reading the recovery key file", source, err))?;
    // A key file works too: its key line holds the recovery key.
    if text
        .lines()
        .any(|line| line.trim_start().starts_with(KEY_FILE_TAG_V1))
    {
        return parse_key_file(&text, source);
    }
    RecoveryKey::parse(&text)
        .map(|key| key.to_backup_key())
        .map_err(|err| mistyped(&format!("in {}", source.display()), err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trips_and_detects_damage() {
        let key = BackupKey::from_bytes([7; 32]);
        let text = key_file_text(&key);
        let path = Path::new("k");
        assert!(parse_key_file(&text, path).expect("parses") == key);

        // One character of the key line changed: the recovery key checksum catches it.
        let line_start = text.find(KEY_FILE_TAG_V1).expect("key line") + KEY_FILE_TAG_V1.len() + 1;
        let mut damaged = text.to_string();
        let old = damaged.as_bytes()[line_start + 2];
        let new = if old == b'Z' { "Y" } else { "Z" };
        damaged.replace_range(line_start + 2..line_start + 3, new);
        let err = parse_key_file(&damaged, path).expect_err("damaged key accepted");
        assert!(err.to_string().contains("check character 3"), "{err}");

        let future = text.replace(KEY_FILE_TAG_V1, "e2ee-backup-key-v2");
        let err = parse_key_file(&future, path).expect_err("v2 accepted");
        assert!(err.to_string().contains("not supported"), "{err}");
        assert!(parse_key_file("# only comments\n", path).is_err());
        let twice = format!("{}{}", &*text, &*text);
        assert!(parse_key_file(&twice, path).is_err());
    }

    #[test]
    fn generated_keys_differ() {
        let a = generate_backup_key().expect("os rng");
        let b = generate_backup_key().expect("os rng");
        assert!(a != b);
    }
}
