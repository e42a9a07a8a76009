//! TUF-style root metadata: the isolated side's anchor of trust.
pub mod root;
pub mod rotate;

pub use root::{
    LayoutOwner, Role, Root, RootChain, RootError, RootSignature, RotationTally, apply_chain,
    build_root, sign_root_document,
};
pub use rotate::{Rotated, Rotation, rotate};
