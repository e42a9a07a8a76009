//! TUF-style root metadata: the isolated side's anchor of trust.
pub mod root;

pub use root::{
    Role, Root, RootChain, RootError, RootSignature, apply_chain, build_root, sign_root_document,
};
