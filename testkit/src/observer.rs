//! The one reply observer of the harnesses that hold a copy of the fleet secrets (the
//! single-replica [`net`](crate::net), the replicated [`cluster`](crate::cluster) and the
//! simulator's oracle): it opens every request a vault host is given and every sealed reply the
//! vault sends, as only someone with the fleet's secrets and the request's reply key could, and
//! keeps what the replies show. Every opened pair goes to the test kit's one judge of the
//! vault's safety promises at its boundary ([`AttemptJudge`]: INV-ATTEMPTS and INV-DISCLOSE),
//! which the simulator's oracle uses too.
//!
//! The model checker does not use it: its symbolic suite's sealed terms are readable without
//! keys (`model::inspect`), and it keeps no per-request state, which would multiply its states.

use std::collections::{BTreeMap, BTreeSet};

use e2ee_backup::internal::crypto::{CryptoSuite, SecretBytes};
use e2ee_backup::internal::ids::AccountId;
use e2ee_backup::internal::wire::{
    ClientRequest, LoginId, Reply, ReplyBody, Request, RequestKind, VaultReply, VaultRequest,
    reply_aad, request_aad,
};

use crate::judge::AttemptJudge;

/// A request as the vault sees it once it opened it.
#[derive(Clone, Debug)]
pub struct OpenedRequest {
    /// The account the relay stamped on it.
    pub account: AccountId,
    /// Its kind.
    pub kind: RequestKind,
    /// The opened request.
    pub request: Request,
    /// The key its reply is sealed under.
    pub reply_key: SecretBytes,
}

/// Opens `request` with the fleet's secrets, as the vault does: `None` if it does not open or
/// its plaintext does not decode as a request of its kind (the vault answers it `Rejected`).
pub fn open_request<S: CryptoSuite>(
    suite: &S,
    fleet: &S::FleetSecrets,
    request: &VaultRequest,
) -> Option<OpenedRequest> {
    let opened = suite
        .open_request(
            fleet,
            &request_aad(&request.account, request.kind),
            &request.sealed,
        )
        .ok()?;
    let body = Request::decode(&opened.plaintext).ok()?;
    Some(OpenedRequest {
        account: request.account.clone(),
        kind: request.kind,
        request: body,
        reply_key: opened.reply_key,
    })
}

/// Opens a sealed reply to `request`: `None` if the reply is not sealed (`Rejected`, rate
/// limited) or does not open under the request's reply key and decode.
pub fn open_reply<S: CryptoSuite>(
    suite: &S,
    request: &OpenedRequest,
    reply: &VaultReply,
) -> Option<Reply> {
    let ReplyBody::Sealed(sealed) = &reply.body else {
        return None;
    };
    let plain = suite
        .open_reply(&request.reply_key, &reply_aad(reply.kind), sealed)
        .ok()?;
    Reply::decode_padded(&plain).ok()
}

/// A request the observer opened, and the password that sealed it if its harness said.
struct Remembered {
    opened: OpenedRequest,
    password: Option<Vec<u8>>,
}

/// Remembers every request by a key its harness chooses (a route id) and opens the replies to
/// them; what they show is kept in its public fields and judged by its [`AttemptJudge`].
pub struct ReplyObserver<S: CryptoSuite, K> {
    suite: S,
    fleet: S::FleetSecrets,
    requests: BTreeMap<K, Remembered>,
    /// INV-ATTEMPTS and INV-DISCLOSE over every opened request and reply.
    pub judge: AttemptJudge<Vec<u8>>,
    /// Distinct login ids of every `LoginChallenge` the vault sent, per (account, generation):
    /// the password tests granted (INV-ATTEMPTS).
    pub challenges: BTreeMap<(AccountId, u64), BTreeSet<LoginId>>,
    /// `LoginChallenge` replies sent in all (copies to several routes included).
    pub challenge_replies: usize,
    /// `KeyReleased` replies sent per account (INV-DISCLOSE).
    pub releases: BTreeMap<AccountId, usize>,
    /// Every reply that opened, with its account, in order.
    pub replies: Vec<(AccountId, Reply)>,
}

