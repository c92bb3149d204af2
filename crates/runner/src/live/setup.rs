//! What a live run stands on: the scenario's fakes, the router, and the gateway (if any).

use std::collections::BTreeMap;
use std::sync::Arc;

use switchyard_core::credentials::{Date, Environment, ProviderConfig, resolve_providers};
use switchyard_core::time::Duration;
use switchyard_fake::fault::FaultConfig;
use switchyard_live::credentials::CredentialStore;
use switchyard_live::{Driver, HttpClient};

use super::fleet::{Store, Watch, door, play_store_faults, replica_prefix};
use super::launch::{GatewayLauncher, GatewayStop};
use crate::scenario::{GatewayMode, ScenarioProvider};
use crate::{RunError, ScenarioParams};

/// The fakes the runner started, the router the load goes to (or whose targets and routes
/// name a black box's replies), and the gateway in front of it, if any.
pub(super) struct Stage {
    /// The router (a fleet's replica 0).
    pub(super) router: Driver,
    /// Where every request goes, when not to `router` in process: one gateway, or a fleet's
    /// replicas, by replica.
    pub(super) gateway_urls: Vec<String>,
    /// A fleet's: what it runs on, and what the runner sees of it.
    pub(super) fleet: Option<FleetStage>,
    /// Each provider's name and base URL (the runner's fakes and the scenario's own).
    pub(super) fake_urls: Vec<(String, String)>,
    /// The run's clock reads zero here: the router's, the fakes' and the load's.
    pub(super) origin: tokio::time::Instant,
    stop: tokio::sync::watch::Sender<bool>,
    servers: Vec<tokio::task::JoinHandle<()>>,
    gateways: Vec<GatewayStop>,
}

/// A live fleet's parts: each replica's router, the runner's view of them, and the store.
pub(super) struct FleetStage {
    /// Each replica's router, by replica.
    pub(super) replicas: Vec<Driver>,
    pub(super) watch: Arc<Watch>,
    /// `None` with `shared_state: none`. Dropped last: Redis is killed and its files removed.
    _store: Option<Arc<Store>>,
    /// The store faults still to play, aborted when the run ends.
    faults: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for FleetStage {
    fn drop(&mut self) {
        for f in &self.faults {
            f.abort();
        }
    }
}

impl Stage {
    /// Starts the fakes, each on its own port, and the router in development mode against
    /// them; with `gateway: switchyard`, the launcher's gateway in front of them.
    pub(super) async fn start(
        s: &ScenarioParams,
        seed: u64,
        launcher: Option<&dyn GatewayLauncher>,
    ) -> Result<Stage, RunError> {
        let setup = |message: String| RunError::Setup {
            file: s.file.clone(),
            message,
        };
        refused(s, launcher).map_err(setup)?;
        // The fakes' ports first (the router needs their URLs); they serve on its clock.
        let (listeners, fake_urls) = fake_listeners(s).await.map_err(setup)?;
        let providers: Vec<ProviderConfig> = s
            .providers
            .iter()
            .zip(&fake_urls)
            .map(|(p, (_, base))| provider_config(p, base.clone()))
            .collect();
        let used: Vec<&str> = s.router.providers.names().collect();
        let resolved = resolve_providers(&providers, Environment::Development, &used)
            .map_err(|e| setup(e.to_string()))?;
        let store = CredentialStore::load(
            resolved,
            Environment::Development,
            &used,
            Date(20_000),
            &|_| None,
        )
        .map_err(|e| setup(e.to_string()))?;
        if let (Some(fleet), Some(launcher)) = (&s.fleet, launcher) {
            drop(store);
            return start_fleet(s, fleet, launcher, listeners, fake_urls, &providers, seed)
                .await
                .map_err(setup);
        }
        let (router, gateway_url, gateway) = match &s.gateway {
            // This project's gateway, in front of the fakes; the load goes to it over HTTP.
            GatewayMode::Switchyard => {
                let Some(launcher) = launcher else {
                    return Err(setup(NO_LAUNCHER.to_owned()));
                };
                drop(store);
                let params = gateway_params(s, &providers, &used).map_err(setup)?;
                let launched = launcher.launch(params).await.map_err(setup)?;
                (launched.router, Some(launched.url), Some(launched.stop))
            }
            mode => {
                let router = Driver::new(
                    s.router.clone(),
                    store,
                    switchyard_live::Transport::new(HttpClient::new()),
                    seed,
                )
                .map_err(|e| setup(e.to_string()))?;
                // A black box: every request goes to that gateway; this router only names
                // the scenario's targets and routes for the report (its own telemetry stays
                // empty).
                let url = match mode {
                    GatewayMode::External(url) => Some(url.clone()),
                    _ => None,
                };
                (router, url, None)
            }
        };
        // One clock: the fakes count from the router's zero, and so does the run.
        let (stop, servers) = serve_fakes(listeners, seed, router.origin());
        Ok(Stage {
            origin: router.origin(),
            router,
            gateway_urls: gateway_url.into_iter().collect(),
            fleet: None,
            fake_urls,
            stop,
            servers,
            gateways: gateway.into_iter().collect(),
        })
    }

