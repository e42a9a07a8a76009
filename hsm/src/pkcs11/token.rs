//! Reaching a token: one loaded module per process, the slot whose token
//! the URI names, and a logged-in session.
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::Pkcs11Uri;
use crate::error::Error;

/// Longest PIN file accepted (a PIN is short; this is a file someone named).
const MAX_PIN_FILE: u64 = 4096;

/// Modules loaded and initialised in this process, by path. A module reads
/// its configuration (e.g. `SOFTHSM2_CONF`) once, at `C_Initialize`, and a
/// second `C_Initialize` fails: so each module is loaded once and shared.
static MODULES: OnceLock<Mutex<Vec<(PathBuf, Pkcs11)>>> = OnceLock::new();

pub(crate) fn hw(reason: impl Into<String>) -> Error {
    Error::Hardware {
        backend: "pkcs11",
        reason: reason.into(),
    }
}

/// The process's context for `module`, loading and initialising it on first
/// use.
pub(crate) fn module(module: &Path) -> Result<Pkcs11, Error> {
    let modules = MODULES.get_or_init(|| Mutex::new(Vec::new()));
    let mut modules = modules
        .lock()
        .map_err(|_| hw("the PKCS#11 module table is poisoned"))?;
    if let Some((_, ctx)) = modules.iter().find(|(p, _)| p == module) {
        return Ok(ctx.clone());
    }
    if !module.is_file() {
        return Err(hw(format!(
            "the PKCS#11 module {} does not exist",
            module.display()
        )));
    }
    let ctx = Pkcs11::new(module).map_err(|e| {
        hw(format!(
            "cannot load the PKCS#11 module {}: {e}",
            module.display()
        ))
    })?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| hw(format!("cannot initialise {}: {e}", module.display())))?;
    modules.push((module.to_owned(), ctx.clone()));
    Ok(ctx)
}

/// The one slot holding the token the URI names.
pub(crate) fn find_slot(ctx: &Pkcs11, uri: &Pkcs11Uri) -> Result<Slot, Error> {
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| hw(format!("cannot list the module's slots: {e}")))?;
    let mut found = Vec::new();
    for slot in slots {
        let info = ctx
            .get_token_info(slot)
            .map_err(|e| hw(format!("cannot read the token in slot {slot}: {e}")))?;
        let matches = |want: &Option<String>, have: &str| {
            want.as_deref()
                .is_none_or(|w| w.trim_end() == have.trim_end())
        };
        if info.label().trim_end() == uri.token.trim_end()
            && matches(&uri.manufacturer, info.manufacturer_id())
            && matches(&uri.model, info.model())
            && matches(&uri.serial, info.serial_number())
        {
            found.push(slot);
        }
    }
    match found.as_slice() {
        [slot] => Ok(*slot),
        [] => Err(hw(format!(
            "no token labelled {:?} in {}",
            uri.token,
            uri.module_path.display()
        ))),
        _ => Err(hw(format!(
            "{} tokens are labelled {:?}; add serial=… to the URI to choose one",
            found.len(),
            uri.token
        ))),
    }
}

/// Reads the user PIN from the URI's `pin-source` file: its content, less
/// one trailing newline.
fn read_pin(uri: &Pkcs11Uri) -> Result<Zeroizing<String>, Error> {
    let path = uri.pin_source.as_ref().ok_or_else(|| Error::Pkcs11Uri {
        reason: "the URI needs pin-source=file:PATH (the file holding the user PIN)".into(),
    })?;
    let err = |source| Error::PinFile {
        path: path.clone(),
        source,
    };
    let pin = Zeroizing::new(crate::opfile::read_regular_text(path, MAX_PIN_FILE).map_err(err)?);
    let trimmed = pin
        .strip_suffix("\r\n")
        .or_else(|| pin.strip_suffix('\n'))
        .unwrap_or(&pin);
    if trimmed.is_empty() {
        return Err(err(std::io::Error::other("the file is empty")));
    }
    Ok(Zeroizing::new(trimmed.to_owned()))
}

/// Whether a session may change the token's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read-only: signing with existing keys.
    ReadOnly,
    /// Read-write: creating keys and objects.
    ReadWrite,
}

/// A session on the URI's token, logged in as the user with the PIN from
/// `pin-source`.
pub(crate) fn login(uri: &Pkcs11Uri, access: Access) -> Result<Session, Error> {
    let pin = read_pin(uri)?;
    let ctx = module(&uri.module_path)?;
    let slot = find_slot(&ctx, uri)?;
    let session = if access == Access::ReadWrite {
        ctx.open_rw_session(slot)
    } else {
        ctx.open_ro_session(slot)
    }
    .map_err(|e| {
        hw(format!(
            "cannot open a session on token {:?}: {e}",
            uri.token
        ))
    })?;
    match session.login(UserType::User, Some(&AuthPin::new(pin.as_str().into()))) {
        Ok(()) => Ok(session),
        // Login state is per token and process: another key on the same
        // token logged in already.
        Err(cryptoki::error::Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
        Err(cryptoki::error::Error::Pkcs11(
            rv @ (RvError::PinIncorrect | RvError::PinLocked | RvError::PinExpired),
            _,
        )) => Err(Error::PinIncorrect {
            token: uri.token.clone(),
            reason: match rv {
                RvError::PinLocked => "the PIN is locked".into(),
                RvError::PinExpired => "the PIN has expired".into(),
                _ => "CKR_PIN_INCORRECT".into(),
            },
        }),
        Err(e) => Err(hw(format!("cannot log in to token {:?}: {e}", uri.token))),
    }
}

/// Objects of `class` labelled `label` (any label when `None`) and with the
/// URI's id, if it gives one.
pub(crate) fn find_objects(
    session: &Session,
    uri: &Pkcs11Uri,
    class: ObjectClass,
    label: Option<&str>,
) -> Result<Vec<ObjectHandle>, Error> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(label) = label {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    session
        .find_objects(&template)
        .map_err(|e| hw(format!("cannot search token {:?}: {e}", uri.token)))
}

/// Boolean attributes of `object`, in the order asked (`None`: the token
/// does not report it).
pub(crate) fn bool_attributes(
    session: &Session,
    object: ObjectHandle,
    kinds: &[AttributeType],
) -> Result<Vec<Option<bool>>, Error> {
    let attrs = session
        .get_attributes(object, kinds)
        .map_err(|e| hw(format!("cannot read key attributes: {e}")))?;
    Ok(kinds
        .iter()
        .map(|k| {
            attrs.iter().find_map(|a| match (k, a) {
                (AttributeType::Sensitive, Attribute::Sensitive(b))
                | (AttributeType::Extractable, Attribute::Extractable(b))
                | (AttributeType::NeverExtractable, Attribute::NeverExtractable(b))
                | (AttributeType::AlwaysSensitive, Attribute::AlwaysSensitive(b))
                | (AttributeType::Local, Attribute::Local(b))
                | (AttributeType::Modifiable, Attribute::Modifiable(b))
                | (AttributeType::Private, Attribute::Private(b)) => Some(*b),
                _ => None,
            })
        })
        .collect())
}
