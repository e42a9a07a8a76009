//! The PKCS#11 trust store: an [`AnchoredStore`] whose hardware is a token.
//!
//! The token holds two kinds of data objects, all created non-modifiable
//! (`CKA_MODIFIABLE` false) and non-destroyable (`CKA_DESTROYABLE` false),
//! so that nobody holding the user PIN — a local root user included — can
//! change or remove them; only re-initialising the token (the SO PIN, which
//! wipes every object and key on it) can:
//!
//! - `airlock-anchor`: the provisioned root (SHA-256 and version). There is
//!   exactly one; a second object with that label (anyone with the PIN can
//!   create one) makes the store refuse to work rather than choose.
//! - the counter cell (application `airlock-counter-cell`): the
//!   anti-rollback counter, one object whatever the history: a *private*
//!   data object (visible and writable only in a session logged in with the
//!   user PIN), non-destroyable, labelled `airlock-counter-cell:N`; every
//!   decision (import, verify, refusal: each moves the journal head) sets
//!   its label to the next N (tokens let an application change a data
//!   object's label; SoftHSM2 refuses to change its value). Reading or advancing it costs one
//!   object, however many decisions came before. A second object under
//!   that label makes the store refuse to work. (docs/trust-stores.md:
//!   design and security argument.)
//! - `airlock-counter`: the counter of stores made before the cell, one
//!   non-modifiable object per decision (the highest value wins). Read once,
//!   when a store without a cell advances for the first time: the cell then
//!   starts above them and they are never read again.
//!
//! The store directory records the token's URI in `pkcs11.json`.
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use serde::{Deserialize, Serialize};

use super::Pkcs11Uri;
use super::signer::Pkcs11Signer;
use super::token::{Access, hw, login};
use crate::anchored::{AnchorHardware, AnchoredStore, read_json};
use crate::error::Error;
use crate::held::HeldAnchor;
use crate::journal::JournalHead;
use crate::key::KeyAlgorithm;
use crate::provision::{InitMode, JournalKey, Provisioning};
use crate::signer::Signer;
use crate::store::{Anchor, BackendKind};

const PKCS11_CONFIG: &str = "pkcs11.json";
const ANCHOR_LABEL: &str = "airlock-anchor";
/// One object per decision, in stores made before the counter cell.
const LEGACY_COUNTER_LABEL: &str = "airlock-counter";
/// The counter: one private, modifiable, non-destroyable object.
const COUNTER_LABEL: &str = "airlock-counter-cell";
/// The label of the journal key pair (ECDSA P-256, non-extractable).
const JOURNAL_LABEL: &str = "airlock-journal";
const APPLICATION: &str = "airlock";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pkcs11Config {
    format: u32,
    uri: String,
}

/// A token holding a store's anchor and counter.
pub struct Pkcs11Hardware {
    uri: Pkcs11Uri,
    session: Mutex<Session>,
}

impl std::fmt::Debug for Pkcs11Hardware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Hardware")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

/// A trust store anchored in a PKCS#11 token.
pub type Pkcs11Store = AnchoredStore<Pkcs11Hardware>;

fn parse_token_uri(uri: &str) -> Result<Pkcs11Uri, Error> {
    let parsed = Pkcs11Uri::parse(uri).map_err(|reason| Error::Pkcs11Uri { reason })?;
    if parsed.object.is_some() || parsed.id.is_some() {
        return Err(Error::Pkcs11Uri {
            reason: "a trust store's URI names the token only (no object= or id=): the store's \
                     objects have fixed labels, so nobody can point it at others"
                .into(),
        });
    }
    Ok(parsed)
}

