//! The TPM 2.0 operations the TPM store needs (tss-esapi 7.7), all on two
//! NV indices in the owner hierarchy:
//!
//! - the **anchor** index: `"ALK1" ‖ version (u64, big-endian) ‖ SHA-256`
//!   of the provisioned root. Write-once: its only write authorization is
//!   the policy `PolicyCommandCode(NV_Write) ∧ PolicyNvWritten(NO)`, which
//!   cannot be satisfied once the index has been written, and neither the
//!   owner nor the index's own auth value may write it. Changing it means
//!   deleting it (`NV_UndefineSpace`), which needs the owner's
//!   authorization. (tss-esapi 7 has no `NV_WriteLock`; a write-once policy
//!   gives the same guarantee without raw FFI.)
//! - the **counter** index: a TPM monotonic counter (`TPM_NT_COUNTER`), which
//!   never goes backwards, even across undefine and redefine.
//!
//! Commands without authorization run without sessions; commands with an
//! auth value run in a fresh HMAC session each (tpm2-tss 3.2 clears a
//! session's flags after an error).
use std::str::FromStr;

use tss_esapi::attributes::NvIndexAttributesBuilder;
use tss_esapi::constants::response_code::Tss2ResponseCodeKind;
use tss_esapi::constants::{CapabilityType, CommandCode, SessionType};
use tss_esapi::handles::{
    NvIndexHandle, NvIndexTpmHandle, ObjectHandle, PcrHandle, SessionHandle, TpmHandle,
};
use tss_esapi::interface_types::algorithm::HashingAlgorithm;
use tss_esapi::interface_types::resource_handles::{NvAuth, Provision};
use tss_esapi::interface_types::session_handles::{AuthSession, PolicySession};
use tss_esapi::structures::{
    Auth, CapabilityData, Digest, DigestValues, MaxNvBuffer, NvPublicBuilder, SymmetricDefinition,
};
use tss_esapi::tcti_ldr::TctiNameConf;
use tss_esapi::{Context, constants::nv_index_type::NvIndexType};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::held::{HELD_LEN, HeldAnchor};
use crate::provision::InitMode;

/// The anchor index (owner range).
pub(crate) const ANCHOR_INDEX: u32 = 0x0150_A1A0;
/// The state counter index.
pub(crate) const COUNTER_INDEX: u32 = 0x0150_A1A1;
/// The PCR extended with every imported bundle (PC Client: PCR 23 is for
/// applications, and resettable).
pub(crate) const MEASURE_PCR: u32 = 23;

pub(crate) fn tpm_err(reason: impl Into<String>) -> Error {
    Error::Hardware {
        backend: "tpm",
        reason: reason.into(),
    }
}

/// The kind of a TPM error response, if it is one.
fn kind(e: &tss_esapi::Error) -> Option<Tss2ResponseCodeKind> {
    match e {
        tss_esapi::Error::Tss2Error(rc) => rc.kind(),
        _ => None,
    }
}

/// Whether the TPM refused an authorization value.
fn is_auth_failure(e: &tss_esapi::Error) -> bool {
    matches!(
        kind(e),
        Some(Tss2ResponseCodeKind::AuthFail | Tss2ResponseCodeKind::BadAuth)
    )
}

/// A connection to one TPM.
#[derive(Debug)]
pub(crate) struct Tpm {
    pub(super) ctx: Context,
    pub(super) tcti: String,
}

impl Tpm {
    /// Connects through `tcti` (e.g. `device:/dev/tpmrm0`,
    /// `swtpm:host=127.0.0.1,port=2321`).
    pub(crate) fn connect(tcti: &str) -> Result<Tpm, Error> {
        let conf =
            TctiNameConf::from_str(tcti).map_err(|e| tpm_err(format!("bad TCTI {tcti:?}: {e}")))?;
        let ctx = Context::new(conf)
            .map_err(|e| tpm_err(format!("cannot reach the TPM at {tcti}: {e}")))?;
        Ok(Tpm {
            ctx,
            tcti: tcti.to_owned(),
        })
    }

