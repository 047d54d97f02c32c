//! One password attempt's vault work, or opaque-ke's own `ServerLogin::start` + `finish`, run
//! `N` times, for instruction counts under `valgrind --tool=callgrind` (`benches/callgrind-attempt`
//! runs both and prints the counts per attempt and their ratio).
//!
//! ```text
//! cargo build --release --example attempt_instructions
//! valgrind --tool=callgrind --toggle-collect='*measured_*' \
//!     target/release/examples/attempt_instructions ours 20
//! ```
//!
//! Only the measured side's work is inside a `measured_*` function (callgrind collects only
//! there): the client's work and the message shuttling are outside, exactly as in
//! `benches/vault.rs`, whose criterion medians this complements (counts repeat on a busy
//! machine; times do not).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use e2ee_backup::BackupKey;
use e2ee_backup::client::{Client, ClientConfig, ClientOutcome, ClientOutput};
use e2ee_backup::crypto::CryptoSuite;
use e2ee_backup::crypto::real::{InsecureFastFleetSecrets, InsecureFastOpaque, InsecureFastSuite};
use e2ee_backup::ids::{AccountId, FleetId};
use e2ee_backup::vault::{VaultOutput, VaultReplica};
use e2ee_backup::wire::{ClientReply, ClientRequest, VaultReply, VaultRequest};
use opaque_ke::{
    ClientLogin, ClientLoginFinishParameters, ClientRegistration,
    ClientRegistrationFinishParameters, CredentialFinalization, CredentialRequest,
    CredentialResponse, Identifiers, ServerLogin, ServerLoginParameters, ServerRegistration,
    ServerSetup,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn fleet_id() -> FleetId {
    FleetId::new(b"bench-fleet").unwrap()
}

fn alice() -> AccountId {
    AccountId::new(b"alice").unwrap()
}

fn fleet() -> InsecureFastFleetSecrets {
    InsecureFastFleetSecrets::generate(&mut ChaCha20Rng::seed_from_u64(7), fleet_id())
}

/// The vault's whole handling of one relay message, outputs drained.
#[inline(never)]
fn measured_vault_message(
    vault: &mut VaultReplica<InsecureFastSuite>,
    rng: &mut ChaCha20Rng,
    forward: &[u8],
) -> Option<Vec<u8>> {
    vault.handle_relay_message(0, rng, forward);
    let mut reply = None;
    while let Some(out) = vault.poll_output() {
        if let VaultOutput::ReplyToRelay { bytes } = out {
            reply = Some(bytes);
        }
    }
    reply
}

/// Client and vault back to back; returns the client's outcome.
fn run(
    client: &mut Client<InsecureFastSuite>,
    vault: &mut VaultReplica<InsecureFastSuite>,
    rng: &mut ChaCha20Rng,
) -> ClientOutcome {
    loop {
        let bytes = match client.poll_output().expect("client stalled") {
            ClientOutput::Send { bytes } => bytes,
            ClientOutput::Completed { outcome, .. } => return outcome,
        };
        let request = ClientRequest::decode(&bytes).unwrap();
        let forward = VaultRequest {
            route_id: request.request_id,
            account: alice(),
            kind: request.kind,
            sealed: request.sealed,
        }
        .encode();
        let reply = measured_vault_message(vault, rng, &forward).expect("no reply");
        let reply = VaultReply::decode(&reply).unwrap();
        let back = ClientReply {
            request_id: reply.route_id,
            kind: reply.kind,
            body: reply.body,
        }
        .encode();
        client.handle_relay_message(0, rng, &back);
    }
}

fn ours(attempts: u32) {
    let suite = InsecureFastSuite;
    let fleet = fleet();
    let pinned = suite.fleet_public_keys(&fleet);
    let mut client = Client::new(suite, pinned, alice(), ClientConfig::default());
    let mut vault = VaultReplica::new(suite, fleet);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let key = BackupKey::generate(&mut rng);
    client.start_register(0, &mut rng, b"pw", &key, 10).unwrap();
    assert!(matches!(
        run(&mut client, &mut vault, &mut rng),
        ClientOutcome::Registered { .. }
    ));
    // Registration is collected too; subtract it with the `0` run (see the script).
    for _ in 0..attempts {
        client.start_recover(0, &mut rng, b"pw").unwrap();
        assert!(matches!(
            run(&mut client, &mut vault, &mut rng),
            ClientOutcome::Recovered(_)
        ));
    }
}

#[inline(never)]
fn measured_opaque_start(
    rng: &mut ChaCha20Rng,
    setup: &ServerSetup<InsecureFastOpaque>,
    password_file: &ServerRegistration<InsecureFastOpaque>,
    request: CredentialRequest<InsecureFastOpaque>,
    account: &[u8],
    ids: Identifiers<'_>,
) -> (ServerLogin<InsecureFastOpaque>, Vec<u8>) {
    let params = ServerLoginParameters {
        context: None,
        identifiers: ids,
    };
    let server = ServerLogin::start(
        rng,
        setup,
        Some(password_file.clone()),
        request,
        account,
        params,
    )
    .unwrap();
    let response = server.message.serialize().to_vec();
    (server.state, response)
}

#[inline(never)]
fn measured_opaque_finish(
    state: ServerLogin<InsecureFastOpaque>,
    finalization: CredentialFinalization<InsecureFastOpaque>,
    ids: Identifiers<'_>,
) {
    let params = ServerLoginParameters {
        context: None,
        identifiers: ids,
    };
    black_box(state.finish(finalization, params).unwrap());
}

fn opaque_ke_alone(attempts: u32) {
    let fleet = fleet();
    let setup = fleet.opaque_server_setup();
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let id = alice();
    let fid = fleet_id();
    let ids = Identifiers {
        client: Some(id.as_bytes()),
        server: Some(fid.as_bytes()),
    };
    let reg_start = ClientRegistration::<InsecureFastOpaque>::start(&mut rng, b"pw").unwrap();
    let reg_resp = ServerRegistration::start(setup, reg_start.message, id.as_bytes()).unwrap();
    let reg_finish = reg_start
        .state
        .finish(
            &mut rng,
            b"pw",
            reg_resp.message,
            ClientRegistrationFinishParameters::new(ids, None),
        )
        .unwrap();
    let password_file = ServerRegistration::finish(reg_finish.message);
    for _ in 0..attempts {
        let login = ClientLogin::<InsecureFastOpaque>::start(&mut rng, b"pw").unwrap();
        let request = CredentialRequest::deserialize(&login.message.serialize()).unwrap();
        let (state, response) =
            measured_opaque_start(&mut rng, setup, &password_file, request, id.as_bytes(), ids);
        let response = CredentialResponse::deserialize(&response).unwrap();
        let fin = login
            .state
            .finish(
                &mut rng,
                b"pw",
                response,
                ClientLoginFinishParameters {
                    context: None,
                    identifiers: ids,
                    ksf: None,
                },
            )
            .unwrap();
        let fin = CredentialFinalization::deserialize(&fin.message.serialize()).unwrap();
        measured_opaque_finish(state, fin, ids);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: attempt_instructions ours|opaque-ke ATTEMPTS";
    let (Some(which), Some(attempts)) = (args.get(1), args.get(2)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let Ok(attempts) = attempts.parse::<u32>() else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    match which.as_str() {
        "ours" => ours(attempts),
        "opaque-ke" => opaque_ke_alone(attempts),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
