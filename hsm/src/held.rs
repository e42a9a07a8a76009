//! The provisioned root as a hardware backend holds it (a TPM NV index, a
//! token data object): its version and digest, in a fixed encoding.
use crate::store::Anchor;

/// The provisioned root as the hardware holds it:
/// `"ALK1" ‖ version (u64, big-endian) ‖ SHA-256`, 44 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldAnchor {
    /// The root's version.
    pub version: u64,
    /// SHA-256 of the root's exact bytes.
    pub sha256: [u8; 32],
}

const HELD_MAGIC: &[u8; 4] = b"ALK1";
/// Length of an encoded [`HeldAnchor`].
pub(crate) const HELD_LEN: usize = 4 + 8 + 32;

impl HeldAnchor {
    pub(crate) fn of(anchor: &Anchor) -> HeldAnchor {
        HeldAnchor {
            version: anchor.version,
            sha256: anchor.sha256,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HELD_LEN);
        v.extend_from_slice(HELD_MAGIC);
        v.extend_from_slice(&self.version.to_be_bytes());
        v.extend_from_slice(&self.sha256);
        v
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<HeldAnchor> {
        if bytes.len() != HELD_LEN || &bytes[..4] != HELD_MAGIC {
            return None;
        }
        let mut version = [0u8; 8];
        version.copy_from_slice(&bytes[4..12]);
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&bytes[12..]);
        Some(HeldAnchor {
            version: u64::from_be_bytes(version),
            sha256,
        })
    }
}