    /// Turns on the event tap of the router (every replica's, in a fleet).
    pub(super) fn tap_events(&self) {
        self.router.tap_events();
        for r in self.fleet.iter().flat_map(|f| &f.replicas) {
            r.tap_events();
        }
    }

    /// The events tapped so far: a fleet's from every replica, on the run's clock.
    pub(super) fn drain_events(&self) -> Vec<switchyard_core::telemetry::Event> {
        match &self.fleet {
            None => self.router.drain_events(),
            Some(f) => super::load::drain_fleet(&f.replicas, &f.watch),
        }
    }

    /// Events the tap could not hold: a fleet's from every replica.
    pub(super) fn tap_lost(&self) -> u64 {
        let lost = |r: &Driver| r.inspect(|core| core.telemetry().events.tap_lost());
        match &self.fleet {
            None => lost(&self.router),
            Some(f) => f.replicas.iter().map(lost).sum(),
        }
    }

    /// A fleet's figures (`None` without a fleet): `per_replica` from the load.
    pub(super) fn fleet_figures(
        &self,
        s: &ScenarioParams,
        per_replica: Vec<u64>,
        counters: &BTreeMap<String, serde_json::Value>,
    ) -> Option<switchyard_sim::FleetFigures> {
        let (f, fleet) = (self.fleet.as_ref()?, s.fleet.as_ref()?);
        let names: Vec<String> = s.providers.iter().map(|p| p.name.clone()).collect();
        Some(f.watch.figures(fleet, per_replica, counters, &names))
    }

    /// A fleet's telemetry, every replica's merged on the run's clock (`None` without a
    /// fleet).
    pub(super) fn fleet_telemetry(&self) -> Option<switchyard_core::telemetry::Telemetry> {
        let f = self.fleet.as_ref()?;
        let mut merged = self.router.telemetry();
        for (tel, shift) in f.watch.others_telemetry() {
            merged.merge(&tel, shift);
        }
        Some(merged)
    }

    /// Each fake's counters (`GET /_fake/counters`), by provider; one that does not answer
    /// is left out.
    pub(super) async fn fake_counters(
        &self,
        client: &HttpClient,
    ) -> BTreeMap<String, serde_json::Value> {
        let mut counters = BTreeMap::new();
        for (name, url) in &self.fake_urls {
            if let Ok(text) = control(
                client,
                "GET",
                &format!("{url}/_fake/counters"),
                String::new(),
            )
            .await
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            {
                counters.insert(name.clone(), v);
            }
        }
        counters
    }