impl<S: CryptoSuite, K: Ord> ReplyObserver<S, K> {
    /// An observer holding a copy of the fleet's secrets.
    pub fn new(suite: S, fleet: S::FleetSecrets) -> Self {
        Self {
            suite,
            fleet,
            requests: BTreeMap::new(),
            judge: AttemptJudge::default(),
            challenges: BTreeMap::new(),
            challenge_replies: 0,
            releases: BTreeMap::new(),
            replies: Vec::new(),
        }
    }

    /// The fleet's secrets (the observer's copy).
    pub fn fleet(&self) -> &S::FleetSecrets {
        &self.fleet
    }

    /// The request remembered under `key`, if it opened.
    pub fn request(&self, key: &K) -> Option<&OpenedRequest> {
        self.requests.get(key).map(|r| &r.opened)
    }

    /// Every request remembered, by key.
    pub fn requests(&self) -> impl Iterator<Item = (&K, &OpenedRequest)> {
        self.requests.iter().map(|(k, r)| (k, &r.opened))
    }

    /// The group was seen voting in `lineage` (SPEC.md "Re-genesis"): the judge opens the
    /// registration tickets of that lineage too.
    pub fn note_lineage(&mut self, lineage: e2ee_backup::internal::vault::Lineage) {
        self.judge.note_lineage(lineage);
    }

    /// A client sent the encoded [`ClientRequest`] `request` in an operation with `password`:
    /// the judge learns which password its sealed part carries (INV-DISCLOSE). Bytes that do
    /// not decode are ignored.
    pub fn note_sent(&mut self, request: &[u8], password: &[u8]) {
        if let Ok(request) = ClientRequest::decode(request) {
            self.judge.note_sealed(&request.sealed, password.to_vec());
        }
    }

    /// A vault host was given the encoded `request`; remembered under `key` if it decodes and
    /// opens.
    pub fn observe_request(&mut self, key: K, request: &[u8]) {
        let Ok(request) = VaultRequest::decode(request) else {
            return;
        };
        if let Some(opened) = open_request(&self.suite, &self.fleet, &request) {
            if let Request::LoginFinish { login_id, .. } = &opened.request {
                self.judge.accepted_finish(&opened.account, *login_id);
            }
            let password = self.judge.password_of(&request.sealed);
            self.requests.insert(key, Remembered { opened, password });
        }
    }

    /// The vault sent the encoded `reply` at `time_ms` to the request remembered under `key`:
    /// opened, recorded and judged. Returns the account and the reply, or `None` if it does not
    /// decode, names no remembered request, or does not open (not sealed, or not under that
    /// request's key).
    pub fn observe_reply(
        &mut self,
        time_ms: u64,
        key: &K,
        reply: &[u8],
    ) -> Option<(AccountId, Reply)> {
        let reply = VaultReply::decode(reply).ok()?;
        let request = self.requests.get(key)?;
        let body = open_reply(&self.suite, &request.opened, &reply)?;
        self.judge.judge(
            &self.suite,
            &self.fleet,
            time_ms,
            &request.opened.account,
            &request.opened.request,
            request.password.as_ref(),
            &body,
        );
        let account = request.opened.account.clone();
        match &body {
            Reply::LoginChallenge {
                login_id,
                generation,
                ..
            } => {
                self.challenge_replies += 1;
                self.challenges
                    .entry((account.clone(), *generation))
                    .or_default()
                    .insert(*login_id);
            }
            Reply::KeyReleased { .. } => *self.releases.entry(account.clone()).or_default() += 1,
            _ => {}
        }
        self.replies.push((account.clone(), body.clone()));
        Some((account, body))
    }
}

impl<S: CryptoSuite> ReplyObserver<S, u64> {
    /// The test networks' check of every reply their vault sends, with requests remembered by
    /// route id: observed at `time_ms`; a sealed reply to a request the observer opened must
    /// open under that request's reply key; and with `assert_promises` the judge must have
    /// found no violation so far (the test fails otherwise).
    pub fn check_reply(&mut self, time_ms: u64, bytes: &[u8], assert_promises: bool) {
        let reply = VaultReply::decode(bytes).expect("the vault's reply decodes");
        let sealed = matches!(reply.body, ReplyBody::Sealed(_));
        let known = self.request(&reply.route_id).is_some();
        let opened = self.observe_reply(time_ms, &reply.route_id, bytes);
        assert!(
            opened.is_some() || !(sealed && known),
            "a sealed reply opens under its request's reply key"
        );
        if assert_promises {
            self.judge.assert_holds();
        }
    }
}
