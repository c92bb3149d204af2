//! `switchyard fake serve`: one fake provider server per profile.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use switchyard_fake::ProfileParams;

use crate::{EXIT_BAD_INPUT, EXIT_OK};

/// A profile argument: a file path, or a name in `fake-providers/`.
fn profile_path(arg: &Path) -> PathBuf {
    if arg.exists() || arg.extension().is_some() || arg.components().count() > 1 {
        arg.to_owned()
    } else {
        Path::new("fake-providers").join(arg).with_extension("yaml")
    }
}

/// Reads and validates every profile; errors go to `err` with file, line and field.
pub fn load_profiles(args: &[PathBuf], err: &mut dyn Write) -> Option<Vec<ProfileParams>> {
    let mut profiles = Vec::new();
    let mut ok = true;
    for arg in args {
        let path = profile_path(arg);
        let name = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => match switchyard_fake::load_profile(&text, &name) {
                Ok(p) => profiles.push(p),
                Err(e) => {
                    let _ = writeln!(err, "{e}");
                    ok = false;
                }
            },
            Err(e) => {
                let _ = writeln!(err, "{name}: cannot read: {e}");
                ok = false;
            }
        }
    }
    ok.then_some(profiles)
}

pub fn serve(
    args: &[PathBuf],
    listen: SocketAddr,
    seed: u64,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let Some(profiles) = load_profiles(args, err) else {
        return EXIT_BAD_INPUT;
    };
    let Some(runtime) = crate::runtime(err) else {
        return EXIT_BAD_INPUT;
    };
    runtime.block_on(async move {
        // Listen for Ctrl-C before saying where the fakes are: a caller that reads the
        // addresses and interrupts at once must get the clean stop, not the default death.
        let interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
        let mut servers = Vec::new();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        for (i, profile) in profiles.into_iter().enumerate() {
            let addr = if listen.port() == 0 {
                listen
            } else {
                SocketAddr::new(listen.ip(), listen.port() + i as u16)
            };
            let listener = match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => {
                    let _ = writeln!(err, "{}: cannot listen on {addr}: {e}", profile.name);
                    return EXIT_BAD_INPUT;
                }
            };
            let bound = listener.local_addr().unwrap_or(addr);
            let _ = writeln!(
                out,
                "{} {} http://{bound}",
                profile.name,
                profile.dialect.label()
            );
            let app = switchyard_fake::server::router(profile, seed);
            servers.push(switchyard_fake::server::spawn_until(
                listener,
                app,
                stop_rx.clone(),
            ));
        }
        let _ = out.flush();
        match interrupt {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        let _ = stop_tx.send(true);
        for s in servers {
            let _ = s.await;
        }
        EXIT_OK
    })
}
