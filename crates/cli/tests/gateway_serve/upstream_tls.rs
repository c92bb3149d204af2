//! `gateway.upstream_ca_file`: a provider behind TLS whose certificate comes from an authority
//! that is not a public one (here a TLS terminator in front of a fake, its certificate signed
//! by a test authority: `tls/`).

use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const CA: &str = include_str!("tls/ca.pem");
const SERVER_CERT: &[u8] = include_bytes!("tls/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("tls/server.key");
/// Another authority, which did not sign the terminator's certificate.
const OTHER_CA: &str = include_str!("../../../gateway/tests/support/other-ca.crt");

/// A TLS terminator on 127.0.0.1 in front of `upstream`, on its own runtime (dropped with the
/// test): its address, how many connections it accepted, and how many of them completed a
/// handshake.
struct Terminator {
    _runtime: tokio::runtime::Runtime,
    addr: String,
    accepted: Arc<AtomicUsize>,
    handshakes: Arc<AtomicUsize>,
}

fn terminator(upstream: String) -> Terminator {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(SERVER_CERT).unwrap()],
            PrivateKeyDer::from_pem_slice(SERVER_KEY).unwrap(),
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
    let (accepted, handshakes) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (a, h) = (accepted.clone(), handshakes.clone());
    runtime.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            a.fetch_add(1, Ordering::SeqCst);
            let (acceptor, upstream, h) = (acceptor.clone(), upstream.clone(), h.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                h.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut plain) = tokio::net::TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    Terminator {
        _runtime: runtime,
        addr,
        accepted,
        handshakes,
    }
}

/// A gateway config whose route tries `ta` at `https://{tls}` first, then `tb`, the plain
/// fake at `plain`, with `gateway_extra` (indented lines) in its `gateway:` section.
fn behind_tls(dir: &TempDir, tls: &str, plain: &str, gateway_extra: &str) -> PathBuf {
    dir.write(
        "gw.yaml",
        &format!(
            "providers:\n  - {{ name: a, dialect: openai, base_url: 'https://x', fake_base_url: 'https://{tls}' }}\n  \
             - {{ name: b, dialect: openai, base_url: 'https://y', fake_base_url: 'http://{plain}' }}\n\
             router:\n  targets:\n    - {{ name: ta, provider: a, model: m }}\n    - {{ name: tb, provider: b, model: m }}\n  \
             routes:\n    - {{ name: chat, policy: priority, tiers: [[ta], [tb]] }}\n\
             gateway:\n  threads: 1\n  expose_attempts: true\n{gateway_extra}"
        ),
    )
}

/// The gateway started on `config` at 127.0.0.1:0: the process, its stderr lines and its
/// address (`host:port`).
fn started(config: &Path) -> (Running, Receiver<String>, String) {
    let (mut gw, at) = start(gateway(config, "127.0.0.1:0"));
    let lines = stderr_lines(&mut gw.0);
    let addr = at.rsplit("http://").next().unwrap().to_owned();
    (gw, lines, addr)
}

/// Asserts that a chat request through the gateway at `addr` is answered 200 by `target`.
fn served_by(addr: &str, target: &str) {
    let (status, served) = chat(addr);
    assert_eq!(
        (status.as_str(), served.as_str()),
        ("HTTP/1.1 200 OK", target)
    );
}

/// A chat request through the gateway at `addr`: its status line and the target that served
/// it (`x-switchyard-target`).
fn chat(addr: &str) -> (String, String) {
    let body = r#"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#;
    let mut conn = post(addr, "/v1/chat/completions", &[], body);
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    let status = reply.lines().next().unwrap_or_default().to_owned();
    let target = reply
        .lines()
        .find_map(|l| l.strip_prefix("x-switchyard-target: "))
        .unwrap_or_else(|| panic!("no target header: {reply}"))
        .trim()
        .to_owned();
    (status, target)
}

/// With the authority that signed the terminator's certificate as an extra root (a path
/// relative to the config's folder; the gateway runs elsewhere), the TLS target serves; after
/// a reload whose file names another authority, the roots read at start still do (a new
/// connection, made while the first is busy with a stream, completes its handshake).
#[test]
fn a_provider_behind_a_private_authority_is_reached_with_upstream_ca_file() {
    let dir = TempDir::new("gw-upstream-ca");
    // 30 tokens at 10 a second: a stream still open seconds after its first event.
    let (_fake, upstream) = slow_fake(&dir, 30);
    let tls = terminator(upstream.clone());
    std::fs::create_dir_all(dir.path().join("certs")).unwrap();
    dir.write("certs/ca.pem", CA);

    let config = behind_tls(
        &dir,
        &tls.addr,
        &upstream,
        "  upstream_ca_file: certs/ca.pem\n",
    );
    let (gw, lines, addr) = started(&config);
    let addr = addr.as_str();
    served_by(addr, "ta");
    assert_eq!(tls.handshakes.load(Ordering::SeqCst), 1);

    dir.write("certs/ca.pem", OTHER_CA);
    signal(&gw.0, "-HUP");
    wait_for(&lines, "reloaded", &mut Vec::new());
    let mut stream = open_stream(addr);
    let began = read_until(&mut stream, "data: ");
    assert!(began.starts_with("HTTP/1.1 200"), "{began}");
    served_by(addr, "ta");
    assert_eq!(
        tls.handshakes.load(Ordering::SeqCst),
        2,
        "a second connection"
    );
}

/// Without the file, the handshake fails (the public roots do not know the authority): the
/// terminator accepts the connection, no handshake completes, and the request fails over to
/// the next tier as from any unreachable target; the log line of the failed connection names
/// the setting that would fix it.
#[test]
fn without_upstream_ca_file_a_private_authority_is_not_trusted_and_the_route_fails_over() {
    let dir = TempDir::new("gw-upstream-no-ca");
    let (_fake, upstream) = slow_fake(&dir, 3);
    let tls = terminator(upstream.clone());
    let config = behind_tls(&dir, &tls.addr, &upstream, "");
    let (_gw, lines, addr) = started(&config);
    served_by(&addr, "tb");
    assert!(
        tls.accepted.load(Ordering::SeqCst) >= 1,
        "the TLS target was tried"
    );
    assert_eq!(tls.handshakes.load(Ordering::SeqCst), 0);
    // The log says what to do about it.
    let hint = "needs that authority in gateway.upstream_ca_file";
    wait_for(&lines, hint, &mut Vec::new());
}

/// A CA file that cannot serve stops the start: exit 2, naming the config, the field's line
/// and column, and the file.
#[test]
fn a_ca_file_that_cannot_serve_is_refused_at_start() {
    let dir = TempDir::new("gw-upstream-ca-bad");
    dir.write("ca.pem", "not a certificate\n");
    let extra = "  upstream_ca_file: ca.pem\n";
    let config = behind_tls(&dir, "127.0.0.1:9", "127.0.0.1:9", extra);
    let err = refused(&mut gateway(&config, "127.0.0.1:0"));
    assert!(err.contains("gw.yaml:13:3"), "{err}");
    assert!(err.contains("gateway.upstream_ca_file"), "{err}");
    assert!(err.contains("ca.pem`: holds no certificate"), "{err}");
    let extra = "  upstream_ca_file: missing.pem\n";
    let config = behind_tls(&dir, "127.0.0.1:9", "127.0.0.1:9", extra);
    let err = refused(&mut gateway(&config, "127.0.0.1:0"));
    assert!(err.contains("missing.pem`: cannot read it"), "{err}");
}
