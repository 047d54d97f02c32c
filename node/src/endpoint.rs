//! Where a client finds the vault, and one vault operation from start to outcome: what the
//! `e2ee-vault client` command and the backup CLI's password path share.
//!
//! A client needs four things from the operator: the relay's address, the relay's TLS
//! certificate (pinned: no other certificate is accepted), the fleet public keys file (the
//! requests are sealed to it), and an account token. A *vault folder* holds the first three as
//! the fleet's provisioning writes them: `relay.toml` (its `listen` address), [`CERT_FILE`] and
//! [`PUBLIC_KEYS_FILE`]. If the folder also holds the token key ([`TOKEN_KEY_FILE`]: a local
//! test fleet, never a production one), a token is issued from it when none is given.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use e2ee_backup::internal::client::{Client, ClientConfig, ClientOutcome};
use e2ee_backup::internal::crypto::FleetPublicKeys;
use e2ee_backup::{AccountId, BackupKey};

use crate::client_link::{ClientLink, LinkError};
use crate::config::RelayConfigFile;
use crate::provision::{CERT_FILE, PUBLIC_KEYS_FILE, TOKEN_KEY_FILE};
use crate::token::{self, TokenKey};
use crate::{Suite, files};

/// How long a token issued from a local fleet's token key is valid.
pub const LOCAL_TOKEN_VALID_S: u64 = 3_600;

/// What the client was told about the vault; each `None` is looked up in `dir`.
#[derive(Clone, Debug, Default)]
pub struct EndpointSource {
    /// A vault folder (see the module docs).
    pub dir: Option<PathBuf>,
    /// The relay's address (overrides the folder's `relay.toml`).
    pub relay: Option<SocketAddr>,
    /// The relay's name in its certificate.
    pub server_name: String,
    /// The pinned relay certificate, PEM (overrides the folder's).
    pub cert: Option<PathBuf>,
    /// The fleet public keys file (overrides the folder's).
    pub fleet: Option<PathBuf>,
    /// The account (defaults to the one the token names).
    pub account: Option<String>,
    /// The account token (else issued from the folder's token key, if it has one).
    pub token: Option<String>,
}

/// Why the vault's endpoint could not be worked out. The message names the missing piece.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EndpointError(String);

/// A resolved endpoint: everything needed to open a [`ClientLink`] and run a [`Client`].
pub struct VaultEndpoint {
    /// The relay's address.
    pub relay: SocketAddr,
    /// The relay's name in its certificate.
    pub server_name: String,
    /// The pinned certificate (PEM).
    pub pinned_pem: Vec<u8>,
    /// The fleet's public keys.
    pub fleet: FleetPublicKeys,
    /// The account.
    pub account: AccountId,
    /// Its token.
    pub token: String,
}

impl EndpointSource {
    fn in_dir(&self, name: &str) -> Option<PathBuf> {
        self.dir.as_deref().map(|d| d.join(name))
    }

    /// Reads the files and works out the account and its token.
    pub fn resolve(&self) -> Result<VaultEndpoint, EndpointError> {
        let err = |m: String| EndpointError(m);
        let relay = match (self.relay, self.dir.as_deref()) {
            (Some(a), _) => a,
            (None, Some(d)) => {
                RelayConfigFile::load(&d.join("relay.toml"))
                    .map_err(|e| err(format!("the vault folder's relay address: {e}")))?
                    .listen
            }
            (None, None) => return Err(err("no vault given: name a vault folder".into())),
        };
        let cert = self
            .cert
            .clone()
            .or_else(|| self.in_dir(CERT_FILE))
            .ok_or_else(|| err("no relay certificate: name a vault folder".into()))?;
        let fleet_path = self
            .fleet
            .clone()
            .or_else(|| self.in_dir(PUBLIC_KEYS_FILE))
            .ok_or_else(|| err("no fleet public keys: name a vault folder".into()))?;
        let pinned_pem = files::read(&cert).map_err(|e| err(e.to_string()))?;
        let fleet_bytes = files::read(&fleet_path).map_err(|e| err(e.to_string()))?;
        let fleet = FleetPublicKeys::from_bytes(&fleet_bytes).map_err(|_| {
            err(format!(
                "{}: not a fleet public keys file",
                fleet_path.display()
            ))
        })?;
        let named = match self.account.as_deref() {
            Some(a) => Some(
                AccountId::new(a.as_bytes())
                    .map_err(|_| err("the account id must be 1 to 255 bytes".into()))?,
            ),
            None => None,
        };
        let (account, token) = match (&self.token, named) {
            (Some(t), named) => {
                let of_token =
                    token::account_of(t).map_err(|e| err(format!("the account token: {e}")))?;
                if named.as_ref().is_some_and(|a| *a != of_token) {
                    return Err(err(
                        "the account token is for another account than the one named".into(),
                    ));
                }
                (of_token, t.trim().to_string())
            }
            (None, Some(account)) => {
                let key_path = self.in_dir(TOKEN_KEY_FILE).filter(|p| p.exists());
                let Some(key_path) = key_path else {
                    return Err(err(
                        "no account token: give one (the vault's operator issues it)".into(),
                    ));
                };
                let token = issue(&key_path, &account, LOCAL_TOKEN_VALID_S)
                    .map_err(|e| err(e.to_string()))?;
                (account, token)
            }
            (None, None) => return Err(err("no account: name one, or give its token".into())),
        };
        Ok(VaultEndpoint {
            relay,
            server_name: self.server_name.clone(),
            pinned_pem,
            fleet,
            account,
            token,
        })
    }
}

