//! Every key-derivation, sealing and digest label of the vault protocol (SPEC.md "Vault protocol",
//! table "Labels"). Each label carries its protocol version; none is derived from declaration order.

/// HPKE `info` prefix for requests sealed to the fleet; the fleet id follows it.
pub const LABEL_REQUEST_INFO: &[u8] = b"e2ee-backup v1 vault request";
/// AAD prefix of a sealed request; the account id and the request kind code follow it.
pub const LABEL_REQUEST_AAD: &[u8] = b"e2ee-backup v1 request aad";
/// HPKE exporter context that yields the reply key of a request.
pub const LABEL_REPLY_KEY: &[u8] = b"e2ee-backup v1 reply key";
/// AAD prefix of a sealed reply; the reply kind code follows it.
pub const LABEL_REPLY_AAD: &[u8] = b"e2ee-backup v1 reply aad";
/// OPAQUE context string shared by client and vault (RFC 9807 `context`).
pub const LABEL_OPAQUE_CONTEXT: &[u8] = b"e2ee-backup v1 opaque";
/// HKDF info prefix of the key that wraps the backup key (from the OPAQUE export key).
pub const LABEL_WRAP_KEY: &[u8] = b"e2ee-backup v1 wrap key";
/// HKDF info prefix of the expose proof (from the OPAQUE export key).
pub const LABEL_EXPOSE_PROOF: &[u8] = b"e2ee-backup v1 expose proof";
/// HKDF info prefix of the delete proof (from the OPAQUE export key).
pub const LABEL_DELETE_PROOF: &[u8] = b"e2ee-backup v1 delete proof";
/// Digest prefix turning a proof into the check value the vault stores.
pub const LABEL_PROOF_CHECK: &[u8] = b"e2ee-backup v1 proof check";
/// HKDF info prefix of the key that seals a released wrapped key (from the OPAQUE session key).
pub const LABEL_RELEASE_KEY: &[u8] = b"e2ee-backup v1 release key";
/// HKDF info prefix of a one-time storage sealing key (from the fleet storage key and a salt).
pub const LABEL_STORAGE_KEY: &[u8] = b"e2ee-backup v1 storage key";
/// AAD prefix of a sealed persisted record; the account id follows it.
pub const LABEL_RECORD_AAD: &[u8] = b"e2ee-backup v1 record";
/// AAD prefix of a sealed OPAQUE server login state; account id and login id follow it.
pub const LABEL_LOGIN_STATE_AAD: &[u8] = b"e2ee-backup v1 login state";
/// Digest prefix of a credential request (identifies a retried `LoginStart`).
pub const LABEL_LOGIN_REQUEST_DIGEST: &[u8] = b"e2ee-backup v1 login request digest";
/// Digest prefix of a registration (identifies a retried `RegisterFinish`).
pub const LABEL_REGISTRATION_DIGEST: &[u8] = b"e2ee-backup v1 registration digest";
/// Digest prefix naming a request a replica is working on (account ‖ kind code ‖ sealed bytes):
/// identical copies that arrive meanwhile wait for the same answer (SPEC.md "In-flight
/// requests").
pub const LABEL_IN_FLIGHT_REQUEST: &[u8] = b"e2ee-backup v1 in-flight request";
/// Digest prefix mapping an account id to its replica group.
pub const LABEL_GROUP_ROUTING: &[u8] = b"e2ee-backup v1 group routing";
/// HKDF info prefix of a one-time replica-link sealing key (from the fleet replica-link key and a
/// salt).
pub const LABEL_LINK_KEY: &[u8] = b"e2ee-backup v1 replica link key";
/// AAD prefix of a sealed replica-to-replica message; group, sender and receiver follow it.
pub const LABEL_REPLICA_LINK_AAD: &[u8] = b"e2ee-backup v1 replica link";
/// AAD prefix of a sealed consensus durable write; group, replica and slot follow it.
pub const LABEL_REPLICA_STATE_AAD: &[u8] = b"e2ee-backup v1 replica state";

/// AAD label of a registration ticket: the per-registration OPRF seed sealed under the storage
/// key for one account and base generation (SPEC.md "Per-registration OPRF seeds").
pub const LABEL_REGISTRATION_TICKET_AAD: &[u8] = b"e2ee-backup v2 registration ticket";

/// Label of the deliberately broken `SharedOprfKey` fault: one OPRF seed per account for every
/// registration, as before version 2 (fault injection only; refuted by the checkers).
pub const LABEL_BROKEN_SHARED_OPRF_SEED: &[u8] = b"e2ee-backup broken shared oprf seed";

/// Info of the one-time keys a reply is sealed under (salted from the reply key), so that any
/// number of answers to one request stay safe (SPEC.md "Sealing").
pub const LABEL_REPLY_SEAL_KEY: &[u8] = b"e2ee-backup v2 reply seal key";

/// Info of the one-time keys a release is sealed under (salted from the release key).
pub const LABEL_RELEASE_SEAL_KEY: &[u8] = b"e2ee-backup v2 release seal key";
