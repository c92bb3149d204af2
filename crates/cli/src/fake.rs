//! `switchyard fake serve`: one fake provider server per profile.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use switchyard_fake::ProfileParams;
use switchyard_fake::profile::builtin;

use crate::{EXIT_BAD_INPUT, EXIT_OK};

/// A profile argument: a file path; or a name, looked up as `fake-providers/NAME.yaml` in the
/// working directory, else the built-in profile NAME.
enum ProfileSource {
    File(PathBuf),
    Builtin(&'static str),
}

fn profile_source(arg: &Path) -> ProfileSource {
    if arg.exists() || arg.extension().is_some() || arg.components().count() > 1 {
        return ProfileSource::File(arg.to_owned());
    }
    let local = Path::new("fake-providers").join(arg).with_extension("yaml");
    if local.exists() {
        return ProfileSource::File(local);
    }
    match arg.to_str().and_then(builtin::builtin) {
        Some(text) => ProfileSource::Builtin(text),
        // Not built in either: report the file it would have been.
        None => ProfileSource::File(local),
    }
}

/// Reads and validates every profile; errors go to `err` with file, line and field.
pub fn load_profiles(args: &[PathBuf], err: &mut dyn Write) -> Option<Vec<ProfileParams>> {
    let mut profiles = Vec::new();
    let mut ok = true;
    for arg in args {
        let (text, name) = match profile_source(arg) {
            ProfileSource::Builtin(text) => (
                text.to_owned(),
                builtin::builtin_file_name(&arg.display().to_string()),
            ),
            ProfileSource::File(path) => {
                let name = path.display().to_string();
                match std::fs::read_to_string(&path) {
                    Ok(text) => (text, name),
                    Err(e) => {
                        let _ = writeln!(
                            err,
                            "{name}: cannot read: {e} (built-in profiles: {})",
                            builtin::builtin_names()
                        );
                        ok = false;
                        continue;
                    }
                }
            }
        };
        match switchyard_fake::load_profile(&text, &name) {
            Ok(p) => profiles.push(p),
            Err(e) => {
                let _ = writeln!(err, "{e}");
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
