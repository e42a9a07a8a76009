//! The command-line contract, as clap definitions (what `--help` prints;
//! README.md and docs/ describe the commands).
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `airlock --version`: the release, the commit it was built from, the
/// backends compiled in and the bundle format it reads and writes.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit:         ",
    env!("AIRLOCK_COMMIT"),
    "\nbackends:       ",
    env!("AIRLOCK_FEATURES"),
    "\nbundle format:  1",
);

/// Carry software across an air gap, and prove on the isolated side that what
/// arrived is exactly what an authorized supply chain produced.
#[derive(Debug, Parser)]
#[command(
    name = "airlock",
    version,
    long_version = LONG_VERSION,
    propagate_version = true,
    after_help = "\
Exit codes: 0 accepted/done, 1 rejected, 2 operator mistake, 3 environment.

Examples:
  airlock demo                                   # the whole story, in a temporary directory
  airlock pack --out rel.airlock --key release.pem --root 1.root.json \\
       --layout root.layout --layout-key owner.pub --links links --artifacts dist
  airlock unpack rel.airlock --store /var/lib/airlock --to /srv/incoming/rel-42"
)]
pub struct Cli {
    /// No progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Print one JSON object on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Give up (exit 3, store-busy) after waiting this many seconds for a
    /// trust store another airlock process holds; default: wait.
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        env = "AIRLOCK_LOCK_TIMEOUT"
    )]
    pub lock_timeout: Option<u64>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a signing key pair (PREFIX.pem, mode 0600, and PREFIX.pub).
    #[command(after_help = "\
Examples:
  airlock keygen --out keys/release-1
  # writes keys/release-1.pem and keys/release-1.pub, prints the keyid
  airlock keygen --type ecdsa-p256 --out keys/release-2 --pkcs11 \\
       'pkcs11:token=release;object=release-2?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/airlock/pin'
  # generates the pair on the token (non-extractable), writes only keys/release-2.pub;
  # sign with --key 'pkcs11:token=release;object=release-2?module-path=…&pin-source=file:…'
  airlock keygen --type rsa-3072 --pkcs11 \\
       'pkcs11:token=release;object=kms-1?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/airlock/pin'
  # RSA signs RSASSA-PSS; prefix any key with rsa-pkcs1v15-sha256: to sign and list it
  # under PKCS#1 v1.5: --key 'rsa-pkcs1v15-sha256:pkcs11:token=release;object=kms-1?…'")]
    Keygen(KeygenArgs),
    /// Key utilities.
    #[command(subcommand)]
    Key(KeyCommand),
    /// TUF-style root metadata: create, rotate, sign and verify.
    #[command(subcommand)]
    Root(RootCommand),
    /// Record a supply-chain step as a signed in-toto link (like `in-toto-run`).
    #[command(after_help = "\
Examples:
  airlock record --name build --key alice.pem --materials src --products dist -- make dist
  airlock record --name package --key bob.pem --materials dist --products rel.tar.gz \\
       --dsse --out-dir links -- tar czf rel.tar.gz dist
  # writes STEP.KEYID8.link (KEYID8: the first 8 hex digits of the signer's keyid)")]
    Record(Box<RecordArgs>),
    /// Sign in-toto layouts.
    #[command(subcommand)]
    Layout(LayoutCommand),
    /// Verify an in-toto supply chain (like `in-toto-verify`).
    #[command(subcommand)]
    Intoto(IntotoCommand),
    /// Verify Sigstore bundles offline (like `sigstore verify identity --offline`).
    #[command(subcommand)]
    Sigstore(SigstoreCommand),
    /// Pack artifacts and supply-chain metadata into one signed bundle.
    #[command(after_help = "\
Example:
  airlock pack --out release-42.airlock --key release.pem \\
       --root 1.root.json --layout root.layout --layout-key owner.pub \\
       --links links/ --artifacts dist/ --channel stable --sequence 42 \\
       --expires 30d --source-date-epoch \"$(git log -1 --format=%ct)\"
  # the same with --split fat32: volumes for FAT32 sticks, release-42.airlock.001, .002, ...
  # a bundle only one enclave may import: its id is what `anchor show` prints there
  airlock pack --out release-43.airlock --key release.pem \
       --root 1.root.json --layout root.layout --layout-key owner.pub \
       --links links/ --artifacts dist/ --channel stable --sequence 43 --expires 30d \
       --for \"$(airlock anchor show --store /var/lib/airlock --json | jq -r .enclave_id)\"

The same inputs, keys and --source-date-epoch give byte-identical bundles (and
volumes); the last commit's time is the usual choice (a fixed old date makes
the bundle expire: created + --expires must lie in the future). --split SIZE: fat32 (4,294,967,295 bytes), dvd (4,700,372,992), bd
(25,025,314,816), or a number with kB/MB/GB/TB or KiB/MiB/GiB/TiB; see
docs/transfers.md.

--base release-41.airlock packs a delta: the manifest lists the whole release,
but files the base has (by SHA-256) stay behind; the isolated side takes them
from its import of the base (docs/transfers.md, \"Delta bundles\").")]
    Pack(Box<PackArgs>),
    /// Show what is inside a bundle. Checks nothing and trusts nothing.
    #[command(
        after_help = "Examples:\n  airlock inspect release-42.airlock --json\n  airlock inspect release-42.airlock --extract-metadata release-42.metadata   # unverified copy of the attestations, layout, links, roots"
    )]
    Inspect(InspectArgs),
    /// Verify a bundle against the trust store; changes nothing in the store
    /// but its journal, which records the verdict.
    #[command(
        after_help = "Example:\n  airlock verify release-42.airlock --store /var/lib/airlock\n  airlock verify /media/usb/release-42.airlock.001 --store /var/lib/airlock   # a split bundle: its first volume\n  # exit 0 accepted, 1 rejected, 2 usage, 3 store/environment"
    )]
    Verify(VerifyArgs),
    /// Verify a bundle, then atomically place its artifacts in a new directory
    /// and record the import in the store.
    #[command(
        after_help = "Example:\n  airlock unpack release-42.airlock --store /var/lib/airlock --to /srv/incoming/release-42\n  # --to must not exist; it appears only if every check passed\n  airlock unpack /media/cdrom/release-43.airlock.001 --store /var/lib/airlock \\\n       --to /srv/incoming/release-43 --prompt   # a split bundle on several discs, one drive"
    )]
    Unpack(UnpackArgs),
    /// Publish a bundle's verified container images into a registry (or an
    /// OCI layout): imported as unpack does (blobs streamed to the registry as
    /// they are checked), re-checked, then pushed; tags last.
    #[command(
        after_help = "Examples:\n  airlock publish release-42.airlock --store /var/lib/airlock --registry registry.enclave:5000/releases --ca-file enclave-ca.pem\n  airlock publish /srv/incoming/release-42 --store /var/lib/airlock --registry oci:/media/images\n  # see docs/containers.md"
    )]
    Publish(PublishArgs),
    /// Split an existing bundle into volumes that fit removable media.
    #[command(after_help = "\
Examples:
  airlock split release-42.airlock --size fat32 --key release.pem
  # writes release-42.airlock.001, .002, ... (each at most 4 GiB - 1 byte)
  airlock split release-42.airlock --size 700MB --key release.pem --out /media/usb/rel42.airlock

