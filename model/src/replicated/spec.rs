//! The sequential specification of one account's login operations, for stateright's
//! `LinearizabilityTester` (INV-LINEAR; SPEC.md "Model checking", "Replicated vault").
//!
//! The operations are the vault requests a device sends (`LoginStart`, `LoginFinish`) and their
//! results are the vault's replies as the device receives them. A request whose reply never
//! arrives, or arrives as `Busy` ("retry later": the change may or may not take effect), never
//! returns: the tester may linearize it anywhere after its invocation, or not at all.

use stateright::semantics::SequentialSpec;

/// Which login a `LoginStart` made (device, index of the operation in its script).
pub type LoginRef = (u8, u8);

/// The abstract record of one registered account.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AccountSpec {
    /// The registration's attempt limit.
    pub limit: u32,
    /// Attempts counted since exposure or the last successful login.
    pub attempts_used: u32,
    /// The pending login, if any.
    pub pending: Option<LoginRef>,
    /// The record is locked (secrets erased).
    pub locked: bool,
    /// The group refounded itself: the record is gone for good.
    pub lost: bool,
}

impl AccountSpec {
    /// A freshly exposed registration with `limit` attempts.
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            attempts_used: 0,
            pending: None,
            locked: false,
            lost: false,
        }
    }
}

/// A vault request of one device.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SpecOp {
    /// `LoginStart` of login `login`.
    LoginStart {
        /// The login.
        login: LoginRef,
    },
    /// `LoginFinish` of login `login`, with the password the vault will verify (true for the
    /// owner's password).
    LoginFinish {
        /// The login.
        login: LoginRef,
        /// Whether OPAQUE verifies (the registered password).
        verified: bool,
    },
    /// The group founded a new lineage after a majority of it was impaired (SPEC.md
    /// "Re-genesis"): not a device request; the model invokes and returns it at the step the
    /// first replica founds or joins the new lineage.
    Refound,
}

/// A vault reply, as far as the specification determines it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SpecRet {
    /// `LoginChallenge` with this many attempts left.
    Challenge {
        /// Attempts remaining after this one.
        remaining: u32,
    },
    /// `KeyReleased`.
    Released,
    /// `LoginFailed` with this many attempts left.
    Failed {
        /// Attempts remaining.
        remaining: u32,
    },
    /// `Locked`.
    Locked,
    /// `UnknownLogin`.
    UnknownLogin,
    /// `NoRecord` (right only after a re-genesis).
    NoRecord,
    /// The re-genesis took place.
    Refounded,
}

impl SequentialSpec for AccountSpec {
    type Op = SpecOp;
    type Ret = SpecRet;

    fn invoke(&mut self, op: &SpecOp) -> SpecRet {
        if let SpecOp::Refound = op {
            self.lost = true;
            self.pending = None;
            return SpecRet::Refounded;
        }
        if self.lost {
            return SpecRet::NoRecord;
        }
        if self.locked {
            return SpecRet::Locked;
        }
        match *op {
            SpecOp::LoginStart { login } => {
                if self.pending == Some(login) {
                    return SpecRet::Challenge {
                        remaining: self.limit.saturating_sub(self.attempts_used),
                    };
                }
                if self.attempts_used >= self.limit {
                    self.locked = true;
                    self.pending = None;
                    return SpecRet::Locked;
                }
                self.attempts_used += 1;
                self.pending = Some(login);
                SpecRet::Challenge {
                    remaining: self.limit.saturating_sub(self.attempts_used),
                }
            }
            SpecOp::LoginFinish { login, verified } => {
                if self.pending != Some(login) {
                    if self.pending.is_none() && self.attempts_used >= self.limit {
                        self.locked = true;
                        return SpecRet::Locked;
                    }
                    return SpecRet::UnknownLogin;
                }
                if verified {
                    self.attempts_used = 0;
                    return SpecRet::Released;
                }
                self.pending = None;
                if self.attempts_used >= self.limit {
                    self.locked = true;
                    return SpecRet::Locked;
                }
                SpecRet::Failed {
                    remaining: self.limit.saturating_sub(self.attempts_used),
                }
            }
            SpecOp::Refound => SpecRet::Refounded,
        }
    }
}