    /// Stops the fakes and the gateway the run started, and waits until they have.
    pub(super) async fn stop(mut self) {
        let _ = self.stop.send(true);
        // The store faults first (one may be starting Redis again), then the gateways (their
        // sync tasks with them), then the store.
        let fleet = self.fleet.take();
        if let Some(f) = &fleet {
            for task in &f.faults {
                task.abort();
            }
        }
        for gateway in std::mem::take(&mut self.gateways) {
            gateway.stop().await;
        }
        for server in std::mem::take(&mut self.servers) {
            let _ = server.await;
        }
        drop(fleet);
    }
}

/// A listener for each provider the runner fakes, and every provider's name and base URL
/// (the runner's fakes' and the scenario's own).
async fn fake_listeners(s: &ScenarioParams) -> Result<FakeListeners<'_>, String> {
    let mut listeners = Vec::new();
    let mut fake_urls: Vec<(String, String)> = Vec::new();
    for p in &s.providers {
        let base = match &p.url {
            Some(url) => url.clone(),
            None => {
                let (listener, url) = listen().await?;
                listeners.push((p, listener));
                url
            }
        };
        fake_urls.push((p.name.clone(), base));
    }
    Ok((listeners, fake_urls))
}

/// The fakes' listeners, and every provider's name and base URL.
type FakeListeners<'a> = (
    Vec<(&'a ScenarioProvider, tokio::net::TcpListener)>,
    Vec<(String, String)>,
);

/// Why `s` cannot run live with `launcher`, if it cannot.
fn refused(s: &ScenarioParams, launcher: Option<&dyn GatewayLauncher>) -> Result<(), String> {
    // The fleet's figures are read at the door of the runner's own fakes.
    if let Some(p) = s.providers.iter().find(|p| p.url.is_some())
        && s.fleet.is_some()
    {
        return Err(format!(
            "provider `{}` has a `url`: a live fleet runs against the runner's own fakes \
             (which replica sent each attempt, and its probes, are seen at their door)",
            p.name
        ));
    }
    if (s.gateway == GatewayMode::Switchyard || s.fleet.is_some()) && launcher.is_none() {
        return Err(NO_LAUNCHER.to_owned());
    }
    if s.fleet.is_some() && matches!(s.gateway, GatewayMode::External(_)) {
        return Err(
            "`replicas` with `gateway: URL`: a live fleet runs this project's gateway \
                    (`gateway: switchyard`, or no `gateway`)"
                .to_owned(),
        );
    }
    Ok(())
}

/// What this project's gateway serves in front of the fakes: the scenario's router on
/// `providers` in development mode, telling which target served and each attempt (the
/// runner reads them from its headers).
fn gateway_params(
    s: &ScenarioParams,
    providers: &[ProviderConfig],
    used: &[&str],
) -> Result<switchyard_live::config::LiveParams, String> {
    Ok(switchyard_live::config::LiveParams {
        environment: Environment::Development,
        providers: resolve_providers(providers, Environment::Development, used)
            .map_err(|e| e.to_string())?,
        router: s.router.clone(),
        gateway: switchyard_live::config::GatewayConfig {
            expose_attempts: true,
            ..Default::default()
        },
        limits: Default::default(),
        upstream_roots: switchyard_live::config::roots::RootCertStore::empty(),
    })
}

