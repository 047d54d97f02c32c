//! Wire formats of the vault protocol (SPEC.md "Vault protocol", "Messages").
//!
//! Two layers: the *envelopes* the relay sees ([`ClientRequest`], [`ClientReply`],
//! [`VaultRequest`], [`VaultReply`]) and the *sealed bodies* only the client and the vault can read
//! ([`Request`], [`Reply`]).

pub mod codec;
pub mod messages;

pub use codec::DecodeError;
pub use messages::{
    ClientReply, ClientRequest, LOGIN_ID_LEN, LoginId, RecordStatus, Reply, ReplyBody, Request,
    RequestKind, VaultReply, VaultRequest, WIRE_VERSION, padded_reply_len, reply_aad, request_aad,
};