    /// Uses `auth` as the owner hierarchy's authorization value.
    pub(crate) fn set_owner_auth(&mut self, auth: &Zeroizing<Vec<u8>>) -> Result<(), Error> {
        let auth = Auth::try_from(auth.to_vec())
            .map_err(|e| tpm_err(format!("owner authorization value not usable: {e}")))?;
        self.ctx
            .tr_set_auth(ObjectHandle::Owner, auth)
            .map_err(|e| tpm_err(format!("cannot set owner authorization: {e}")))
    }

    fn err(&self, what: &str, e: tss_esapi::Error) -> Error {
        if is_auth_failure(&e) {
            tpm_err(format!(
                "the TPM at {} refused to {what}: owner authorization failed ({e}); give the \
                 owner password with --owner-auth-file",
                self.tcti
            ))
        } else {
            tpm_err(format!("the TPM at {} failed to {what}: {e}", self.tcti))
        }
    }

    /// A handle for NV index `index`, or `None` if it is not defined. (The
    /// TPM's handle list is asked first: looking up a missing index makes
    /// tpm2-tss print errors on stderr.)
    fn nv(&mut self, index: u32) -> Result<Option<NvIndexHandle>, Error> {
        let tpm_handle = NvIndexTpmHandle::new(index).map_err(|e| tpm_err(e.to_string()))?;
        let (listed, _) = self
            .ctx
            .execute_without_session(|c| c.get_capability(CapabilityType::Handles, index, 1))
            .map_err(|e| self.err("list NV indices", e))?;
        let defined = match listed {
            CapabilityData::Handles(list) => list.contains(&TpmHandle::NvIndex(tpm_handle)),
            _ => false,
        };
        if !defined {
            return Ok(None);
        }
        self.ctx
            .execute_without_session(|c| c.tr_from_tpm_public(tpm_handle.into()))
            .map(|h| Some(NvIndexHandle::from(h)))
            .map_err(|e| self.err(&format!("look up NV index {index:#010x}"), e))
    }

    fn read(&mut self, index: u32, handle: NvIndexHandle, size: u16) -> Result<Vec<u8>, Error> {
        self.ctx
            .execute_with_nullauth_session(|c| c.nv_read(NvAuth::NvIndex(handle), handle, size, 0))
            .map(|b| b.to_vec())
            .map_err(|e| self.err(&format!("read NV index {index:#010x}"), e))
    }

    /// The anchor the TPM holds, if any.
    pub(crate) fn anchor(&mut self) -> Result<Option<HeldAnchor>, Error> {
        let Some(h) = self.nv(ANCHOR_INDEX)? else {
            return Ok(None);
        };
        let (public, _) = self
            .ctx
            .execute_without_session(|c| c.nv_read_public(h))
            .map_err(|e| self.err("read the anchor index's attributes", e))?;
        let a = public.attributes();
        // Only the write-once index airlock defines counts: written, and
        // writable by nothing but its policy.
        if !a.written() || a.owner_write() || a.auth_write() || a.pp_write() || !a.policy_write() {
            return Err(tpm_err(format!(
                "NV index {ANCHOR_INDEX:#010x} is not a write-locked airlock anchor"
            )));
        }
        if public.authorization_policy().value() != write_once_policy(&mut self.ctx)?.value() {
            return Err(tpm_err(format!(
                "NV index {ANCHOR_INDEX:#010x} has an authorization policy other than airlock's write-once policy"
            )));
        }
        let bytes = self.read(ANCHOR_INDEX, h, HELD_LEN as u16)?;
        HeldAnchor::decode(&bytes).map(Some).ok_or_else(|| {
            tpm_err(format!(
                "NV index {ANCHOR_INDEX:#010x} does not hold an airlock anchor"
            ))
        })
    }