SIZE: fat32 (4,294,967,295 bytes), dvd (4,700,372,992), bd (25,025,314,816), or a
number with kB/MB/GB/TB (powers of 1000) or KiB/MiB/GiB/TiB (powers of 1024).
The volume index is signed with --key, as the manifest is (a targets key of the
bundle's final root). The bundle itself is left as it is.")]
    Split(SplitArgs),
    /// Check volumes of a split bundle, one at a time, against its signed index.
    #[command(subcommand)]
    Volumes(VolumesCommand),
    /// The enclave's own policy over every bundle (CEL or Rego), pinned in
    /// the store: set, show, or try one on a bundle (docs/policy.md).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Signed receipts of accepted imports and publishes (SLSA verification summaries).
    #[command(subcommand)]
    Receipt(ReceiptCommand),
    /// Provision or show the trust anchor of an isolated-side store.
    #[command(subcommand)]
    Anchor(AnchorCommand),
    /// The audit journal of an isolated-side store: show, verify, export.
    #[command(subcommand)]
    Journal(JournalCommand),
    /// Write the store's figures (decisions, imports, refusals, latency, the
    /// anchor, the journal) in the Prometheus text format, computed from
    /// the checked journal and the store.
    #[command(after_help = "\
Examples:
  airlock metrics --store /var/lib/airlock --out /var/lib/node_exporter/textfile/airlock.prom
  airlock metrics --store /var/lib/airlock | grep airlock_decisions_total
  # refresh after every decision instead of on a timer:
  airlock unpack rel.airlock --store /var/lib/airlock --to /srv/in/rel \\
       --metrics-file /var/lib/node_exporter/textfile/airlock.prom

The file is replaced atomically. Exit 0 when the journal verifies, 1 when it
does not (the file is still written, with airlock_journal_intact 0). See
docs/monitoring.md for every metric, the alert rules and the dashboard.")]
    Metrics(MetricsArgs),
    /// Run the whole story on generated keys in a temporary directory.
    #[command(
        after_help = "Example:\n  airlock demo            # uses a fresh temporary directory\n  airlock demo --dir /tmp/airlock-demo"
    )]
    Demo(DemoArgs),
    /// Start a connected-side project: keys, a signed root, a one-step
    /// layout and `airlock.toml`, so that `airlock record` and `airlock pack`
    /// need no other flags.
    #[command(after_help = "\
Examples:
  airlock init release && cd release
  mkdir -p dist && cp ../build/app dist/       # your build output
  airlock record                               # or `airlock record -- ./build.sh` to run the build
  airlock pack                                 # writes release-1.airlock
  # keys on tokens instead of files (each optional):
  airlock init ../release-hsm --release-key \\
       'pkcs11:token=ci;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/airlock/pin'")]
    Init(InitArgs),
    /// Print a shell completion script (generated from these definitions).
    #[command(after_help = "\
Examples:
  airlock completions bash > /etc/bash_completion.d/airlock
  airlock completions zsh > ~/.zfunc/_airlock    # a directory in your $fpath
  airlock completions fish > ~/.config/fish/completions/airlock.fish")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages (airlock.1 and one per command) into a directory.
    #[command(after_help = "\
Example:
  airlock man --out /usr/local/share/man/man1   # then: man airlock-unpack")]
    Man {
        /// The directory (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project directory (created; must not hold an airlock.toml).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The release channel the project packs for.
    #[arg(long, default_value = "stable")]
    pub channel: String,
    /// The root key (default: a new keys/root.pem).
    #[arg(long, value_name = "KEY")]
    pub root_key: Option<String>,
    /// The release (targets) key that signs bundles (default: a new
    /// keys/release.pem).
    #[arg(long, value_name = "KEY")]
    pub release_key: Option<String>,
    /// The layout owner's key (default: a new keys/owner.pem).
    #[arg(long, value_name = "KEY")]
    pub owner_key: Option<String>,
    /// The builder's key, which records the build step (default: a new
    /// keys/builder.pem).
    #[arg(long, value_name = "KEY")]
    pub builder_key: Option<String>,
}

/// `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Output prefix: writes PREFIX.pem and PREFIX.pub (with --pkcs11, only
    /// PREFIX.pub, and --out is optional).
    #[arg(long, value_name = "PREFIX", required_unless_present = "pkcs11")]
    pub out: Option<PathBuf>,
    /// Key type (ecdsa-p256 is the type TPMs and most HSMs support; RSA
    /// only on a token, with --pkcs11).
    #[arg(long = "type", value_enum, default_value_t = KeyType::Ed25519)]
    pub key_type: KeyType,
    /// Generate the key on a PKCS#11 token instead of a file: an RFC 7512 URI
    /// naming token, object label, module-path and pin-source=file:PATH.
    #[arg(long, value_name = "URI")]
    pub pkcs11: Option<String>,
}

/// Key types.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum KeyType {
    /// Ed25519.
    Ed25519,
    /// ECDSA over NIST P-256.
    EcdsaP256,
    /// ECDSA over NIST P-384.
    EcdsaP384,
    /// RSA, 2048 bits (on a token only: --pkcs11).
    #[value(name = "rsa-2048")]
    Rsa2048,
    /// RSA, 3072 bits (on a token only: --pkcs11).
    #[value(name = "rsa-3072")]
    Rsa3072,
    /// RSA, 4096 bits (on a token only: --pkcs11).
    #[value(name = "rsa-4096")]
    Rsa4096,
}

/// `key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print the keyid of PEM keys (public or private) or of keys on a
    /// PKCS#11 token (`pkcs11:` URIs).
    #[command(after_help = "Example:\n  airlock key id keys/release-1.pub keys/owner.pub")]
    Id {
        /// PEM key files or `pkcs11:` URIs.
        #[arg(required = true, value_name = "KEY")]
        files: Vec<PathBuf>,
    },
    /// Print a key's keyid and its key object, as a layout's `keys` and a
    /// root's `keys` list it.
    #[command(after_help = "\
Examples:
  airlock key show keys/release-1.pub
  airlock key show 'pkcs11:token=ci;object=packager?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/airlock/pin' --json

KEY is a PEM key file (public or private) or a `pkcs11:` URI naming a key pair
on a token by object=LABEL, id=%01%02… or both (the PIN comes from the URI's
pin-source file). An RSA key is an rsassa-pss-sha256 key; prefixed with
rsa-pkcs1v15-sha256: (e.g. rsa-pkcs1v15-sha256:keys/kms.pub) it is the
rsa-pkcs1v15-sha256 key, as every command that takes a key reads the prefix.")]
    Show {
        /// A PEM key file or a `pkcs11:` URI.
        #[arg(value_name = "KEY")]
        key: String,
    },
}

