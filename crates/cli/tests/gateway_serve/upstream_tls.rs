//! `gateway.upstream_ca_file`: a provider behind TLS whose certificate authority is not a
//! public one (here a TLS terminator with a self-signed certificate in front of a fake).

use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const CERT: &[u8] = include_bytes!("../../../live/src/transport/client/localhost.crt");
const KEY: &[u8] = include_bytes!("../../../live/src/transport/client/localhost.key");

/// A TLS terminator on 127.0.0.1 (the certificate's name) in front of `upstream`, on its own
/// runtime (dropped with the test): its address, and how many handshakes completed.
fn terminator(upstream: String) -> (tokio::runtime::Runtime, String, Arc<AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(CERT).unwrap()],
            PrivateKeyDer::from_pem_slice(KEY).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let counted = handshakes.clone();
    runtime.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, upstream, counted) =
                (acceptor.clone(), upstream.clone(), counted.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut plain) = tokio::net::TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    (runtime, addr, handshakes)
}

/// A gateway config whose provider is at `https://{tls}`, with `gateway_extra` (indented
/// lines) in its `gateway:` section.
fn behind_tls(dir: &TempDir, tls: &str, gateway_extra: &str) -> PathBuf {
    dir.write(
        "gw.yaml",
        &format!(
            "providers:\n  - {{ name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'https://{tls}' }}\n\
             router:\n  targets:\n    - {{ name: ta, provider: a, model: m }}\n  routes:\n    - {{ name: chat, policy: static, targets: [ta] }}\n\
             gateway:\n  threads: 1\n{gateway_extra}"
        ),
    )
}

/// A chat request's status line and body, through the gateway at `addr`.
fn chat(addr: &str) -> String {
    let body = r#"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#;
    let mut conn = post(addr, "/v1/chat/completions", &[], body);
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    reply
}

/// With the terminator's certificate as an extra root (a path relative to the config's
/// folder, the gateway running elsewhere), a request goes through over TLS; without it the
/// handshake fails (the webpki roots do not know the certificate), and the client gets an
/// error.
#[test]
fn a_provider_behind_a_private_authority_is_reached_with_upstream_ca_file() {
    let dir = TempDir::new("gw-upstream-ca");
    let (_fake, upstream) = slow_fake(&dir, 3);
    let (_runtime, tls, handshakes) = terminator(upstream);
    std::fs::create_dir_all(dir.path().join("certs")).unwrap();
    dir.write("certs/ca.pem", std::str::from_utf8(CERT).unwrap());

    let config = behind_tls(&dir, &tls, "  upstream_ca_file: certs/ca.pem\n");
    let (_gw, at) = start(gateway(&config, "127.0.0.1:0"));
    let addr = at.rsplit("http://").next().unwrap();
    let reply = chat(addr);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("chat.completion"), "{reply}");
    assert_eq!(handshakes.load(Ordering::SeqCst), 1);

    let config = behind_tls(&dir, &tls, "");
    let (_gw, at) = start(gateway(&config, "127.0.0.1:0"));
    let addr = at.rsplit("http://").next().unwrap();
    let reply = chat(addr);
    assert!(!reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("error"), "{reply}");
    assert_eq!(
        handshakes.load(Ordering::SeqCst),
        1,
        "no handshake without the root"
    );
}

/// A CA file that cannot serve stops the start: exit 2, naming the config, the field's line
/// and column, and the file.
#[test]
fn a_ca_file_that_cannot_serve_is_refused_at_start() {
    let dir = TempDir::new("gw-upstream-ca-bad");
    dir.write("ca.pem", "not a certificate\n");
    let config = behind_tls(&dir, "127.0.0.1:9", "  upstream_ca_file: ca.pem\n");
    let err = refused(&mut gateway(&config, "127.0.0.1:0"));
    assert!(err.contains("gw.yaml:10:3"), "{err}");
    assert!(err.contains("gateway.upstream_ca_file"), "{err}");
    assert!(err.contains("ca.pem`: holds no certificate"), "{err}");
    let config = behind_tls(&dir, "127.0.0.1:9", "  upstream_ca_file: missing.pem\n");
    let err = refused(&mut gateway(&config, "127.0.0.1:0"));
    assert!(err.contains("missing.pem`: cannot read it"), "{err}");
}