    /// Defines the anchor index and writes `anchor` into it, once. With
    /// `replace`, an existing index is deleted first (owner authorization).
    pub(crate) fn provision_anchor(
        &mut self,
        anchor: &HeldAnchor,
        mode: InitMode,
    ) -> Result<(), Error> {
        if let Some(h) = self.nv(ANCHOR_INDEX)? {
            if !mode.replaces() {
                return Err(Error::AlreadyProvisioned {
                    path: format!("TPM NV index {ANCHOR_INDEX:#010x} at {}", self.tcti).into(),
                });
            }
            self.ctx
                .execute_with_nullauth_session(|c| c.nv_undefine_space(Provision::Owner, h))
                .map_err(|e| self.err("delete the old anchor index", e))?;
        }
        let policy = write_once_policy(&mut self.ctx)?;
        let attributes = NvIndexAttributesBuilder::new()
            .with_nv_index_type(NvIndexType::Ordinary)
            .with_policy_write(true)
            .with_auth_read(true)
            .with_no_da(true)
            .build()
            .map_err(|e| tpm_err(e.to_string()))?;
        let public = NvPublicBuilder::new()
            .with_nv_index(NvIndexTpmHandle::new(ANCHOR_INDEX).map_err(|e| tpm_err(e.to_string()))?)
            .with_index_name_algorithm(HashingAlgorithm::Sha256)
            .with_index_attributes(attributes)
            .with_index_auth_policy(policy)
            .with_data_area_size(HELD_LEN)
            .build()
            .map_err(|e| tpm_err(e.to_string()))?;
        let h = self
            .ctx
            .execute_with_nullauth_session(|c| c.nv_define_space(Provision::Owner, None, public))
            .map_err(|e| self.err("define the anchor index", e))?;
        let data = MaxNvBuffer::try_from(anchor.encode()).map_err(|e| tpm_err(e.to_string()))?;
        let session = policy_session(&mut self.ctx, SessionType::Policy)?;
        let written = self.ctx.execute_with_session(Some(session), |c| {
            c.nv_write(NvAuth::NvIndex(h), h, data, 0)
        });
        flush(&mut self.ctx, session);
        written.map_err(|e| self.err("write the anchor index", e))
    }

    /// Tries to overwrite the anchor index with `bytes` every way a caller
    /// could: its write-once policy, the owner's authorization, the index's
    /// own auth value. Returns the errors (all three must fail once the index
    /// is written).
    #[cfg(test)]
    pub(crate) fn try_overwrite_anchor(&mut self, bytes: &[u8]) -> Result<Vec<String>, Error> {
        let h = self
            .nv(ANCHOR_INDEX)?
            .ok_or_else(|| tpm_err("no anchor index"))?;
        let mut results = Vec::new();
        let data = || MaxNvBuffer::try_from(bytes.to_vec()).map_err(|e| tpm_err(e.to_string()));
        let session = policy_session(&mut self.ctx, SessionType::Policy)?;
        let d = data()?;
        let r = self
            .ctx
            .execute_with_session(Some(session), |c| c.nv_write(NvAuth::NvIndex(h), h, d, 0));
        flush(&mut self.ctx, session);
        results.push(
            r.map(|()| "policy: WRITTEN".to_owned())
                .unwrap_or_else(|e| format!("policy: {e}")),
        );
        for (name, auth) in [("owner", NvAuth::Owner), ("index", NvAuth::NvIndex(h))] {
            let d = data()?;
            let r = self
                .ctx
                .execute_with_nullauth_session(|c| c.nv_write(auth, h, d, 0));
            results.push(
                r.map(|()| format!("{name}: WRITTEN"))
                    .unwrap_or_else(|e| format!("{name}: {e}")),
            );
        }
        Ok(results)
    }