/// `root …`.
#[derive(Debug, Subcommand)]
pub enum RootCommand {
    /// Write a new, unsigned root (sign it with `root sign`).
    #[command(after_help = "\
Example:
  airlock root init --out 1.root.json --root-key root-a.pub root-b.pub --root-threshold 2 \\
       --targets-key release-1.pub --layout-key owner.pub --expires 365d
  airlock root sign 1.root.json --key root-a.pem root-b.pem")]
    Init(RootInitArgs),
    /// Add signatures to a root, in place, and say which are still missing.
    #[command(after_help = "\
Examples:
  airlock root sign 1.root.json --key root-a.pem --key root-b.pem
  # version 2 replaces root key b by c: signed by version 1's keys and its own
  airlock root sign 2.root.json --previous 1.root.json --key root-a.pem root-b.pem root-c.pem

A new version needs a threshold of the previous version's root keys and of its
own. Without --previous, the previous version is looked for beside FILE
(N-1.root.json or its zero-padded name); without it, only FILE's own root
role is counted.")]
    Sign {
        /// The root file.
        file: PathBuf,
        /// Signing keys (PEM files or `pkcs11:` URIs).
        #[arg(long, required = true, num_args = 1.., value_name = "KEY")]
        key: Vec<String>,
        /// The previous root version (to count the signatures a rotation needs).
        #[arg(long, value_name = "ROOT.json")]
        previous: Option<PathBuf>,
    },
    /// Write root version N+1 from version N, with key, threshold and expiry
    /// changes; it must then be signed by the old and the new root keys.
    #[command(after_help = "\
Examples:
  # routine: replace root key c by d, keep 2-of-3, new expiry
  airlock root rotate --from 3.root.json --out 4.root.json \\
       --add-root-key root-d.pub --remove-root-key root-c.pub --expires 365d
  airlock root sign 4.root.json --previous 3.root.json --key root-a.pem root-b.pem
  # a new release (targets) key, e.g. after the old one leaked
  airlock root rotate --from 4.root.json --out 5.root.json --targets-key release-2.pub

--remove-root-key takes a keyid or the key's .pub file. Keys that no role uses
any more are dropped from the root. Everything else (other roles, fields
airlock does not know) is copied from --from.")]
    Rotate(RootRotateArgs),
    /// Check a chain of roots from a trusted one: exit 0 and print the final
    /// version, or exit 1 naming the first link that fails.
    #[command(after_help = "\
Examples:
  airlock root verify --trusted 1.root.json 2.root.json 3.root.json
  airlock root verify --trusted anchor.root.json new/*.root.json --at 2027-01-01T00:00:00Z

The trusted root must be signed by a threshold of its own root keys. Every
other root (given in any order; applied in version order) must be exactly one
version above the one before and signed by a threshold of the previous
version's root keys and of its own. Only the final root must be unexpired
(at the system clock, or --at). At most 256 rotations. The --trusted file
itself may be among the roots (e.g. from a glob): it is skipped.")]
    Verify(RootVerifyArgs),
}

/// `root rotate`.
#[derive(Debug, Args)]
pub struct RootRotateArgs {
    /// The current root, version N.
    #[arg(long, value_name = "N.root.json")]
    pub from: PathBuf,
    /// The new root to write, version N+1 (must not exist).
    #[arg(long, value_name = "M.root.json")]
    pub out: PathBuf,
    /// Public keys to add to the root role.
    #[arg(long, num_args = 1.., value_name = "PUB")]
    pub add_root_key: Vec<PathBuf>,
    /// Root keys to remove: keyids or .pub files.
    #[arg(long, num_args = 1.., value_name = "KEYID|PUB")]
    pub remove_root_key: Vec<String>,
    /// New threshold of the root role.
    #[arg(long, value_name = "N")]
    pub root_threshold: Option<u64>,
    /// Replace the targets keys (they sign bundle manifests).
    #[arg(long, num_args = 1.., value_name = "PUB")]
    pub targets_key: Vec<PathBuf>,
    /// New threshold of the targets role.
    #[arg(long, value_name = "M")]
    pub targets_threshold: Option<u64>,
    /// Replace the in-toto layout owner's keys (rotating the layout owner).
    #[arg(long, num_args = 1.., value_name = "PUB")]
    pub layout_key: Vec<PathBuf>,
    /// New threshold of the layout owner.
    #[arg(long, value_name = "L")]
    pub layout_threshold: Option<u64>,
    /// Lifetime of the new root from now, e.g. 365d.
    #[arg(long, default_value = "365d", value_name = "DUR")]
    pub expires: String,
}

/// `root verify`.
#[derive(Debug, Args)]
pub struct RootVerifyArgs {
    /// The trusted root (the anchor the chain starts from).
    #[arg(long, value_name = "ROOT.json")]
    pub trusted: PathBuf,
    /// The newer roots.
    #[arg(value_name = "ROOT.json")]
    pub roots: Vec<PathBuf>,
    #[command(flatten)]
    /// The time override.
    pub at: AtArg,
}

/// `record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The step name (the link's `name`; must equal the layout's step).
    #[arg(long, value_name = "STEP")]
    pub name: String,
    /// Signing key of the functionary (PEM file or `pkcs11:` URI).
    #[arg(long, value_name = "KEY")]
    pub key: String,
    /// Files or directories to hash before the command runs.
    #[arg(long, short, num_args = 1.., value_name = "PATH")]
    pub materials: Vec<String>,
    /// Files or directories to hash after the command ran.
    #[arg(long, short, num_args = 1.., value_name = "PATH")]
    pub products: Vec<String>,
    /// A container image produced by the step (repeatable), as `pack
    /// --image` takes it; recorded as the product images/NAME:TAG with the
    /// SHA-256 of its manifest or index.
    #[arg(long, value_name = "SOURCE")]
    pub image: Vec<String>,
    /// With --image: the platforms `pack --platform` will carry.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Vec<String>,
    #[command(flatten)]
    /// How to reach a registry, for --image docker://….
    pub registry_conn: RegistryArgs,
    /// Write a DSSE envelope instead of a Metablock.
    #[arg(long)]
    pub dsse: bool,
    /// Directory to write the link into.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub out_dir: PathBuf,
    /// Exclude patterns (gitignore-style; default: *.link* .git *.pyc *~).
    #[arg(long, num_args = 1.., value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Prefixes to strip from recorded paths.
    #[arg(long, num_args = 1.., value_name = "PREFIX")]
    pub lstrip_paths: Vec<String>,
    /// Directory the paths are relative to (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub base_path: Option<PathBuf>,
    /// Keep the command's stdout and stderr in the link's byproducts.
    #[arg(long)]
    pub record_streams: bool,
    /// Kill the command after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// The step's command (after `--`); omit to record artifacts only.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// `layout …`.
#[derive(Debug, Subcommand)]
pub enum LayoutCommand {
    /// Sign a layout in place (a bare layout JSON becomes a Metablock, or a
    /// DSSE envelope with --dsse); signatures by other keys are kept.
    #[command(after_help = "\
Example:
  airlock layout sign root.layout --key owner.pem
  airlock intoto verify --layout root.layout --layout-key owner.pub --link-dir links")]
    Sign {
        /// The layout file.
        file: PathBuf,
        /// Signing keys (PEM files or `pkcs11:` URIs).
        #[arg(long, required = true, num_args = 1.., value_name = "KEY")]
        key: Vec<String>,
        /// Wrap a bare layout in a DSSE envelope instead of a Metablock.
        #[arg(long)]
        dsse: bool,
    },
    /// Write a new layout: steps in order, each with its functionaries'
    /// keys; each step's materials must be the previous step's products.
    #[command(after_help = "\
Examples:
  airlock layout new --out root.layout --step build=keys/builder.pub --key keys/owner.pem
  airlock layout new --out two-step.layout --step build=keys/builder.pub \\
       --step package=keys/packager.pub,'pkcs11:token=ci;object=packager?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/airlock/pin' \\
       --expires 180d
  airlock layout sign two-step.layout --key keys/owner.pem     # when --key was not given")]
    New {
        /// The layout file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// A step: NAME=KEY[,KEY...] (public key files or `pkcs11:` URIs),
        /// in order; repeat for each step.
        #[arg(long = "step", required = true, value_name = "NAME=KEYS")]
        steps: Vec<String>,
        /// Lifetime of the layout, e.g. 365d.
        #[arg(long, default_value = "365d", value_name = "DUR")]
        expires: String,
        /// Sign it at once with these keys (the layout owner's).
        #[arg(long, num_args = 1.., value_name = "KEY")]
        key: Vec<String>,
    },
}

/// `intoto …`.
#[derive(Debug, Subcommand)]
pub enum IntotoCommand {
    /// Verify a layout, its links and the artifacts (exit 0 pass, 1 fail, 2 bad arguments).
    #[command(after_help = "\
Example:
  airlock intoto verify --layout root.layout --layout-key owner.pub \\
       --link-dir links --artifacts dist
Inspections are not run: only `true` and `cmp [-s] A B` are evaluated, exactly,
over the files in --artifacts (default: the current directory); any other
inspection is refused (inspection-unevaluable, docs/supply-chain.md).
--run-inspections runs their commands in a scratch copy of --artifacts, with a
10-second timeout each.")]
    Verify(IntotoVerifyArgs),
}

/// `sigstore …`.
#[derive(Debug, Subcommand)]
pub enum SigstoreCommand {
    /// Verify a Sigstore bundle over an artifact with no network: exit 0
    /// verified, 1 refused, 2 bad arguments or trusted root.
    #[command(after_help = "\
Example:
  airlock sigstore verify pypi_attestation_models-0.0.4a2.tar.gz.sigstore.json \\
       --artifact pypi_attestation_models-0.0.4a2.tar.gz --trusted-root trusted_root.json \\
       --certificate-identity https://github.com/trailofbits/pypi-attestation-models/.github/workflows/release.yml@refs/tags/v0.0.4a2 \\
       --certificate-oidc-issuer https://token.actions.githubusercontent.com
  airlock sigstore verify pypi_attestation_models-0.0.4a2.tar.gz.sigstore.json \\
       --artifact pypi_attestation_models-0.0.4a2.tar.gz --store /var/lib/airlock

The bundle (v0.1 to v0.3, message signature or DSSE with an in-toto statement)
must be signed by a Fulcio certificate that chains to a CA of --trusted-root
(a Sigstore trusted_root.json, e.g. from the sigstore or cosign TUF cache),
logged in a Rekor log of that root (signed entry timestamp, inclusion proof
and checkpoint), and issued to exactly --certificate-identity by
--certificate-oidc-issuer — or, with --store, to the trusted root and identity
pinned there by `anchor sigstore`. See docs/supply-chain.md.")]
    Verify(SigstoreVerifyArgs),
}

/// `sigstore verify`.
#[derive(Debug, Args)]
pub struct SigstoreVerifyArgs {
    /// The Sigstore bundle (`*.sigstore.json`).
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// The artifact the bundle signs (or an in-toto subject of its statement).
    #[arg(long, value_name = "FILE")]
    pub artifact: PathBuf,
    /// The Sigstore trusted root (`trusted_root.json`) to verify against.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "store",
        conflicts_with = "store"
    )]
    pub trusted_root: Option<PathBuf>,
    /// The signer's identity: a SAN of the certificate, exactly (an e-mail
    /// address or a workflow URI).
    #[arg(
        long,
        value_name = "IDENTITY",
        required_unless_present = "store",
        conflicts_with = "store"
    )]
    pub certificate_identity: Option<String>,
    /// The OIDC issuer that must have vouched for the identity, exactly.
    #[arg(
        long,
        value_name = "URL",
        required_unless_present = "store",
        conflicts_with = "store"
    )]
    pub certificate_oidc_issuer: Option<String>,
    /// Verify against the trusted root and identity pinned in this trust
    /// store (`anchor sigstore`) instead.
    #[arg(long = "store", value_name = "STORE")]
    pub store: Option<String>,
}

/// `intoto verify`.
#[derive(Debug, Args)]
pub struct IntotoVerifyArgs {
    /// The signed layout.
    #[arg(long)]
    pub layout: PathBuf,
    /// Public keys (PEM) that must all have signed the layout.
    #[arg(long, required = true, num_args = 1.., value_name = "PUB")]
    pub layout_key: Vec<PathBuf>,
    /// Directory of link files.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub link_dir: PathBuf,
    /// The files under verification (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,
    /// Verify as if at this time (YYYY-MM-DDTHH:MM:SSZ).
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// Run inspection commands (in a scratch copy of the artifacts, 10 s timeout).
    #[arg(long)]
    pub run_inspections: bool,
    /// Record this run in the journal of this trust store (`DIR` or
    /// `file:DIR`). Without a store nothing is journaled.
    #[arg(long = "store", env = "AIRLOCK_STORE", value_name = "STORE")]
    pub store: Option<StoreDir>,
}

/// `root init`.
#[derive(Debug, Args)]
pub struct RootInitArgs {
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
    /// Public keys of the root role.
    #[arg(long, required = true, num_args = 1.., value_name = "PUB")]
    pub root_key: Vec<PathBuf>,
    /// Signatures the root role needs.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub root_threshold: u64,
    /// Public keys of the targets role (they sign bundle manifests).
    #[arg(long, required = true, num_args = 1.., value_name = "PUB")]
    pub targets_key: Vec<PathBuf>,
    /// Signatures the targets role needs.
    #[arg(long, default_value_t = 1, value_name = "M")]
    pub targets_threshold: u64,
    /// Public keys of the in-toto layout owner: only layouts they sign are
    /// accepted (written as the root's `x-airlock-layout` field).
    #[arg(long, required = true, num_args = 1.., value_name = "PUB")]
    pub layout_key: Vec<PathBuf>,
    /// Layout-owner signatures a layout needs.
    #[arg(long, default_value_t = 1, value_name = "L")]
    pub layout_threshold: u64,
    /// Lifetime of the root, e.g. 365d.
    #[arg(long, default_value = "365d", value_name = "DUR")]
    pub expires: String,
    /// Root version to write (for tests; `root rotate` makes later versions).
    #[arg(long = "root-version", default_value_t = 1, hide = true)]
    pub root_version: u64,
}

/// `pack`.
#[derive(Debug, Clone, Args)]
pub struct PackArgs {
    /// The bundle to write (an existing bundle is replaced atomically; a
    /// file that is not a bundle only with --force; never a device, link,
    /// directory or FIFO).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing --out file even though it is not a bundle.
    #[arg(long)]
    pub force: bool,
    /// Signing keys (targets-role keys of the final root): PEM files or
    /// `pkcs11:` URIs.
    #[arg(long, required = true, num_args = 1.., value_name = "KEY")]
    pub key: Vec<String>,
    /// Root metadata files to carry (the chain from the isolated side's anchor).
    #[arg(long, required = true, num_args = 1.., value_name = "ROOT.json")]
    pub root: Vec<PathBuf>,
    /// The signed in-toto layout.
    #[arg(long)]
    pub layout: PathBuf,
    /// Public keys that sign the layout.
    #[arg(long, required = true, num_args = 1.., value_name = "PUB")]
    pub layout_key: Vec<PathBuf>,
    /// Directory of in-toto link files.
    #[arg(long, value_name = "DIR")]
    pub links: PathBuf,
    /// Directory of artifacts to carry (optional when --image is given).
    #[arg(long, value_name = "DIR", required_unless_present = "image")]
    pub artifacts: Option<PathBuf>,
    /// A container image to carry (repeatable): oci:DIR[:REF],
    /// oci-archive:FILE[:REF], docker-archive:FILE[:NAME:TAG] or
    /// docker://HOST/REPO[:TAG|@sha256:…] (pulled). It must be a product of
    /// the product step, named images/NAME:TAG (see `record --image`).
    #[arg(long, value_name = "SOURCE")]
    pub image: Vec<String>,
    /// Carry only these platforms of multi-platform images (repeatable),
    /// as os/architecture[/variant].
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Vec<String>,
    #[command(flatten)]
    /// How to reach a registry, for --image docker://….
    pub registry_conn: RegistryArgs,
    /// Release channel.
    #[arg(long, default_value = "default")]
    pub channel: String,
    /// Sequence number on the channel (default: the creation time in unix seconds).
    #[arg(long)]
    pub sequence: Option<u64>,
    /// Lifetime of the bundle, e.g. 30d.
    #[arg(long, default_value = "30d", value_name = "DUR")]
    pub expires: String,
    /// Write volumes OUT.001, OUT.002, ... of at most SIZE bytes instead of one
    /// file: fat32, dvd, bd, or e.g. 700MB, 4GiB.
    #[arg(long, value_name = "SIZE")]
    pub split: Option<String>,
    /// in-toto attestations (Statement v1 or v0.1, DSSE) to carry; every subject must name an artifact or image by sha256.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub attestation: Vec<PathBuf>,
    /// Creation time and tar mtime, for reproducible bundles.
    #[arg(long, env = "SOURCE_DATE_EPOCH", value_name = "SECS")]
    pub source_date_epoch: Option<u64>,
    /// The layout step whose products the artifacts must be (default: the last step).
    #[arg(long, value_name = "STEP")]
    pub product_step: Option<String>,
    /// zstd level (1-19).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=19))]
    pub level: i32,
    /// zstd worker threads (default: the number of CPUs; at most 2 are used, to bound memory). The output does not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: Option<u32>,
    /// Run the layout's inspection commands (in a private scratch copy of
    /// the artifacts, without network access, 10 s each; journaled) instead
    /// of evaluating them with airlock's built-in evaluators.
    #[arg(long)]
    pub run_inspections: bool,
    /// Mark the bundle POSIX-only (signed in its manifest): allow names that
    /// differ only by case or Unicode normalization, or that cannot exist on
    /// FAT32, exFAT or NTFS. Unpacking it on such a filesystem, or on
    /// macOS, can lose files; verify and unpack warn.
    #[arg(long)]
    pub posix_names: bool,
    /// Pack a delta of this earlier bundle of the channel (or of its signed
    /// manifest, DEST.airlock-metadata/manifest.cbor): files whose SHA-256
    /// the base has are not carried but referenced; the manifest still
    /// lists the whole release. The isolated side accepts it only if it
    /// imported the base. The base's signatures are not checked here.
    #[arg(long, value_name = "BUNDLE|MANIFEST")]
    pub base: Option<PathBuf>,
    /// Direct the bundle to an enclave (repeatable): its id, as `airlock
    /// anchor show` prints it on the isolated side, is signed into the
    /// manifest, and every other store refuses the bundle
    /// (bundle-not-for-this-enclave). Without --for, any store may import it.
    #[arg(long = "for", value_name = "ENCLAVE-ID")]
    pub for_enclave: Vec<String>,
}

/// `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The bundle.
    pub bundle: PathBuf,
    /// Also write the bundle's metadata (manifest, roots, layout, layout
    /// keys, links, attestations) into DIR, a new directory, as `unpack`
    /// delivers it in DEST.airlock-metadata/: unverified, nothing imported.
    #[arg(long, value_name = "DIR")]
    pub extract_metadata: Option<PathBuf>,
}

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bundle.
    pub bundle: PathBuf,
    #[command(flatten)]
    /// The store.
    pub store: StoreArg,
    #[command(flatten)]
    /// The time override.
    pub at: AtArg,
    #[command(flatten)]
    /// `--prompt`.
    pub prompt: PromptArg,
    /// Run the layout's inspection commands (in a private scratch copy of
    /// the artifacts, without network access, 10 s each; journaled) instead
    /// of evaluating them with airlock's built-in evaluators.
    #[arg(long)]
    pub run_inspections: bool,
    #[command(flatten)]
    /// The metrics file to refresh.
    pub metrics_file: MetricsFileArg,
}

/// `unpack`.
#[derive(Debug, Args)]
pub struct UnpackArgs {
    /// The bundle.
    pub bundle: PathBuf,
    #[command(flatten)]
    /// The store.
    pub store: StoreArg,
    /// The destination directory; must not exist.
    #[arg(long)]
    pub to: PathBuf,
    #[command(flatten)]
    /// The time override.
    pub at: AtArg,
    #[command(flatten)]
    /// `--prompt`.
    pub prompt: PromptArg,
    /// Run the layout's inspection commands (in a private scratch copy of
    /// the artifacts, without network access, 10 s each; journaled) instead
    /// of evaluating them with airlock's built-in evaluators.
    #[arg(long)]
    pub run_inspections: bool,
    #[command(flatten)]
    /// The metrics file to refresh.
    pub metrics_file: MetricsFileArg,
}

/// `--at`: the loud time override of the commands that decide on a bundle,
/// a root chain or volumes.
#[derive(Debug, Clone, Default, Args)]
pub struct AtArg {
    /// Verify as if at this time (YYYY-MM-DDTHH:MM:SSZ). A loud override.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
}

impl AtArg {
    /// The time given, if any.
    pub fn as_deref(&self) -> Option<&str> {
        self.at.as_deref()
    }
}

/// `--prompt`: volumes of a split bundle read from one drive, disc after
/// disc (`verify`, `unpack`, `publish`, `volumes check`).
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct PromptArg {
    /// Split bundle: ask (on standard input) for each volume that is not
    /// beside the previous one, e.g. to read discs from one drive.
    #[arg(long)]
    pub prompt: bool,
}

impl PromptArg {
    /// Whether to ask.
    pub fn asks(self) -> bool {
        self.prompt
    }
}

/// `--metrics-file`: the Prometheus file `verify` and `unpack` refresh.
#[derive(Debug, Clone, Default, Args)]
pub struct MetricsFileArg {
    /// After the decision, refresh this Prometheus metrics file (as
    /// `airlock metrics --out FILE` does).
    #[arg(long, env = "AIRLOCK_METRICS_FILE", value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
}

impl MetricsFileArg {
    /// The file given, if any.
    pub fn as_deref(&self) -> Option<&std::path::Path> {
        self.metrics_file.as_deref()
    }
}

/// How to reach a registry: `publish`, and `pack`/`record` with
/// `--image docker://…`.
#[derive(Debug, Clone, Default, Args)]
pub struct RegistryArgs {
    /// PEM file of the CA that signed the registry's certificate.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Registry credentials (auths.HOST.auth); default: $REGISTRY_AUTH_FILE,
    /// $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json.
    #[arg(long, value_name = "FILE")]
    pub auth_file: Option<PathBuf>,
    /// Talk to the registry over plain HTTP, WITHOUT TLS. Loud (and
    /// journaled by publish).
    #[arg(long)]
    pub insecure_plain_http: bool,
}

impl RegistryArgs {
    /// The connection settings these flags give.
    pub fn connection(&self) -> crate::oci::registry::Connection {
        crate::oci::registry::Connection {
            ca_file: self.ca_file.clone(),
            auth_file: self.auth_file.clone(),
            plain_http: self.insecure_plain_http,
        }
    }
}

/// `publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// A bundle (or its first volume), or a directory of an earlier unpack.
    pub source: PathBuf,
    #[command(flatten)]
    /// The store.
    pub store: StoreArg,
    /// Where to: HOST[:PORT][/NAMESPACE] (a registry) or oci:DIR (an OCI
    /// image layout).
    #[arg(long, value_name = "TARGET")]
    pub registry: String,
    #[command(flatten)]
    /// How to reach the registry.
    pub registry_conn: RegistryArgs,
    #[command(flatten)]
    /// The time override.
    pub at: AtArg,
    #[command(flatten)]
    /// `--prompt`.
    pub prompt: PromptArg,
    /// Run the layout's inspection commands (in a private scratch copy of
    /// the artifacts, without network access, 10 s each; journaled) instead
    /// of evaluating them with airlock's built-in evaluators.
    #[arg(long)]
    pub run_inspections: bool,
}

/// `split`.
#[derive(Debug, Args)]
pub struct SplitArgs {
    /// The bundle to split (left unchanged).
    pub bundle: PathBuf,
    /// Largest volume file: fat32, dvd, bd, or e.g. 700MB, 4GiB.
    #[arg(long, value_name = "SIZE")]
    pub size: String,
    /// Keys that sign the volume index (targets keys, as for the manifest).
    #[arg(long, required = true, num_args = 1.., value_name = "KEY")]
    pub key: Vec<String>,
    /// Volume names: OUT.001, OUT.002, ... (default: the bundle's path).
    #[arg(long, value_name = "OUT")]
    pub out: Option<PathBuf>,
}

/// `volumes ...`.
#[derive(Debug, Subcommand)]
pub enum VolumesCommand {
    /// Check volume files one at a time: each against the volume index it
    /// carries (the same in every volume), authenticated with --store.
    #[command(after_help = "\
Examples:
  airlock volumes check /media/usb/rel.airlock.* --store /var/lib/airlock
  # one drive, several discs: check each as it is inserted
  airlock volumes check /media/cdrom/rel.airlock.00{1,2,3} --store /var/lib/airlock --prompt

Each volume is read once and hashed. With --store the index's signatures are
checked against the trust store: through the root chain and manifest in volume 1
when volume 1 is among the files, otherwise against the store's anchored root
(enough unless the bundle rotates the root to new release keys). Without --store only the volumes' agreement with the index they
carry is checked, which catches damaged copies but not forgeries.
Exit 0 when every file given is a good volume, 1 otherwise.")]
    Check(VolumesCheckArgs),
}

/// `volumes check`.
#[derive(Debug, Args)]
pub struct VolumesCheckArgs {
    /// Volume files, in the order to check them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Trust store to authenticate the volume index with.
    #[arg(long = "store", env = "AIRLOCK_STORE", value_name = "STORE")]
    pub store: Option<StoreDir>,
    #[command(flatten)]
    /// The time override.
    pub at: AtArg,
    #[command(flatten)]
    /// `--prompt`.
    pub prompt: PromptArg,
}

/// A trust store named with `--store` (or `AIRLOCK_STORE`): `DIR` or
/// `file:DIR`. The one type of every `--store`, required ([`StoreArg`]) or
/// optional (`Option<StoreDir>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreDir(PathBuf);

impl std::str::FromStr for StoreDir {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<StoreDir, Self::Err> {
        Ok(StoreDir::new(s))
    }
}

impl StoreDir {
    /// The store `s` names (`DIR` or `file:DIR`).
    pub fn new(s: &str) -> StoreDir {
        StoreDir(PathBuf::from(s.strip_prefix("file:").unwrap_or(s)))
    }

    /// The store directory.
    pub fn dir(&self) -> PathBuf {
        self.0.clone()
    }
}

/// The trust store location, where a command needs one.
#[derive(Debug, Args)]
pub struct StoreArg {
    /// Trust store directory (`DIR` or `file:DIR`).
    #[arg(long = "store", env = "AIRLOCK_STORE", value_name = "STORE")]
    pub path: StoreDir,
}

impl StoreArg {
    /// The store directory.
    pub fn dir(&self) -> PathBuf {
        self.path.dir()
    }
}

/// `policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Install the store's policy (replacing the one before); journaled with
    /// its SHA-256. From then on verify, unpack and publish refuse a bundle
    /// the policy denies.
    #[command(after_help = "\
Example:
  airlock policy set --store /var/lib/airlock enclave-policy.toml
  # a policy that does not parse or compile is refused (exit 2, policy-invalid)")]
    Set {
        #[command(flatten)]
        /// The store.
        store: StoreArg,
        /// The policy file (TOML; docs/policy.md).
        file: PathBuf,
    },
    /// Remove the store's policy (journaled): airlock's own checks decide alone.
    #[command(after_help = "Example:\n  airlock policy clear --store /var/lib/airlock")]
    Clear {
        #[command(flatten)]
        /// The store.
        store: StoreArg,
    },
    /// Show the store's policy: its digest, rules and text.
    #[command(after_help = "Example:\n  airlock policy show --store /var/lib/airlock")]
    Show {
        #[command(flatten)]
        /// The store.
        store: StoreArg,
    },
    /// Dry run: verify BUNDLE against the store, then evaluate FILE on it and
    /// show which rules pass and which fail. Changes nothing, journals
    /// nothing; exit 1 (policy-denied) when a rule fails. Freshness (replay,
    /// rollback) is not checked: an imported bundle can be tried too.
    #[command(after_help = "\
Example:
  airlock policy test enclave-policy.toml release-42.airlock --store /var/lib/airlock")]
    Test {
        /// The policy file to try.
        file: PathBuf,
        /// The bundle to try it on.
        bundle: PathBuf,
        #[command(flatten)]
        /// The store the bundle is verified against.
        store: StoreArg,
        /// Verify as if at this time (YYYY-MM-DDTHH:MM:SSZ).
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
    },
}

/// `receipt …`.
#[derive(Debug, Subcommand)]
pub enum ReceiptCommand {
    /// Check a receipt (an import's DEST.receipt.dsse.json, a publish's
    /// DIR.publish-SEQ.receipt.dsse.json) with the store's journal public
    /// key.
    #[command(after_help = "\
Examples:
  airlock receipt verify /srv/incoming/release-42.receipt.dsse.json --key journal-key.pub
  # journal-key.pub: the store's journal public key (STORE/journal-key.pub)
  airlock receipt verify /srv/incoming/release-42.receipt.dsse.json --key journal-key.pub \\
       --journal audit-2026-q1.jsonl   # and the import's record in a journal export")]
    Verify {
        /// The receipt.
        receipt: PathBuf,
        /// The journal public key (PEM).
        #[arg(long, value_name = "JOURNAL-PUBKEY")]
        key: PathBuf,
        /// Also check the receipt against this journal export (`journal
        /// export --out`): verified with the same key, it must hold the
        /// accepted records of the import (or publish) the receipt names,
        /// under the policy it names, and the record whose hash it carries.
        #[arg(long, value_name = "EXPORT")]
        journal: Option<PathBuf>,
    },
}

/// `anchor …`.
#[derive(Debug, Subcommand)]
pub enum AnchorCommand {
    /// Provision a store with its trusted root.
    #[command(after_help = "\
Examples:
  airlock anchor init --store /var/lib/airlock --root 1.root.json --channel stable
  airlock anchor init --store /var/lib/airlock --root 1.root.json --channel stable --tpm device:/dev/tpmrm0
  airlock anchor init --store /var/lib/airlock-token --root 1.root.json --channel stable --pkcs11 \\
       'pkcs11:token=airlock?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/airlock/pin'
  # re-provision (the TPM anchor is write-once: this needs the owner's password)
  airlock anchor init --store /var/lib/airlock --root 1.root.json --tpm device:/dev/tpmrm0 \\
       --replace --owner-auth-file /root/tpm-owner.pw
  # move a store onto a token (a file store, or one whose token is lost): export
  # the journal first if you can; the old journal is kept beside the new one
  airlock anchor init --store /var/lib/airlock --root 1.root.json --replace --new-journal --pkcs11 \\
       'pkcs11:token=new?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/airlock/pin'")]
    Init {
        #[command(flatten)]
        /// The store.
        store: StoreArg,
        /// The trusted root metadata.
        #[arg(long, value_name = "ROOT.json")]
        root: PathBuf,
        /// Anchor in a TPM 2.0 (TCTI string, e.g. device:/dev/tpmrm0 or
        /// swtpm:host=127.0.0.1,port=2321).
        #[arg(long, value_name = "TCTI", conflicts_with = "pkcs11")]
        tpm: Option<String>,
        /// File holding the TPM owner hierarchy's password (when it has one):
        /// defining and replacing the TPM anchor needs it.
        #[arg(long, value_name = "FILE", requires = "tpm")]
        owner_auth_file: Option<PathBuf>,
        /// Anchor in a PKCS#11 token: an RFC 7512 URI naming the token only
        /// (token=, module-path=, pin-source=file:).
        #[arg(long, value_name = "URI")]
        pkcs11: Option<String>,
        /// Re-provision an existing store (keeps its sequences, ledger and
        /// journal).
        #[arg(long)]
        replace: bool,
        /// With --replace onto a TPM or token whose journal key is not the
        /// journal's (a file store moved onto hardware, a lost token): keep
        /// the old journal as journal.closed-KEYID-SEQ.jsonl and start a new
        /// one.
        #[arg(long, requires = "replace")]
        new_journal: bool,
        /// A channel the store accepts bundles on (repeatable; required for
        /// a new store; with --replace, replaces the store's channels).
        #[arg(long = "channel", num_args = 1.., value_name = "CHANNEL")]
        channels: Vec<String>,
        /// With --replace: allow a root older than the anchor in force
        /// (going back undoes every rotation since, retired keys included).
        #[arg(long, requires = "replace")]
        allow_older_root: bool,
    },
    /// Show or change the channels a store accepts bundles on (journaled).
    #[command(after_help = "\
Examples:
  airlock anchor channels --store /var/lib/airlock
  airlock anchor channels --store /var/lib/airlock --allow nightly --deny beta")]
    Channels {
        #[command(flatten)]
        /// The store.
        store: StoreArg,
        /// Channels to accept from now on.
        #[arg(long, num_args = 1.., value_name = "CHANNEL")]
        allow: Vec<String>,
        /// Channels to refuse from now on.
        #[arg(long, num_args = 1.., value_name = "CHANNEL")]
        deny: Vec<String>,
    },
    /// Show or pin the Sigstore trusted root and identity policy that
    /// `sigstore verify --store` checks bundles against (journaled).
    #[command(after_help = "\
Examples:
  airlock anchor sigstore --store /var/lib/airlock --trusted-root trusted_root.json \\
       --identity https://github.com/trailofbits/pypi-attestation-models/.github/workflows/release.yml@refs/tags/v0.0.4a2 \\
       --issuer https://token.actions.githubusercontent.com
  airlock anchor sigstore --store /var/lib/airlock

The trusted root is parsed and checked, copied into the store (named by its
SHA-256) and bound, with the identity and issuer, in the store's state; the
change is a store.sigstore journal record. A new pin replaces the old one.")]
    Sigstore {
        #[command(flatten)]
        /// The store.
        store: StoreArg,
        /// The Sigstore trusted root (`trusted_root.json`) to pin.
        #[arg(long, value_name = "FILE", requires_all = ["identity", "issuer"])]
        trusted_root: Option<PathBuf>,
        /// The certificate identity (SAN) that must have signed, exactly.
        #[arg(long, value_name = "IDENTITY", requires = "trusted_root")]
        identity: Option<String>,
        /// The OIDC issuer that must have vouched for it, exactly.
        #[arg(long, value_name = "URL", requires = "trusted_root")]
        issuer: Option<String>,
    },
    /// Refuse, from now on, every bundle on a channel whose sequence is
    /// below a floor (journaled; floors only go up).
    #[command(after_help = "\
Example:
  airlock anchor floor --store /var/lib/airlock --channel stable --sequence 40

Bundles on the channel with a lower sequence are refused
(sequence-below-floor), even on a fresh store that never saw the newer
release, and even if they were imported before. A floor at or below the
current one is refused (floor-not-raised). The change is a store.floor journal
record, bound in the store's state like the channels.")]
    Floor {
        #[command(flatten)]
        /// The store.
        store: StoreArg,
        /// The channel.
        #[arg(long, value_name = "CHANNEL")]
        channel: String,
        /// The lowest sequence the channel accepts from now on.
        #[arg(long, value_name = "N")]
        sequence: u64,
    },
    /// Show the anchor, the state, the enclave id and what the backend
    /// protects against.
    #[command(after_help = "Example:\n  airlock anchor show --store /var/lib/airlock --json")]
    Show {
        #[command(flatten)]
        /// The store.
        store: StoreArg,
    },
    /// TPM stores: a TPM2 quote over PCR 23 (the import measurements) with
    /// the journal head in its qualifying data, signed by the TPM's
    /// attestation key, for an auditor's nonce; and that key's public half.
    #[command(after_help = "\
Examples:
  # the auditor brings a fresh nonce (e.g. `openssl rand -hex 32`)
  airlock anchor quote --store /var/lib/airlock --nonce 5f3a9c0e12b4d6f8a1c3e5f7092b4d6f --out quote.json
  airlock anchor quote --store /var/lib/airlock --ak-pub ak.pub    # the attestation key, once

Nothing is journaled: the quote is bound to the journal head as it is.
The qualifying data is SHA-256(nonce || SHA-256 of the head record's line);
docs/policy.md shows how to check the file with tpm2_checkquote too.")]
    Quote(QuoteArgs),
    /// Check a quote written by `anchor quote` with the TPM's attestation
    /// public key and the nonce you gave: its signature, that the TPM made
    /// it, the nonce and journal head it is bound to, the PCR value. No TPM
    /// needed.
    #[command(after_help = "\
Example:
  airlock anchor verify-quote quote.json --ak-pub ak.pub --nonce 5f3a9c0e12b4d6f8a1c3e5f7092b4d6f
  # exit 1: quote-nonce-mismatch (a stale quote), quote-signature-invalid (another TPM), …")]
    VerifyQuote(VerifyQuoteArgs),
}

/// `anchor quote`.
#[derive(Debug, Args)]
pub struct QuoteArgs {
    #[command(flatten)]
    /// The store (a TPM store).
    pub store: StoreArg,
    /// The auditor's nonce: 8 to 64 bytes in hex.
    #[arg(
        long,
        value_name = "HEX",
        requires = "out",
        required_unless_present = "ak_pub"
    )]
    pub nonce: Option<String>,
    /// Where to write the quote (JSON).
    #[arg(long, value_name = "FILE", requires = "nonce")]
    pub out: Option<PathBuf>,
    /// Write the TPM attestation key's public key here (PEM).
    #[arg(long, value_name = "FILE")]
    pub ak_pub: Option<PathBuf>,
}

/// `anchor verify-quote`.
#[derive(Debug, Args)]
pub struct VerifyQuoteArgs {
    /// The quote file (`anchor quote --out`).
    pub quote: PathBuf,
    /// The TPM's attestation public key (PEM, `anchor quote --ak-pub`).
    #[arg(long, value_name = "FILE")]
    pub ak_pub: PathBuf,
    /// The nonce the quote must be bound to (hex).
    #[arg(long, value_name = "HEX")]
    pub nonce: String,
    /// Also require this journal head (SHA-256 of the head record's line, hex).
    #[arg(long, value_name = "SHA256")]
    pub journal_head: Option<String>,
}

/// `journal …`.
#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// Show the journal's records (each checked before it is shown), as a
    /// table or, with --json, one record per line.
    #[command(after_help = "\
Examples:
  airlock journal show --store /var/lib/airlock
  airlock journal show --store /var/lib/airlock --outcome refused --since 2026-01-01T00:00:00Z
  airlock journal show --store /var/lib/airlock --bundle 3f2a --json | jq .fields.error

Exit 0 when the journal is intact, 1 (after the records that checked) when it is not.")]
    Show(JournalShowArgs),
    /// Check the journal: sequence, hash chain, signatures and the store's
    /// head (exit 0 intact, 1 tampered, truncated or torn). With --export,
    /// check an export on a machine without the store.
    #[command(after_help = "\
Examples:
  airlock journal verify --store /var/lib/airlock
  airlock journal verify --export audit-2026-q1.jsonl --key journal-key.pub
  # --key: the store's journal public key as recorded at provisioning
  # (`anchor show` prints its keyid); without it the export is checked
  # against the key it carries.")]
    Verify(JournalVerifyArgs),
    /// Write a self-contained, signed extract of the journal for auditors
    /// (the journal, its public key and the anchored root); or, with
    /// --format, the records for a SIEM.
    #[command(after_help = "\
Examples:
  airlock journal export --store /var/lib/airlock --out audit-2026-q1.jsonl
  # on the auditor's machine, with no store:
  airlock journal verify --export audit-2026-q1.jsonl
  # for a SIEM (read-only: no record is written; stdout without --out):
  airlock journal export --store /var/lib/airlock --format cef --out airlock.cef
  airlock journal export --store /var/lib/airlock --format syslog > airlock.syslog   # or pipe it on

--format jsonl: the records as they are (signed JSON lines); cef: ArcSight
CEF, one event per line; syslog: RFC 5424 messages, one per line. Only the
committed records (up to the store's head) are written, each once checked.")]
    Export {
        #[command(flatten)]
        /// The store.
        store: StoreArg,
        /// The file to write (the auditor's export: must not exist; with
        /// --format: replaced atomically, standard output without it).
        #[arg(long, value_name = "FILE", required_unless_present = "format")]
        out: Option<PathBuf>,
        /// Write the records for a SIEM in this format instead of an
        /// auditor's export.
        #[arg(long, value_enum)]
        format: Option<SiemFormat>,
    },
    /// Write an HTML audit report of the journal (a store's, or an export's):
    /// integrity verdict, key, anchor, charts, every import and refusal.
    #[command(after_help = "\
Examples:
  airlock journal report --store /var/lib/airlock --out report.html
  airlock journal report --export audit-2026-q1.jsonl --key journal-key.pub --out report.html

One self-contained file (inline CSS and SVG, no scripts, nothing fetched),
print-friendly (A4 landscape). A journal that does not verify still gets its
report, which says so in red and covers the records that checked; the command
then exits 1.")]
    Report(JournalReportArgs),
    /// Send the journal's committed records that a syslog receiver (a SIEM)
    /// has not had yet, as RFC 5424 messages over UDP or TCP.
    #[command(after_help = "\
Examples:
  airlock journal forward --store /var/lib/airlock --to tcp://siem.example:514
  airlock journal forward --store /var/lib/airlock --to udp://127.0.0.1:514
  # run it from a timer (or after each decision); each run sends what is new

The last record sent is remembered in a cursor file (default:
STORE/siem-forward/TRANSPORT-HOST-PORT.json), so a rerun neither loses nor
duplicates records; a journal that no longer holds the record the cursor
names is refused (exit 1) and nothing is sent. TCP uses octet-counting
framing (RFC 6587); UDP is one datagram per record (RFC 5426), with no
delivery guarantee.")]
    Forward {
        #[command(flatten)]
        /// The store.
        store: StoreArg,
        /// The receiver: udp://HOST:PORT or tcp://HOST:PORT.
        #[arg(long, value_name = "URL")]
        to: String,
        /// The cursor file (the last record sent to this receiver).
        #[arg(long, value_name = "FILE")]
        cursor: Option<PathBuf>,
        /// The HOSTNAME field of the messages (default: this machine's name).
        #[arg(long, value_name = "NAME")]
        hostname: Option<String>,
    },
    /// Start the journal of a store provisioned before airlock kept one
    /// (creates its journal key).
    #[command(after_help = "Example:\n  airlock journal init --store /var/lib/airlock")]
    Init {
        #[command(flatten)]
        /// The store.
        store: StoreArg,
    },
    /// Record a torn last line (a crash while a record was written) and
    /// let the store journal again. The torn bytes stay in the file.
    #[command(
        after_help = "Example:\n  airlock journal verify --store /var/lib/airlock   # reports the torn line\n  airlock journal recover --store /var/lib/airlock"
    )]
    Recover {
        #[command(flatten)]
        /// The store.
        store: StoreArg,
    },
}

/// A SIEM format for `journal export --format`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SiemFormat {
    /// The records as they are: signed JSON lines.
    Jsonl,
    /// ArcSight Common Event Format.
    Cef,
    /// RFC 5424 syslog.
    Syslog,
}

/// Which records `journal show` shows.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutcomeFilter {
    /// Accepted bundles (and chains).
    Accepted,
    /// Rejected bundles (exit 1).
    Refused,
    /// Runs that failed for the operator or the machine (exit 2 or 3).
    Failed,
    /// Accepted imports that could not be completed.
    Aborted,
}

/// `journal show`.
#[derive(Debug, Args)]
pub struct JournalShowArgs {
    #[command(flatten)]
    /// The store.
    pub store: StoreArg,
    /// Only records written at or after this time (YYYY-MM-DDTHH:MM:SSZ).
    #[arg(long, value_name = "RFC3339")]
    pub since: Option<String>,
    /// Only records written before this time.
    #[arg(long, value_name = "RFC3339")]
    pub until: Option<String>,
    /// Only records about this bundle id (or an id starting with it).
    #[arg(long, value_name = "ID")]
    pub bundle: Option<String>,
    /// Only records with this outcome.
    #[arg(long, value_enum)]
    pub outcome: Option<OutcomeFilter>,
    /// Only records of this event type (e.g. unpack, anchor.advanced).
    #[arg(long, value_name = "EVENT")]
    pub event: Option<String>,
}

/// `journal report`.
#[derive(Debug, Args)]
pub struct JournalReportArgs {
    /// The store whose journal to report on (`DIR` or `file:DIR`).
    #[arg(long = "store", env = "AIRLOCK_STORE", value_name = "STORE")]
    pub store: Option<StoreDir>,
    /// Report on this export instead (no store needed).
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// With --export: the journal public key (SPKI PEM) the export must be
    /// signed with.
    #[arg(long, value_name = "PUB", requires = "export")]
    pub key: Option<PathBuf>,
    /// The HTML file to write (replaced atomically).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `journal verify`.
#[derive(Debug, Args)]
pub struct JournalVerifyArgs {
    /// The store whose journal to check (`DIR` or `file:DIR`).
    #[arg(long = "store", env = "AIRLOCK_STORE", value_name = "STORE")]
    pub store: Option<StoreDir>,
    /// Check this export instead (no store needed).
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// With --export: the journal public key (SPKI PEM) the export must be
    /// signed with.
    #[arg(long, value_name = "PUB", requires = "export")]
    pub key: Option<PathBuf>,
}

/// `metrics`.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    #[command(flatten)]
    /// The store.
    pub store: StoreArg,
    /// Write to this file (atomically) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Work in this directory (created; must be empty or absent) instead of a temporary one.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definitions_are_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