impl AnchoredStore<Pkcs11Hardware> {
    /// Provisions `dir` (created if missing) with `anchor`, held by the token
    /// the URI names, and creates the journal key on the token. A token that
    /// already holds an anchor is refused, with or without `replace`: its
    /// anchor cannot be changed or destroyed, only wiped with the whole
    /// token (but a store directory can move onto a new token with
    /// [`InitMode::Replace`]; [`InitMode::ReplaceNewJournal`] then closes its
    /// journal and starts a new one). `journal` writes the provisioning's journal records (see
    /// [`AnchoredStore::provision_dir`]).
    pub fn init<E: From<Error>>(
        dir: &Path,
        uri: &str,
        anchor: &Anchor,
        channels: Option<&BTreeSet<String>>,
        mode: InitMode,
        journal: impl FnOnce(&Provisioning<'_>) -> Result<JournalHead, E>,
    ) -> Result<Pkcs11Store, E> {
        let parsed = parse_token_uri(uri)?;
        let config = serde_json::to_vec_pretty(&Pkcs11Config {
            format: 1,
            uri: parsed.to_string(),
        })
        .map_err(|e| Error::Sign(e.to_string()))?;
        let connect = || {
            Ok(Pkcs11Hardware {
                session: Mutex::new(login(&parsed, Access::ReadWrite)?),
                uri: parsed.clone(),
            })
        };
        AnchoredStore::provision_dir(
            dir,
            (PKCS11_CONFIG, config),
            anchor,
            channels,
            mode,
            connect,
            journal,
        )
    }

    /// Opens a provisioned PKCS#11 store and logs in to its token.
    pub fn open(dir: &Path) -> Result<Pkcs11Store, Error> {
        let path = dir.join(PKCS11_CONFIG);
        let config: Pkcs11Config = read_json(&path)?;
        if config.format != 1 {
            return Err(Error::StoreCorrupt {
                path,
                reason: format!("unknown format {}", config.format),
            });
        }
        let uri = parse_token_uri(&config.uri)?;
        let session = login(&uri, Access::ReadWrite)?;
        Ok(AnchoredStore::open_with(
            dir,
            Pkcs11Hardware {
                uri,
                session: Mutex::new(session),
            },
        ))
    }
}

impl Pkcs11Hardware {
    fn session(&self) -> Result<std::sync::MutexGuard<'_, Session>, Error> {
        self.session
            .lock()
            .map_err(|_| hw("the token session is poisoned"))
    }

    fn data_objects(&self, session: &Session, label: &str) -> Result<Vec<ObjectHandle>, Error> {
        session
            .find_objects(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(|e| hw(format!("cannot search token {:?}: {e}", self.uri.token)))
    }

    /// The value of a data object, after checking that the token protects
    /// it: a token object, neither modifiable nor destroyable.
    fn protected_value(&self, session: &Session, object: ObjectHandle) -> Result<Vec<u8>, Error> {
        let attrs = session
            .get_attributes(
                object,
                &[
                    AttributeType::Token,
                    AttributeType::Modifiable,
                    AttributeType::Destroyable,
                    AttributeType::Value,
                ],
            )
            .map_err(|e| hw(format!("cannot read a data object: {e}")))?;
        let (mut token, mut modifiable, mut destroyable, mut value) = (false, true, true, None);
        for a in attrs {
            match a {
                Attribute::Token(b) => token = b,
                Attribute::Modifiable(b) => modifiable = b,
                Attribute::Destroyable(b) => destroyable = b,
                Attribute::Value(v) => value = Some(v),
                _ => {}
            }
        }
        match value {
            Some(v) if token && !modifiable && !destroyable => Ok(v),
            _ => Err(Error::AnchorMismatch {
                path: format!("token {:?}", self.uri.token).into(),
                reason: "an airlock object on the token is modifiable or destroyable: it was not \
                         created by airlock"
                    .into(),
            }),
        }
    }

    fn create(&self, session: &Session, label: &str, value: Vec<u8>) -> Result<(), Error> {
        session
            .create_object(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Modifiable(false),
                Attribute::Destroyable(false),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Application(APPLICATION.as_bytes().to_vec()),
                Attribute::Value(value),
            ])
            .map(|_| ())
            .map_err(|e| {
                hw(format!(
                    "token {:?} cannot create the object {label:?}: {e}",
                    self.uri.token
                ))
            })
    }

    fn provision_anchor(&self, anchor: &HeldAnchor) -> Result<(), Error> {
        let session = self.session()?;
        if !self.data_objects(&session, ANCHOR_LABEL)?.is_empty() {
            return Err(Error::AlreadyProvisioned {
                path: format!(
                    "token {:?} (its anchor object cannot be changed or destroyed; to \
                     re-provision, re-initialise the token with its SO PIN, which wipes it, or use \
                     another token)",
                    self.uri.token
                )
                .into(),
            });
        }
        self.create(&session, ANCHOR_LABEL, anchor.encode())?;
        if self.counter_with(&session)?.is_none() {
            self.create_cell(&session, 1)?;
        }
        Ok(())
    }