    /// The state counter's value, or `None` if the counter is not defined.
    pub(crate) fn counter(&mut self) -> Result<Option<u64>, Error> {
        let Some(h) = self.nv(COUNTER_INDEX)? else {
            return Ok(None);
        };
        let bytes = self.read(COUNTER_INDEX, h, 8)?;
        let raw: [u8; 8] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| tpm_err("the counter index does not hold 8 bytes"))?;
        Ok(Some(u64::from_be_bytes(raw)))
    }

    /// Defines the state counter if it is missing (a counter is readable
    /// only after its first increment, so it is incremented once).
    pub(crate) fn ensure_counter(&mut self) -> Result<u64, Error> {
        if let Some(c) = self.counter()? {
            return Ok(c);
        }
        let attributes = NvIndexAttributesBuilder::new()
            .with_nv_index_type(NvIndexType::Counter)
            .with_auth_write(true)
            .with_auth_read(true)
            .with_no_da(true)
            .build()
            .map_err(|e| tpm_err(e.to_string()))?;
        let public = NvPublicBuilder::new()
            .with_nv_index(
                NvIndexTpmHandle::new(COUNTER_INDEX).map_err(|e| tpm_err(e.to_string()))?,
            )
            .with_index_name_algorithm(HashingAlgorithm::Sha256)
            .with_index_attributes(attributes)
            .with_data_area_size(8)
            .build()
            .map_err(|e| tpm_err(e.to_string()))?;
        self.ctx
            .execute_with_nullauth_session(|c| c.nv_define_space(Provision::Owner, None, public))
            .map_err(|e| self.err("define the state counter", e))?;
        self.increment()
    }

    /// Increments the state counter and returns its new value.
    pub(crate) fn increment(&mut self) -> Result<u64, Error> {
        let h = self
            .nv(COUNTER_INDEX)?
            .ok_or_else(|| tpm_err("the state counter index is not defined"))?;
        self.ctx
            .execute_with_nullauth_session(|c| c.nv_increment(NvAuth::NvIndex(h), h))
            .map_err(|e| self.err("increment the state counter", e))?;
        self.counter()?
            .ok_or_else(|| tpm_err("the state counter vanished"))
    }
}

impl Tpm {
    /// Extends [`MEASURE_PCR`]'s SHA-256 bank with `digest`.
    pub(crate) fn extend_pcr(&mut self, digest: [u8; 32]) -> Result<(), Error> {
        let mut values = DigestValues::new();
        values.set(
            HashingAlgorithm::Sha256,
            Digest::try_from(digest.to_vec()).map_err(|e| tpm_err(e.to_string()))?,
        );
        self.ctx
            .execute_with_nullauth_session(|c| c.pcr_extend(PcrHandle::Pcr23, values))
            .map_err(|e| self.err(&format!("extend PCR {MEASURE_PCR}"), e))
    }
}

/// Starts a policy (or trial) session.
fn policy_session(ctx: &mut Context, kind: SessionType) -> Result<AuthSession, Error> {
    let session = ctx
        .start_auth_session(
            None,
            None,
            None,
            kind,
            SymmetricDefinition::AES_128_CFB,
            HashingAlgorithm::Sha256,
        )
        .map_err(|e| tpm_err(format!("cannot start a policy session: {e}")))?
        .ok_or_else(|| tpm_err("the TPM returned no session"))?;
    let policy = PolicySession::try_from(session).map_err(|e| tpm_err(e.to_string()))?;
    let asserted = ctx.execute_without_session(|c| {
        c.policy_command_code(policy, CommandCode::NvWrite)?;
        c.policy_nv_written(policy, false)
    });
    if let Err(e) = asserted {
        flush(ctx, session);
        return Err(tpm_err(format!("cannot build the write-once policy: {e}")));
    }
    Ok(session)
}

fn flush(ctx: &mut Context, session: AuthSession) {
    let _ = ctx.flush_context(SessionHandle::from(session).into());
}

/// The digest of `PolicyCommandCode(NV_Write) ∧ PolicyNvWritten(NO)`,
/// computed by the TPM in a trial session.
fn write_once_policy(ctx: &mut Context) -> Result<Digest, Error> {
    let session = policy_session(ctx, SessionType::Trial)?;
    let policy = PolicySession::try_from(session).map_err(|e| tpm_err(e.to_string()))?;
    let digest = ctx.execute_without_session(|c| c.policy_get_digest(policy));
    flush(ctx, session);
    digest.map_err(|e| tpm_err(format!("cannot compute the write-once policy: {e}")))
}