/// A token for `account` from the token key in `key_path`, valid for `valid_for_s` seconds.
pub fn issue(key_path: &Path, account: &AccountId, valid_for_s: u64) -> Result<String, String> {
    let bytes = files::read_secret(key_path).map_err(|e| e.to_string())?;
    let key = TokenKey::from_bytes(&bytes).ok_or("the token key file must hold 32 bytes")?;
    Ok(key.issue(account, token::unix_now().saturating_add(valid_for_s)))
}

/// One vault operation. Passwords are borrowed: the caller keeps (and zeroizes) them.
pub enum Operation<'a> {
    /// Register `key` under `password` (replacing any earlier record), then expose it.
    Register {
        /// The password.
        password: &'a [u8],
        /// The backup key.
        key: &'a BackupKey,
        /// Wrong guesses allowed before the key is erased.
        attempts: u32,
    },
    /// Recover the key with `password` (one attempt).
    Recover {
        /// The password.
        password: &'a [u8],
    },
    /// Delete the record (needs the password; one attempt).
    Delete {
        /// The password.
        password: &'a [u8],
    },
    /// The attempts left, spending none.
    Status,
}

/// How often an operation that ended [`ClientOutcome::Unavailable`] is resumed on the same
/// [`Client`] before that outcome is returned. A resumed login sends the same request bytes,
/// so a guess the vault may have counted is never counted again; the pause lets a relay's
/// per-account rate limit refill.
#[derive(Clone, Copy, Debug)]
pub struct ResumePolicy {
    /// Resumes after the first try.
    pub resumes: u32,
    /// The pause before each.
    pub pause: std::time::Duration,
}

impl Default for ResumePolicy {
    /// Two resumes, 4 s apart: with the client's own five sends 2 s apart, an operation gives
    /// up after about 40 s.
    fn default() -> Self {
        Self {
            resumes: 2,
            pause: std::time::Duration::from_secs(4),
        }
    }
}

impl ResumePolicy {
    /// No resume: the first `Unavailable` is the answer.
    pub const NONE: Self = Self {
        resumes: 0,
        pause: std::time::Duration::ZERO,
    };
}

impl VaultEndpoint {
    /// Connects and runs `operations` one after the other on one link and one [`Client`],
    /// returning each outcome (each resumed as `policy` says); stops at the first link error.
    pub async fn run(
        &self,
        operations: &[Operation<'_>],
        policy: ResumePolicy,
    ) -> Result<Vec<ClientOutcome>, LinkError> {
        let mut client = Client::new(
            Suite::default(),
            self.fleet.clone(),
            self.account.clone(),
            ClientConfig::default(),
        );
        let mut link =
            ClientLink::connect(self.relay, &self.server_name, &self.pinned_pem, &self.token)
                .await?;
        let mut outcomes = Vec::with_capacity(operations.len());
        for op in operations {
            let mut outcome = Self::run_one(&mut link, &mut client, op).await?;
            for _ in 0..policy.resumes {
                if outcome != ClientOutcome::Unavailable {
                    break;
                }
                tokio::time::sleep(policy.pause).await;
                outcome = Self::run_one(&mut link, &mut client, op).await?;
            }
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    async fn run_one(
        link: &mut ClientLink,
        client: &mut Client<Suite>,
        op: &Operation<'_>,
    ) -> Result<ClientOutcome, LinkError> {
        Ok(match op {
            Operation::Register {
                password,
                key,
                attempts,
            } => {
                link.run(client, |c, now, rng| {
                    c.start_register(now, rng, password, key, *attempts)
                })
                .await?
            }
            Operation::Recover { password } => {
                link.run(client, |c, now, rng| c.start_recover(now, rng, password))
                    .await?
            }
            Operation::Delete { password } => {
                link.run(client, |c, now, rng| c.start_delete(now, rng, password))
                    .await?
            }
            Operation::Status => {
                link.run(client, |c, now, rng| c.start_status(now, rng))
                    .await?
            }
        })
    }

    /// [`VaultEndpoint::run`] on a runtime of its own (for synchronous callers such as the
    /// command-line tools).
    pub fn run_blocking(
        &self,
        operations: &[Operation<'_>],
        policy: ResumePolicy,
    ) -> Result<Vec<ClientOutcome>, LinkError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| LinkError::Connect(format!("cannot start the runtime: {e}")))?;
        runtime.block_on(self.run(operations, policy))
    }

    /// [`VaultEndpoint::run_blocking`] for one operation.
    pub fn run_one_blocking(
        &self,
        operation: Operation<'_>,
        policy: ResumePolicy,
    ) -> Result<ClientOutcome, LinkError> {
        self.run_blocking(std::slice::from_ref(&operation), policy)?
            .pop()
            .ok_or(LinkError::Closed)
    }
}
