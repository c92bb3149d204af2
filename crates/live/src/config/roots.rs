//! `gateway.upstream_ca_file`: certificate authorities trusted for providers' https besides
//! the webpki roots, read from a PEM file beside the config.

use std::io::Read;
use std::path::{Path, PathBuf};

pub use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use switchyard_core::config::{ConfigError, ValidationError};

use super::GatewayConfig;

/// The largest CA file read: a bundle of every public root is about 200 KiB.
pub const MAX_CA_FILE_BYTES: u64 = 1 << 20;

/// The field, as errors name it.
const FIELD: &str = "gateway.upstream_ca_file";

/// The roots `gateway.upstream_ca_file` holds (an empty store without one), its path taken
/// from the folder of `config_file`, the config whose text is `text`; or why they cannot be
/// read, naming the config file, the field's line and column, and the CA file.
pub fn upstream_roots(
    gateway: &GatewayConfig,
    config_file: &Path,
    text: &str,
) -> Result<RootCertStore, ConfigError> {
    let Some(file) = &gateway.upstream_ca_file else {
        return Ok(RootCertStore::empty());
    };
    let refused = |message: String| {
        ValidationError::new(FIELD, message).at(text, &config_file.display().to_string())
    };
    if file.trim().is_empty() {
        return Err(refused(EMPTY.to_owned()));
    }
    let path = beside(config_file, file);
    read_roots(&path).map_err(|message| refused(format!("`{}`: {message}", path.display())))
}

/// `gateway.upstream_ca_file` as written: a field left blank (`upstream_ca_file:`, YAML's
/// null) is refused, not read as no file, which would start without the roots meant.
pub(super) fn named_file<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    use serde::Deserialize;
    match Option::<String>::deserialize(d)? {
        None => Err(serde::de::Error::custom(EMPTY)),
        named => Ok(named),
    }
}

/// The words for a field without a file name.
const EMPTY: &str = "is empty: name a PEM file, or leave the field out";

/// `file` as given when absolute, else in the folder of `config_file`.
fn beside(config_file: &Path, file: &str) -> PathBuf {
    let dir = config_file.parent().unwrap_or_else(|| Path::new(""));
    dir.join(file)
}

/// Every certificate of a PEM file as a root; or why not (the file unreadable or too big, a
/// section that does not decode, no certificate at all, or one that cannot be a root).
fn read_roots(path: &Path) -> Result<RootCertStore, String> {
    // Before opening: a FIFO without a writer would block the open (and a reload's thread).
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file".to_owned());
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut bytes = Vec::new();
    // One byte more than allowed tells a file at the limit from a bigger one.
    file.take(MAX_CA_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(format!(
            "is bigger than {} KiB, the most a CA file may hold",
            MAX_CA_FILE_BYTES / 1024
        ));
    }
    let mut roots = RootCertStore::empty();
    for (i, cert) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let n = i + 1;
        let cert =
            cert.map_err(|e| format!("after {} certificate(s): {}", n - 1, pem_error(&e)))?;
        roots
            .add(cert)
            .map_err(|e| format!("certificate {n} cannot be a root: {}", not_a_root(&e)))?;
    }
    if roots.is_empty() {
        return Err("holds no certificate (a `-----BEGIN CERTIFICATE-----` section)".to_owned());
    }
    // The parser skips sections of other kinds: a key, or OpenSSL's `TRUSTED CERTIFICATE`,
    // whose authority would then not be trusted though the file names it.
    let sections = bytes
        .split(|&b| b == b'\n')
        .filter(|line| line.starts_with(b"-----BEGIN "))
        .count();
    if sections != roots.len() {
        return Err(format!(
            "holds {} section(s) that are not a `CERTIFICATE` (a key, or OpenSSL's `TRUSTED \
             CERTIFICATE`): keep only the authorities' certificates",
            sections.saturating_sub(roots.len())
        ));
    }
    Ok(roots)
}

/// Why a certificate cannot be a root, in fixed words (rustls's errors may carry bytes).
fn not_a_root(e: &rustls::Error) -> &'static str {
    match e {
        rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding) => {
            "BadEncoding (not a DER X.509 certificate)"
        }
        _ => "rustls cannot take it as a trust anchor",
    }
}