/// A live fleet: `fleet.replicas` gateways through `launcher`, each reaching the fakes under
/// its own path and, with shared state, Redis through its own relay; then the fakes, behind
/// the door that tells which replica sent each attempt; then the store faults, on the clock
/// of replica 0 (the run's).
async fn start_fleet(
    s: &ScenarioParams,
    fleet: &switchyard_sim::SimFleet,
    launcher: &dyn GatewayLauncher,
    listeners: Vec<(&ScenarioProvider, tokio::net::TcpListener)>,
    fake_urls: Vec<(String, String)>,
    providers: &[ProviderConfig],
    seed: u64,
) -> Result<Stage, String> {
    let used: Vec<&str> = s.router.providers.names().collect();
    let store = match fleet.shared {
        Some(_) => Some(Arc::new(Store::start(fleet.replicas).await?)),
        None => None,
    };
    let mut replicas = Vec::new();
    let mut gateway_urls = Vec::new();
    let mut gateways = Vec::new();
    for i in 0..fleet.replicas.max(1) {
        // The runner's fakes under this replica's path; a scenario's own fakes as they are.
        let mine: Vec<ProviderConfig> = providers
            .iter()
            .zip(&s.providers)
            .map(|(c, p)| match p.url {
                Some(_) => c.clone(),
                None => {
                    let base = format!("{}{}", c.base_url, replica_prefix(i));
                    ProviderConfig {
                        base_url: base.clone(),
                        fake_base_url: Some(base),
                        ..c.clone()
                    }
                }
            })
            .collect();
        let mut params = gateway_params(s, &mine, &used)?;
        if let (Some(shared), Some(store)) = (fleet.shared, &store) {
            let relay = store
                .relays
                .get(i as usize)
                .ok_or_else(|| format!("no relay for replica {i}"))?;
            params.gateway.shared_state = Some(switchyard_live::config::SharedStateConfig {
                redis: relay.url(),
                sync_every: Some(shared.sync_every),
                lease_block: Some(shared.lease_block),
                replica: Some(i),
            });
        }
        let launched = launcher.launch(params).await?;
        replicas.push(launched.router);
        gateway_urls.push(launched.url);
        gateways.push(launched.stop);
    }
    let names: Vec<String> = s.providers.iter().map(|p| p.name.clone()).collect();
    let watch = Arc::new(Watch::new(replicas.clone(), &names));
    let router = replicas
        .first()
        .cloned()
        .ok_or_else(|| "a fleet of no replicas".to_owned())?;
    let origin = router.origin();
    let (stop, servers) = serve_fakes_with(listeners, seed, origin, |app, name| {
        match names.iter().position(|n| n == name) {
            Some(p) => door(app, watch.clone(), p),
            None => app,
        }
    });
    let faults = store
        .as_ref()
        .map(|store| play_store_faults(fleet, store, origin))
        .unwrap_or_default();
    Ok(Stage {
        origin,
        router,
        gateway_urls,
        fleet: Some(FleetStage {
            replicas,
            watch,
            _store: store,
            faults,
        }),
        fake_urls,
        stop,
        servers,
        gateways,
    })
}

/// Serves each provider's fake on its listener, on the run's clock from `origin`, until the
/// returned sender says stop.
fn serve_fakes(
    listeners: Vec<(&ScenarioProvider, tokio::net::TcpListener)>,
    seed: u64,
    origin: tokio::time::Instant,
) -> (
    tokio::sync::watch::Sender<bool>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    serve_fakes_with(listeners, seed, origin, |app, _| app)
}

/// [`serve_fakes`], each fake's app wrapped by `wrap` (given the provider's name).
fn serve_fakes_with(
    listeners: Vec<(&ScenarioProvider, tokio::net::TcpListener)>,
    seed: u64,
    origin: tokio::time::Instant,
    wrap: impl Fn(axum::Router, &str) -> axum::Router,
) -> (
    tokio::sync::watch::Sender<bool>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let servers = listeners
        .into_iter()
        .map(|(p, listener)| {
            let app = switchyard_fake::server::router_at(p.profile.clone(), seed, origin);
            switchyard_fake::server::spawn_until(listener, wrap(app, &p.name), stop_rx.clone())
        })
        .collect();
    (stop, servers)
}

/// A listener on 127.0.0.1, port 0, for a fake, and its base URL.
async fn listen() -> Result<(tokio::net::TcpListener, String), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    Ok((listener, format!("http://{addr}")))
}

/// The setup error of a scenario through this project's gateway run without a launcher.
pub(super) const NO_LAUNCHER: &str = "`gateway: switchyard` runs the scenario through this \
    project's gateway, and this runner was given no way to start one (run the scenario with \
    the `switchyard` command, or pass a `GatewayLauncher` in `RunOptions`)";

