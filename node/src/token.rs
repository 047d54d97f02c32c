//! Account tokens: how this reference relay binds a connection to an account (SPEC.md "Hosts",
//! "Account tokens").
//!
//! A token is `e2ee1.` ‖ hex(account id) ‖ `.` ‖ expiry (Unix seconds, decimal) ‖ `.` ‖
//! hex(HMAC-SHA256(key, [`TOKEN_LABEL`] ‖ len(account) as u8 ‖ account ‖ expiry as u64
//! big-endian)). The key (32 random bytes) is held by the relay and by whoever issues tokens
//! (`e2ee-vault token`); the MAC is checked in constant time.
//!
//! **A real chat server plugs its own authentication in here**: it already knows which account
//! a connection belongs to (its login session), so instead of a token it calls the core's
//! `Relay::handle_connection_opened(connection, account)` with that account once its own
//! authentication succeeded, and never for a connection it has not authenticated. The vault's
//! security does not rest on this binding (the password does), but the rate limits and the
//! per-account attempt counter do: an unauthenticated relay lets anyone spend anyone's
//! attempts.

use e2ee_backup::AccountId;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Domain separation for the token MAC.
pub const TOKEN_LABEL: &[u8] = b"e2ee-backup relay token v1";
/// The token's text prefix (format version 1).
pub const TOKEN_PREFIX: &str = "e2ee1";
/// Length of the token key.
pub const TOKEN_KEY_LEN: usize = 32;

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// It does not parse.
    #[error("the token is malformed")]
    Malformed,
    /// The MAC does not verify (another key, or edited).
    #[error("the token is not valid")]
    BadMac,
    /// Its expiry has passed.
    #[error("the token has expired")]
    Expired,
}

/// The token key.
pub struct TokenKey(Zeroizing<Vec<u8>>);

impl TokenKey {
    /// A key from its file contents (exactly [`TOKEN_KEY_LEN`] bytes).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        (bytes.len() == TOKEN_KEY_LEN).then(|| Self(Zeroizing::new(bytes.to_vec())))
    }

    /// A fresh random key.
    pub fn generate(rng: &mut impl rand_core::RngCore) -> Self {
        let mut k = Zeroizing::new(vec![0u8; TOKEN_KEY_LEN]);
        rng.fill_bytes(&mut k);
        Self(k)
    }

    /// The key's bytes (for its file).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn mac(&self, account: &AccountId, expiry: u64) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        let mut mac = <Hmac<Sha256> as hmac::Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(TOKEN_LABEL);
        let id = account.as_bytes();
        mac.update(&[u8::try_from(id.len()).unwrap_or(u8::MAX)]);
        mac.update(id);
        mac.update(&expiry.to_be_bytes());
        mac
    }

    /// A token for `account`, valid until `expiry` (Unix seconds).
    pub fn issue(&self, account: &AccountId, expiry: u64) -> String {
        let tag = self.mac(account, expiry).finalize().into_bytes();
        format!(
            "{TOKEN_PREFIX}.{}.{expiry}.{}",
            hex::encode(account.as_bytes()),
            hex::encode(tag)
        )
    }

    /// The account `token` names, if it verifies and has not expired at `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: u64) -> Result<AccountId, TokenError> {
        let parsed = parse(token)?;
        // Constant-time comparison (hmac's verify_slice).
        self.mac(&parsed.account, parsed.expiry)
            .verify_slice(&parsed.tag)
            .map_err(|_| TokenError::BadMac)?;
        if now >= parsed.expiry {
            return Err(TokenError::Expired);
        }
        Ok(parsed.account)
    }
}

/// A token's fields, not yet verified.
struct ParsedToken {
    account: AccountId,
    expiry: u64,
    tag: Vec<u8>,
}

fn parse(token: &str) -> Result<ParsedToken, TokenError> {
    let mut parts = token.trim().split('.');
    let (Some(prefix), Some(account), Some(expiry), Some(tag), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(TokenError::Malformed);
    };
    if prefix != TOKEN_PREFIX {
        return Err(TokenError::Malformed);
    }
    let account = hex::decode(account).map_err(|_| TokenError::Malformed)?;
    let account = AccountId::new(&account).map_err(|_| TokenError::Malformed)?;
    if expiry.is_empty() || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TokenError::Malformed);
    }
    let expiry: u64 = expiry.parse().map_err(|_| TokenError::Malformed)?;
    let tag = hex::decode(tag).map_err(|_| TokenError::Malformed)?;
    Ok(ParsedToken {
        account,
        expiry,
        tag,
    })
}

/// The account a token names, **not verified** (only the relay holds the key): what a client
/// reads to address its requests to the same account the relay will bind it to.
pub fn account_of(token: &str) -> Result<AccountId, TokenError> {
    parse(token).map(|p| p.account)
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_account_until_it_expires_and_only_under_its_key() {
        let mut rng = crate::os_rng();
        let key = TokenKey::generate(&mut rng);
        let alice = AccountId::new(b"alice").expect("id");
        let token = key.issue(&alice, 1_000);
        assert_eq!(key.verify(&token, 999), Ok(alice.clone()));
        assert_eq!(account_of(&token), Ok(alice.clone()));
        assert_eq!(key.verify(&token, 1_000), Err(TokenError::Expired));
        let other = TokenKey::generate(&mut rng);
        assert_eq!(other.verify(&token, 0), Err(TokenError::BadMac));
        // Another account or expiry under the same tag does not verify.
        let tag = token.rsplit('.').next().unwrap_or_default();
        let forged = format!("e2ee1.{}.1000.{tag}", hex::encode(b"mallory"));
        assert_eq!(key.verify(&forged, 0), Err(TokenError::BadMac));
        let later = format!("e2ee1.{}.9999.{tag}", hex::encode(b"alice"));
        assert_eq!(key.verify(&later, 0), Err(TokenError::BadMac));
        for bad in [
            "",
            "e2ee1",
            "e2ee2.61.1.00",
            &format!("{token}.x"),
            "e2ee1.zz.1.00",
        ] {
            assert_eq!(key.verify(bad, 0), Err(TokenError::Malformed), "{bad}");
            assert_eq!(account_of(bad), Err(TokenError::Malformed), "{bad}");
        }
    }
}
