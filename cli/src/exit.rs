//! The command's exit codes (README "Exit codes").

/// Exit status of a successful run.
pub const EXIT_OK: u8 = 0;
/// Exit status of an error not covered by a more specific code (I/O, store, refused operation).
pub const EXIT_ERROR: u8 = 1;
/// Exit status of a command-line usage error (clap uses the same code).
pub const EXIT_USAGE: u8 = 2;
/// Exit status of a backup that was made but left out entries it could not read.
pub const EXIT_PARTIAL: u8 = 3;
/// Exit status of a key problem: no key, a mistyped recovery key, a key of another repository.
pub const EXIT_KEY: u8 = 4;
/// Exit status of an integrity failure: a snapshot or repository object failed authentication.
pub const EXIT_INTEGRITY: u8 = 5;
/// Exit status of a wrong vault password (the message says how many attempts are left).
pub const EXIT_WRONG_PASSWORD: u8 = 6;
/// Exit status of a locked vault record: the attempts are used up and the key is erased.
pub const EXIT_LOCKED: u8 = 7;
/// Exit status when the vault holds no key for the account (never registered, or deleted).
pub const EXIT_NO_RECORD: u8 = 8;
/// Exit status when the vault cannot be reached or does not answer in time: try again later.
pub const EXIT_UNAVAILABLE: u8 = 9;
/// Exit status after SIGINT, SIGTERM or SIGHUP (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;