/// A scenario provider as the live router sees it: in development mode, at `base`.
fn provider_config(p: &ScenarioProvider, base: String) -> ProviderConfig {
    ProviderConfig {
        name: p.name.clone(),
        dialect: p.profile.dialect,
        base_url: base.clone(),
        fake_base_url: Some(base),
        mode: None,
        auth: None,
        headers: Default::default(),
        revocation: None,
        rotation_days: None,
        keys: Vec::new(),
        mock_key: Some(
            p.profile
                .keys
                .first()
                .cloned()
                .unwrap_or_else(|| "switchyard-dev".to_owned()),
        ),
    }
}

/// Fakes the runner did not start: back to their profile, then the scenario's `prefill` and
/// faults. A fault's `at` counts from when the fake receives it, so each is sent less the
/// time the run's clock (from `origin`) has already run: it starts when the run says, to
/// within a loopback round trip.
pub(super) async fn prepare_external_fakes(
    client: &HttpClient,
    s: &ScenarioParams,
    origin: tokio::time::Instant,
) -> Result<(), RunError> {
    let setup = |message: String| RunError::Setup {
        file: s.file.clone(),
        message,
    };
    for p in s.providers.iter().filter(|p| p.url.is_some()) {
        let url = p.url.clone().unwrap_or_default();
        control(client, "POST", &format!("{url}/_fake/reset"), String::new())
            .await
            .map_err(|e| setup(format!("fake `{}` at {url}: {e}", p.name)))?;
        // The scenario's `prefill` (already folded into the profile's for the fakes the
        // runner starts).
        let options = serde_json::json!({ "prefill": p.prefill }).to_string();
        control(client, "POST", &format!("{url}/_fake/options"), options)
            .await
            .map_err(|e| setup(format!("fake `{}`: {e}", p.name)))?;
        for f in &p.faults {
            let f = on_the_runs_clock(f, Duration::from(origin.elapsed()));
            let body = serde_json::to_string(&f).unwrap_or_default();
            control(client, "POST", &format!("{url}/_fake/faults"), body)
                .await
                .map_err(|e| setup(format!("fake `{}`: {e}", p.name)))?;
        }
    }
    Ok(())
}

/// `f` as sent `elapsed` into the run: its `at` that much earlier (`-` saturates at 0).
/// One already due starts at once, its `for` shortened by how late it is (a periodic one
/// keeps its period).
fn on_the_runs_clock(f: &FaultConfig, elapsed: Duration) -> FaultConfig {
    let mut f = f.clone();
    let at = f.at.unwrap_or(Duration::ZERO);
    let late = elapsed - at;
    f.at = Some(at - elapsed);
    if f.every.is_none()
        && let Some(d) = f.duration
    {
        f.duration = Some((d - late).max(Duration::from_micros(1)));
    }
    f
}

/// A call to a fake's control API; the body of a 2xx reply.
pub(super) async fn control(
    client: &HttpClient,
    method: &str,
    url: &str,
    body: String,
) -> Result<String, String> {
    use http_body_util::BodyExt;
    let request = axum::http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = client.send(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if status.is_success() {
        Ok(text)
    } else {
        Err(format!("{status}: {text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_sent_late_keeps_its_place_on_the_runs_clock() {
        let fault = |yaml: &str| serde_json::from_str::<FaultConfig>(yaml).unwrap();
        let ms = Duration::from_millis;
        let f = on_the_runs_clock(
            &fault(r#"{"kind":"http","status":503,"at":"3s","for":"5s"}"#),
            ms(40),
        );
        assert_eq!((f.at, f.duration), (Some(ms(2_960)), Some(ms(5_000))));
        // Already due: it starts at once, and still ends when the run says.
        let f = on_the_runs_clock(&fault(r#"{"kind":"http","status":503,"for":"1s"}"#), ms(40));
        assert_eq!((f.at, f.duration), (Some(Duration::ZERO), Some(ms(960))));
        let f = on_the_runs_clock(
            &fault(r#"{"kind":"http","status":503,"for":"1s","every":"10s"}"#),
            ms(40),
        );
        assert_eq!(f.duration, Some(ms(1_000)), "a period is kept");
    }
}
