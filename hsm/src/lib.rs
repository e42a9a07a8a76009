//! Key custody and trust-anchor storage for airlock.
//!
//! Everything that holds a secret or a trust anchor sits behind two traits:
//!
//! - [`Signer`]: signs a message and exposes its public key; the private key
//!   never leaves its backend (a PEM file today, a PKCS#11 token or a TPM in
//!   the hardware backends: [`Pkcs11Signer`]).
//! - [`TrustStore`]: answers "what is the anchor", "what is the monotonic
//!   state" (per-channel sequences, latest time seen, and the binding of
//!   the [`ledger`] of accepted bundle ids) and records an acceptance
//!   atomically, under an exclusive lock; it also supplies the audit
//!   journal's signing key and binds the journal's head to its monotonic
//!   state ([`journal`]).
//!
//! This crate sees public keys, digests and the trusted root's bytes as an
//! opaque blob; it never parses bundle contents.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod anchored;
mod atomic;
pub mod config;
pub mod error;
pub mod fault;
pub mod file_signer;
pub mod file_store;
pub mod held;
pub mod journal;
pub mod key;
pub mod ledger;
pub mod lock;
pub mod open;
pub mod opfile;
pub mod pkcs11;
pub mod provision;
pub mod signer;
pub mod store;
#[cfg(feature = "tpm")]
pub mod tpm;

pub use anchored::{AnchorHardware, AnchoredStore};
pub use config::CONFIG_FILE;
pub use error::{Error, Fault};
pub use file_signer::FileSigner;
pub use file_store::FileStore;
pub use held::HeldAnchor;
pub use journal::{JournalFile, JournalHead};
pub use key::{KeyAlgorithm, PublicKey, SignatureStream};
pub use ledger::{Ledger, LedgerRef};
pub use lock::{DirLock, ReadLock};
pub use open::{backend_of, open_store};
pub use pkcs11::{Pkcs11Signer, Pkcs11Store, Pkcs11Uri};
pub use provision::{InitMode, JournalKey, Provisioning};
pub use signer::Signer;
pub use store::{
    Acceptance, Anchor, BackendKind, LayoutSeen, Locked, PolicyPin, SigstorePin, StoreLock,
    StoreState, TrustStore,
};
#[cfg(feature = "tpm")]
pub use tpm::{QUOTE_PCR, TpmHardware, TpmQuote, TpmStatus, TpmStore};