    /// Creates the counter cell holding `value`.
    fn create_cell(&self, session: &Session, value: u64) -> Result<(), Error> {
        session
            .create_object(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Modifiable(true),
                Attribute::Destroyable(false),
                Attribute::Label(cell_label(value)),
                Attribute::Application(COUNTER_LABEL.as_bytes().to_vec()),
                Attribute::Value(Vec::new()),
            ])
            .map(|_| ())
            .map_err(|e| {
                hw(format!(
                    "token {:?} cannot create the object {COUNTER_LABEL:?}: {e}",
                    self.uri.token
                ))
            })
    }

    /// The counter cell and its value, if the token has one; refuses a
    /// cell that is not private and non-destroyable (not made by airlock),
    /// and a second cell.
    fn cell(&self, session: &Session) -> Result<Option<(ObjectHandle, u64)>, Error> {
        // Found by its application: its label carries the value (the one
        // attribute of a data object tokens let an application change;
        // SoftHSM2 refuses to modify CKA_VALUE).
        let cells = session
            .find_objects(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Application(COUNTER_LABEL.as_bytes().to_vec()),
            ])
            .map_err(|e| hw(format!("cannot search token {:?}: {e}", self.uri.token)))?;
        let object = match cells[..] {
            [] => return Ok(None),
            [object] => object,
            _ => {
                return Err(Error::AnchorMismatch {
                    path: format!("token {:?}", self.uri.token).into(),
                    reason: format!(
                        "{} objects are labelled {COUNTER_LABEL:?}; someone with the PIN added one",
                        cells.len()
                    ),
                });
            }
        };
        let attrs = session
            .get_attributes(
                object,
                &[
                    AttributeType::Token,
                    AttributeType::Private,
                    AttributeType::Destroyable,
                    AttributeType::Label,
                ],
            )
            .map_err(|e| hw(format!("cannot read the counter object: {e}")))?;
        let (mut token, mut private, mut destroyable, mut value) = (false, false, true, None);
        for a in attrs {
            match a {
                Attribute::Token(b) => token = b,
                Attribute::Private(b) => private = b,
                Attribute::Destroyable(b) => destroyable = b,
                Attribute::Label(v) => value = Some(v),
                _ => {}
            }
        }
        let n = match value {
            Some(v) if token && private && !destroyable => parse_cell_label(&v)
                .ok_or_else(|| hw("the counter object's label is not airlock-counter-cell:N"))?,
            _ => {
                return Err(Error::AnchorMismatch {
                    path: format!("token {:?}", self.uri.token).into(),
                    reason: "the counter object on the token is public or destroyable: it was not \
                             created by airlock"
                        .into(),
                });
            }
        };
        Ok(Some((object, n)))
    }

    fn counter_with(&self, session: &Session) -> Result<Option<u64>, Error> {
        if let Some((_, v)) = self.cell(session)? {
            return Ok(Some(v));
        }
        self.legacy_counter(session)
    }

    /// The counter of a store made before the cell: the highest of its
    /// per-decision objects.
    fn legacy_counter(&self, session: &Session) -> Result<Option<u64>, Error> {
        let mut max = None;
        for object in self.data_objects(session, LEGACY_COUNTER_LABEL)? {
            let v = self.protected_value(session, object)?;
            let raw: [u8; 8] = v
                .as_slice()
                .try_into()
                .map_err(|_| hw("a counter object does not hold 8 bytes"))?;
            let v = u64::from_be_bytes(raw);
            max = Some(max.map_or(v, |m: u64| m.max(v)));
        }
        Ok(max)
    }
}

/// The counter cell's label: `airlock-counter-cell:N`.
fn cell_label(value: u64) -> Vec<u8> {
    format!("{COUNTER_LABEL}:{value}").into_bytes()
}

