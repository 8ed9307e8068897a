//! `tls:` of a subscription file → the rustls client configuration its deliveries use: a
//! client certificate for mutual TLS and CAs trusted in addition to the web roots (as Svix
//! and Convoy do). The PEM files are read when the subscription loads, so a missing,
//! unreadable or mismatched file is a load error naming it, never a failed delivery.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use super::raw::{RawSubscription, RawTls};
use crate::config_file::FileContext;

/// A subscription's TLS settings, compiled.
#[derive(Debug, Clone)]
pub struct Tls {
    pub config: Arc<rustls::ClientConfig>,
    /// SHA-256 of the files' contents: subscriptions with the same files share one client.
    pub key: String,
}

/// One PEM file as read: its path as shown and its bytes.
struct File {
    shown: String,
    bytes: Vec<u8>,
}

pub(super) fn compile_tls(cx: &FileContext<'_>, raw: &RawSubscription) -> Option<Tls> {
    let t = raw.tls.as_ref()?;
    if t.client_cert.is_some() != t.client_key.is_some() {
        cx.field_error("tls", "client_cert and client_key go together: set both, or neither".into());
        return None;
    }
    if t.client_cert.is_none() && t.ca.is_none() {
        cx.field_error("tls", "set client_cert and client_key, ca, or all three".into());
        return None;
    }
    if !cx.opts.read_files {
        return None;
    }
    let files = read_all(cx, t)?;
    let [cert, key, ca] = files;
    let mut hash = Sha256::new();
    for file in [&cert, &key, &ca] {
        let bytes = file.as_ref().map_or(&[][..], |f| &f.bytes);
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(bytes);
    }
    let config = config(cx, cert.zip(key), ca)?;
    Some(Tls { config: Arc::new(config), key: hex::encode(hash.finalize()) })
}

/// The three files, each read from its `${VAR}`-expanded path; None when one cannot be
/// (its error recorded), or when a path is a placeholder for a missing variable.
fn read_all(cx: &FileContext<'_>, t: &RawTls) -> Option<[Option<File>; 3]> {
    let mut ok = true;
    let mut read = |field: &str, path: &Option<String>| -> Option<File> {
        let path = path.as_ref()?;
        let x = cx.expand(field, path);
        let Some(x) = x.filter(|x| x.placeholders.is_empty()) else {
            ok = false;
            return None;
        };
        let full = resolve(cx.path, &x.text);
        let shown = full.display().to_string();
        match read_pem(&full) {
            Ok(bytes) => Some(File { shown, bytes }),
            Err(e) => {
                cx.field_error(field, format!("cannot read {shown}: {e}"));
                ok = false;
                None
            }
        }
    };
    let files = [read("tls.client_cert", &t.client_cert), read("tls.client_key", &t.client_key), read("tls.ca", &t.ca)];
    ok.then_some(files)
}

/// A PEM file is small (a bundle of every public root CA is about 250 KiB): a larger one is
/// refused before it is read, and so is anything but a regular file (a FIFO would hold the
/// load until something wrote to it; a device has no end).
const MAX_PEM_BYTES: u64 = 1024 * 1024;

fn read_pem(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    let too_large = || format!("it is larger than {} KiB, which no PEM file is", MAX_PEM_BYTES / 1024);
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    if meta.len() > MAX_PEM_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    // `take` bounds the read even if the file grew since.
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    file.take(MAX_PEM_BYTES + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// A relative path is read from the subscription file's directory, wherever the server
/// was started.
fn resolve(subscription_file: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    match subscription_file.parent() {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}

fn config(cx: &FileContext<'_>, client: Option<(File, File)>, ca: Option<File>) -> Option<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(ca) = &ca {
        let certs = certificates(cx, "tls.ca", ca)?;
        for cert in certs {
            if let Err(e) = roots.add(cert) {
                cx.field_error("tls.ca", format!("{} holds a certificate that cannot be a CA: {e}", ca.shown));
                return None;
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| cx.field_error("tls", format!("{e}")))
        .ok()?
        .with_root_certificates(roots);
    let Some((cert, key)) = client else {
        return Some(builder.with_no_client_auth());
    };
    let chain = certificates(cx, "tls.client_cert", &cert)?;
    let Ok(private) = PrivateKeyDer::from_pem_slice(&key.bytes) else {
        let m = format!("{} holds no private key in PEM (PKCS#8, PKCS#1 or SEC1)", key.shown);
        cx.field_error("tls.client_key", m);
        return None;
    };
    builder
        .with_client_auth_cert(chain, private)
        .map_err(|e| {
            let m = match e {
                rustls::Error::InconsistentKeys(_) => {
                    format!("{} does not match the certificate in {}", key.shown, cert.shown)
                }
                e => format!("{} cannot be used with {}: {e}", key.shown, cert.shown),
            };
            cx.field_error("tls.client_key", m)
        })
        .ok()
}

/// Every certificate in a PEM file; at least one, or an error naming the file.
fn certificates(cx: &FileContext<'_>, field: &str, file: &File) -> Option<Vec<CertificateDer<'static>>> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&file.bytes).collect();
    match certs {
        Ok(certs) if !certs.is_empty() => Some(certs),
        Ok(_) => {
            cx.field_error(field, format!("{} holds no PEM certificate", file.shown));
            None
        }
        Err(e) => {
            cx.field_error(field, format!("{} is not valid PEM: {e}", file.shown));
            None
        }
    }
}