/// What is wrong with a PEM file, in words of our own: the parser's errors carry the file's
/// bytes (a section's label, a line), which may be a private key pasted by mistake.
fn pem_error(e: &rustls::pki_types::pem::Error) -> &'static str {
    use rustls::pki_types::pem::Error;
    match e {
        Error::MissingSectionEnd { .. } => "a BEGIN line without its END line",
        Error::IllegalSectionStart { .. } => "a malformed BEGIN line",
        Error::Base64Decode(_) => "text between BEGIN and END that is not base64",
        Error::SectionTooLarge => "a section too large",
        _ => "text that is not PEM",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config naming `file` as its CA file, and its text.
    fn config(file: &str) -> (GatewayConfig, String) {
        let text = format!("providers: []\ngateway:\n  upstream_ca_file: {file}\n");
        let gateway = GatewayConfig {
            upstream_ca_file: Some(file.to_owned()),
            ..Default::default()
        };
        (gateway, text)
    }

    /// A fresh folder in the system's temporary folder, holding `files`.
    fn folder(name: &str, files: &[(&str, &[u8])]) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("switchyard-roots-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, bytes) in files {
            std::fs::write(dir.join(file), bytes).unwrap();
        }
        dir
    }

    const CERT: &[u8] = include_bytes!("../transport/client/localhost.crt");

    /// The roots of a config naming `ca.pem`, with `bytes` in it.
    fn roots_of(name: &str, bytes: &[u8]) -> RootCertStore {
        let dir = folder(name, &[("ca.pem", bytes)]);
        let (gateway, text) = config("ca.pem");
        let roots = upstream_roots(&gateway, &dir.join("gateway.yaml"), &text).unwrap();
        let _ = std::fs::remove_dir_all(dir);
        roots
    }

    #[test]
    fn a_ca_file_is_read_from_beside_the_config() {
        assert_eq!(roots_of("beside", CERT).len(), 1);
        // Two certificates in one bundle are two roots.
        assert_eq!(roots_of("bundle", &[CERT, b"\n", CERT].concat()).len(), 2);
    }

    #[test]
    fn without_a_ca_file_there_are_no_extra_roots() {
        let roots = upstream_roots(&GatewayConfig::default(), Path::new("g.yaml"), "").unwrap();
        assert!(roots.is_empty());
    }

    /// The error for `files` with the config naming `ca.pem`.
    fn refused(name: &str, files: &[(&str, &[u8])]) -> String {
        let dir = folder(name, files);
        let (gateway, text) = config("ca.pem");
        let e = upstream_roots(&gateway, &dir.join("gateway.yaml"), &text).unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        let shown = e.to_string();
        // The config file, the field's line and column, the field and the CA file.
        assert_eq!((e.line, e.column), (3, 3), "{shown}");
        assert!(shown.contains("gateway.yaml"), "{shown}");
        assert!(shown.contains(FIELD), "{shown}");
        assert!(shown.contains("ca.pem"), "{shown}");
        shown
    }

    #[test]
    fn a_ca_file_that_cannot_serve_is_refused_naming_the_config_field_and_file() {
        assert!(refused("missing", &[]).contains("cannot read it"));
        let empty = refused("empty", &[("ca.pem", b"")]);
        assert!(empty.contains("holds no certificate"), "{empty}");
        let key = include_bytes!("../transport/client/localhost.key");
        let key = refused("key", &[("ca.pem", key)]);
        assert!(key.contains("holds no certificate"), "{key}");
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let bad = refused("garbage", &[("ca.pem", garbage)]);
        assert!(
            bad.contains("certificate 1 cannot be a root: BadEncoding (not a DER"),
            "{bad}"
        );
        let broken = [
            CERT,
            b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n",
        ]
        .concat();
        let bad = refused("broken", &[("ca.pem", &broken)]);
        let words = "after 1 certificate(s): text between BEGIN and END that is not base64";
        assert!(bad.contains(words), "{bad}");
        let huge = vec![b'#'; (MAX_CA_FILE_BYTES + 1) as usize];
        let big = refused("huge", &[("ca.pem", &huge)]);
        assert!(big.contains("bigger than 1024 KiB"), "{big}");
        // At the limit, the file is read (and holds nothing).
        let full = vec![b'#'; MAX_CA_FILE_BYTES as usize];
        let full = refused("full", &[("ca.pem", &full)]);
        assert!(full.contains("holds no certificate"), "{full}");
    }

    #[test]
    fn an_empty_name_is_refused_as_such() {
        let (mut gateway, text) = config("''");
        gateway.upstream_ca_file = Some(" ".to_owned());
        let e = upstream_roots(&gateway, Path::new("/tmp/gateway.yaml"), &text).unwrap_err();
        assert!(e.to_string().contains("is empty: name a PEM file"), "{e}");
        assert_eq!((e.line, e.column), (3, 3), "{e}");
    }

    /// A device or a FIFO is not read (an endless one, or one that would block the open).
    #[cfg(target_os = "linux")]
    #[test]
    fn only_a_regular_file_is_read() {
        let (gateway, text) = config("/dev/zero");
        let e = upstream_roots(&gateway, Path::new("/tmp/gateway.yaml"), &text).unwrap_err();
        assert!(e.to_string().contains("is not a regular file"), "{e}");
    }

    /// A key beside the certificate, or a section of another kind, is refused: its
    /// authority, or the file's purpose, is not what the parser would take.
    #[test]
    fn a_section_that_is_not_a_certificate_is_refused() {
        let key = include_bytes!("../transport/client/localhost.key");
        let shown = refused("with-key", &[("ca.pem", &[CERT, key].concat())]);
        assert!(
            shown.contains("holds 1 section(s) that are not a `CERTIFICATE`"),
            "{shown}"
        );
        let trusted = String::from_utf8_lossy(CERT).replace("CERTIFICATE", "TRUSTED CERTIFICATE");
        let both = [CERT, trusted.as_bytes()].concat();
        let shown = refused("trusted", &[("ca.pem", &both)]);
        assert!(shown.contains("holds 1 section(s)"), "{shown}");
    }

    /// A private key pasted on one line (a BEGIN line run into its text, or a section without
    /// its END line) is refused in words of our own: nothing of the file is repeated, neither
    /// as text nor as the byte values the parser's errors hold.
    #[test]
    fn a_bad_pem_file_is_described_without_its_bytes() {
        let marker = "SECRETSECRET";
        let values: Vec<String> = marker.bytes().map(|b| b.to_string()).collect();
        let values = values.join(", ");
        for (name, pem) in [
            (
                "run-on",
                format!("-----BEGIN PRIVATE KEY-----{marker}-----END PRIVATE KEY-----\n"),
            ),
            ("no-end", format!("-----BEGIN PRIVATE KEY-----{marker}==\n")),
            (
                "unended",
                format!("-----BEGIN CERTIFICATE-----\n{marker}\n"),
            ),
        ] {
            let shown = refused(name, &[("ca.pem", pem.as_bytes())]);
            assert!(!shown.contains(marker), "{shown}");
            assert!(!shown.contains(&values), "{shown}");
            assert!(shown.contains("after 0 certificate(s)"), "{shown}");
        }
    }
}
