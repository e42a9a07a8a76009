//! The PKCS#11 backend (cryptoki): signing keys generated and kept on a
//! token, named by RFC 7512 URIs, and trust stores anchored in a token.
//!
//! The module named by `module-path` is loaded with `dlopen` at run time, so
//! builds need no HSM library. It is loaded and initialised once per process
//! and shared (a module reads its configuration, e.g. `SOFTHSM2_CONF`, at
//! `C_Initialize`).
mod signer;
mod store;
mod token;
pub mod uri;

pub use signer::{KeyProtection, Pkcs11Signer};
pub use store::{Pkcs11Hardware, Pkcs11Store};
pub use uri::Pkcs11Uri;