fn parse_cell_label(label: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(label).ok()?;
    let n = text.strip_prefix(COUNTER_LABEL)?.strip_prefix(':')?;
    if n.is_empty() || n.starts_with('0') && n.len() > 1 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

impl AnchorHardware for Pkcs11Hardware {
    fn kind(&self) -> BackendKind {
        BackendKind::Pkcs11
    }

    fn location(&self) -> String {
        format!("token {:?}", self.uri.token)
    }

    fn held_anchor(&self) -> Result<Option<HeldAnchor>, Error> {
        let session = self.session()?;
        let objects = self.data_objects(&session, ANCHOR_LABEL)?;
        match objects[..] {
            [] => Ok(None),
            [object] => {
                let v = self.protected_value(&session, object)?;
                HeldAnchor::decode(&v)
                    .map(Some)
                    .ok_or_else(|| hw("the token's anchor object is not an airlock anchor"))
            }
            _ => Err(Error::AnchorMismatch {
                path: format!("token {:?}", self.uri.token).into(),
                reason: format!(
                    "{} objects are labelled {ANCHOR_LABEL:?}; someone with the PIN added one",
                    objects.len()
                ),
            }),
        }
    }

    fn counter(&self) -> Result<Option<u64>, Error> {
        let session = self.session()?;
        self.counter_with(&session)
    }

    /// The token's anchor cannot be replaced: the mode changes nothing.
    fn provision(&self, anchor: &HeldAnchor, _mode: InitMode) -> Result<(), Error> {
        self.provision_anchor(anchor)
    }

    /// The key pair labelled `airlock-journal` on the store's token.
    fn journal_key(&self, key: JournalKey) -> Result<Box<dyn Signer>, Error> {
        let mut uri = self.uri.clone();
        uri.object = Some(JOURNAL_LABEL.into());
        uri.id = None;
        let uri = uri.to_string();
        let key = match Pkcs11Signer::open(&uri) {
            Ok(k) => k,
            Err(Error::KeyNotFound { .. }) if key == JournalKey::Create => {
                Pkcs11Signer::generate(&uri, KeyAlgorithm::EcdsaP256)?
            }
            Err(e) => return Err(e),
        };
        // A pair planted under the label by someone with the PIN could be
        // a copy of a key they keep: only a key that never left the token
        // signs the journal.
        let p = key.protection()?;
        if !p.sensitive || p.extractable || !p.never_extractable {
            return Err(Error::KeyNotFound {
                what: format!("{JOURNAL_LABEL:?} on token {:?}", self.uri.token),
                reason: "the key is extractable or was once (not made by airlock); remove it \
                         and provision again"
                    .into(),
            });
        }
        Ok(Box::new(key))
    }

    fn advance(&self) -> Result<u64, Error> {
        let session = self.session()?;
        let Some((cell, now)) = self.cell(&session)? else {
            // A store made before the cell: the cell starts above its
            // per-decision objects, which are never read again.
            let next = self
                .legacy_counter(&session)?
                .ok_or_else(|| hw("the token holds no airlock counter"))?
                + 1;
            self.create_cell(&session, next)?;
            return Ok(next);
        };
        let next = now
            .checked_add(1)
            .ok_or_else(|| hw("the counter is at its maximum"))?;
        session
            .update_attributes(cell, &[Attribute::Label(cell_label(next))])
            .map_err(|e| {
                hw(format!(
                    "token {:?} cannot advance the counter: {e}",
                    self.uri.token
                ))
            })?;
        Ok(next)
    }

    fn protections(&self) -> Vec<String> {
        let held = match self.held_anchor() {
            Ok(Some(a)) => format!(
                "anchor: root version {} (sha256 {}) in the token object {ANCHOR_LABEL:?}, \
                 neither modifiable nor destroyable (only wiping the token removes it)",
                a.version,
                hex::encode(a.sha256)
            ),
            Ok(None) => "anchor: MISSING from the token".into(),
            Err(e) => format!("anchor: token UNUSABLE: {e}"),
        };
        let counter = match self.counter() {
            Ok(Some(c)) => format!(
                "state: bound to a counter on the token (now {c}; one private, non-destroyable object, advanced by every decision)"
            ),
            _ => "state: bound to a counter on the token (unreadable now)".into(),
        };
        vec![
            format!("pkcs11: {}", self.uri),
            held,
            counter,
            format!("journal: records signed by the non-extractable ECDSA P-256 key {JOURNAL_LABEL:?} on the token; its head is bound to the counter with the state, so a journal cut back is detected even when the state is restored with it"),
            "rotated roots: kept in the store directory; the chain from the token-held root is re-verified on every use".into(),
            "protects against: swapping the anchor or a rotated root in the store directory; restoring an older copy of the store directory (rollback, replay)".into(),
            "does NOT protect against: a root user who runs a modified airlock or uses the token directly with the PIN (e.g. writes a new state file carrying the current counter value, or adds counter objects to stop imports); a wiped or lost token loses the anchor (re-provision on a new token)".into(),
        ]
    }
}
