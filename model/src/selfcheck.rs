//! Self-checks of the core, run by the main binary until the model checker lands.

use std::time::Instant;

use e2ee_backup::ConnectionId;
use e2ee_backup::internal::client::{ClientConfig, ClientOutcome, ClientOutput};
use e2ee_backup::internal::crypto::real::{ProductionFleetSecrets, ProductionSuite};
use e2ee_backup::internal::relay::{RelayConfig, RelayOutput};
use e2ee_backup::internal::stream::{DEFAULT_SEGMENT_SIZE, StreamError, open_to_vec, seal_to_vec};
use e2ee_backup::internal::vault::SingleVaultOutput;
use e2ee_backup::{
    AccountId, BackupKey, Client, CryptoSuite, FleetId, RecoveryKey, RecoveryKeyError, Relay,
    RelayTag, SingleVault, Typo,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// One named check and what it found.
pub struct CheckResult {
    /// What was checked.
    pub name: &'static str,
    /// A short report on success, the reason on failure.
    pub outcome: Result<String, String>,
}

/// Runs every check (deterministic: one fixed seed).
pub fn run_all() -> Vec<CheckResult> {
    let mut rng = ChaCha20Rng::seed_from_u64(2021);
    let key = BackupKey::generate(&mut rng);
    vec![
        check("stream: 64 MiB seal/open round trip", || {
            stream_round_trip(&key, &mut rng.clone())
        }),
        check("stream: tampering and wrong key are rejected", || {
            stream_tamper(&key, &mut rng.clone())
        }),
        check("recovery key: display, parse, typo hint", || {
            recovery_key(&key)
        }),
        check("vault: register, back up, recover, restore", || {
            vault_round_trip(&mut rng.clone())
        }),
    ]
}

fn check(name: &'static str, f: impl FnOnce() -> Result<String, String>) -> CheckResult {
    CheckResult { name, outcome: f() }
}

fn stream_round_trip(key: &BackupKey, rng: &mut ChaCha20Rng) -> Result<String, String> {
    let mut plaintext = vec![0u8; 64 << 20];
    rng.fill_bytes(&mut plaintext);
    let started = Instant::now();
    let file =
        seal_to_vec(key, DEFAULT_SEGMENT_SIZE, &plaintext, rng).map_err(|e| e.to_string())?;
    let sealed = started.elapsed();
    let started = Instant::now();
    let opened = open_to_vec(key, &file).map_err(|e| e.to_string())?;
    let open = started.elapsed();
    if opened != plaintext {
        return Err("opened bytes differ from the plaintext".into());
    }
    let gbps = |d: std::time::Duration| plaintext.len() as f64 / d.as_secs_f64() / 1e9;
    Ok(format!(
        "seal {:.2} GB/s, open {:.2} GB/s (one core, aes-gcm, copies included)",
        gbps(sealed),
        gbps(open)
    ))
}

fn stream_tamper(key: &BackupKey, rng: &mut ChaCha20Rng) -> Result<String, String> {
    let file = seal_to_vec(key, 1024, &[7u8; 10_000], rng).map_err(|e| e.to_string())?;
    let mut cases = 0;
    let mut expect_err = |what: &str, bytes: &[u8], key: &BackupKey| -> Result<(), String> {
        cases += 1;
        match open_to_vec(key, bytes) {
            Ok(_) => Err(format!("{what} was accepted")),
            Err(_) => Ok(()),
        }
    };
    expect_err("a truncated file", &file[..file.len() - 1], key)?;
    expect_err("an extended file", &[file.as_slice(), &[0]].concat(), key)?;
    let mut flipped = file.clone();
    flipped[200] ^= 1;
    expect_err("a flipped bit", &flipped, key)?;
    let other = BackupKey::generate(rng);
    match open_to_vec(&other, &file) {
        Err(StreamError::WrongKey) => {}
        other => return Err(format!("a wrong key gave {other:?}, not WrongKey")),
    }
    Ok(format!(
        "{} tamper cases rejected, wrong key caught by the commitment",
        cases + 1
    ))
}

fn recovery_key(key: &BackupKey) -> Result<String, String> {
    let shown = RecoveryKey::from_backup_key(key).to_string();
    let typed = shown.to_lowercase().replace('-', " ");
    let parsed: RecoveryKey = typed.parse().map_err(|e: RecoveryKeyError| e.to_string())?;
    if &parsed.to_backup_key() != key {
        return Err("parsed key differs".into());
    }
    let mut chars: Vec<char> = shown.chars().collect();
    chars[10] = if chars[10] == 'X' { 'Y' } else { 'X' };
    let mistyped: String = chars.into_iter().collect();
    match mistyped.parse::<RecoveryKey>() {
        Err(RecoveryKeyError::ChecksumMismatch {
            suggestion: Some(Typo::WrongCharacter { position: 9, .. }),
        }) => Ok("a typo in character 9 is located".into()),
        other => Err(format!("a mistyped key gave {other:?}")),
    }
}

fn vault_round_trip(rng: &mut ChaCha20Rng) -> Result<String, String> {
    let suite = ProductionSuite;
    let fleet_id = FleetId::new(b"selfcheck-fleet").map_err(|e| e.to_string())?;
    let fleet = ProductionFleetSecrets::generate(rng, fleet_id);
    let pinned = suite.fleet_public_keys(&fleet);
    let mut net = Net {
        vault: SingleVault::new(suite, fleet),
        relay: Relay::new(RelayConfig::default()),
    };
    let alice = AccountId::new(b"alice").map_err(|e| e.to_string())?;
    net.relay
        .handle_connection_opened(ConnectionId(1), alice.clone());
    let mut phone = Client::new(
        suite,
        pinned.clone(),
        alice.clone(),
        ClientConfig::default(),
    );

    let key = BackupKey::generate(rng);
    let started = Instant::now();
    phone
        .start_register(0, rng, b"correct horse", &key, 10)
        .map_err(|e| e.to_string())?;
    expect(net.run(&mut phone, rng), |o| {
        matches!(o, ClientOutcome::Registered { .. })
    })?;
    let registered = started.elapsed();
    let backup =
        seal_to_vec(&key, DEFAULT_SEGMENT_SIZE, b"chat history", rng).map_err(|e| e.to_string())?;

    let mut new_phone = Client::new(suite, pinned, alice, ClientConfig::default());
    new_phone
        .start_recover(0, rng, b"wrong horse")
        .map_err(|e| e.to_string())?;
    expect(net.run(&mut new_phone, rng), |o| {
        matches!(o, ClientOutcome::WrongPassword { remaining: 9 })
    })?;
    let started = Instant::now();
    new_phone
        .start_recover(0, rng, b"correct horse")
        .map_err(|e| e.to_string())?;
    let ClientOutcome::Recovered(recovered) = net.run(&mut new_phone, rng) else {
        return Err("the right password did not recover the key".into());
    };
    let recovered_in = started.elapsed();
    let restored = open_to_vec(&recovered, &backup).map_err(|e| e.to_string())?;
    if restored != b"chat history" {
        return Err("restored backup differs".into());
    }
    Ok(format!(
        "Argon2id; register {:.0} ms, recover {:.0} ms; a wrong password left 9 attempts",
        registered.as_secs_f64() * 1e3,
        recovered_in.as_secs_f64() * 1e3
    ))
}

fn expect(outcome: ClientOutcome, ok: impl Fn(&ClientOutcome) -> bool) -> Result<(), String> {
    if ok(&outcome) {
        Ok(())
    } else {
        Err(format!("unexpected outcome {outcome:?}"))
    }
}

/// One relay and one vault replica, connected in memory.
struct Net {
    vault: SingleVault<ProductionSuite>,
    relay: Relay,
}

impl Net {
    /// Moves messages until `client` reports the end of its operation.
    fn run(
        &mut self,
        client: &mut Client<ProductionSuite>,
        rng: &mut ChaCha20Rng,
    ) -> ClientOutcome {
        let now_ms = 0;
        while let Some(out) = client.poll_output() {
            match out {
                ClientOutput::Completed { outcome, .. } => return outcome,
                ClientOutput::Send { bytes } => {
                    self.relay
                        .handle_client_message(now_ms, ConnectionId(1), &bytes)
                }
            }
            while let Some(out) = self.relay.poll_output() {
                match out {
                    RelayOutput::ToReplica { bytes, .. } => {
                        self.vault
                            .handle_relay_message(now_ms, rng, RelayTag(0), &bytes)
                    }
                    RelayOutput::ToClient { bytes, .. } => {
                        client.handle_relay_message(now_ms, rng, &bytes)
                    }
                }
                while let Some(out) = self.vault.poll_output() {
                    match out {
                        SingleVaultOutput::Persist { .. } => {}
                        SingleVaultOutput::ToRelay { bytes, .. } => {
                            self.relay.handle_vault_message(now_ms, &bytes)
                        }
                    }
                }
            }
        }
        ClientOutcome::Unavailable
    }
}
