//! A scenario's fleet: `replicas`, `load_balance`, `shared_state` and `store_faults`,
//! checked against each other and resolved into the simulator's [`SimFleet`].

use switchyard_core::config::ValidationError;
use switchyard_core::time::{Duration, Instant};
use switchyard_sim::{LoadBalance, SharedState, SimFleet, StoreFault, StoreFaultKind};

use super::{LoadBalanceConfig, ScenarioConfig, SharedStateConfig, StoreFaultConfig, err};

/// The most replicas a scenario runs.
pub const MAX_REPLICAS: u32 = 16;

/// The scenario's fleet (`None` without `replicas`); every error found goes to `errors`.
pub(super) fn resolve(c: &ScenarioConfig, errors: &mut Vec<ValidationError>) -> Option<SimFleet> {
    let Some(replicas) = c.replicas else {
        for (set, field) in [
            (c.load_balance.is_some(), "load_balance"),
            (c.shared_state.is_some(), "shared_state"),
            (!c.store_faults.is_empty(), "store_faults"),
        ] {
            if set {
                errors.push(err(field, "needs `replicas` (a fleet)"));
            }
        }
        return None;
    };
    if !(1..=MAX_REPLICAS).contains(&replicas) {
        errors.push(err(
            "replicas",
            format!("must be 1 to {MAX_REPLICAS}, not {replicas}"),
        ));
        return None;
    }
    let shared = shared_state(c.shared_state.as_ref(), "shared_state", errors);
    let store_written = matches!(c.shared_state, Some(SharedStateConfig::Store(_)));
    if !store_written && !c.store_faults.is_empty() {
        errors.push(err("store_faults", "needs a `shared_state` store"));
    }
    let mut store_faults = Vec::new();
    for (i, f) in c.store_faults.iter().enumerate() {
        if let Some(f) = store_fault(
            f,
            &format!("store_faults[{i}]"),
            replicas,
            c.duration,
            errors,
        ) {
            store_faults.push(f);
        }
    }
    store_faults.sort_by_key(|f| f.from);
    Some(SimFleet {
        replicas,
        load_balance: match c.load_balance {
            Some(LoadBalanceConfig::Random) => LoadBalance::Random,
            Some(LoadBalanceConfig::RoundRobin) | None => LoadBalance::RoundRobin,
        },
        shared,
        store_faults,
    })
}

/// A `shared_state`: `None` for `none` (or absent, or in error).
pub(super) fn shared_state(
    c: Option<&SharedStateConfig>,
    path: &str,
    errors: &mut Vec<ValidationError>,
) -> Option<SharedState> {
    let Some(SharedStateConfig::Store(s)) = c else {
        return None;
    };
    let mut ok = true;
    if !(Duration::from_millis(10)..=Duration::from_secs(3600)).contains(&s.sync_every) {
        errors.push(err(
            format!("{path}.sync_every"),
            format!("must be 10ms to 1h, not {}", s.sync_every),
        ));
        ok = false;
    }
    if !(s.lease_block > 0.0 && s.lease_block <= 1.0) {
        errors.push(err(
            format!("{path}.lease_block"),
            format!("must be above 0 and at most 1, not {}", s.lease_block),
        ));
        ok = false;
    }
    let timeout = Duration::from_nanos(s.sync_every.as_nanos() / 2);
    if s.propagation_delay + s.propagation_delay >= timeout {
        errors.push(err(
            format!("{path}.propagation_delay"),
            format!(
                "a round trip ({} twice) must fit in the store timeout, half of sync_every ({timeout})",
                s.propagation_delay
            ),
        ));
        ok = false;
    }
    ok.then_some(SharedState {
        sync_every: s.sync_every,
        lease_block: s.lease_block,
        propagation_delay: s.propagation_delay,
    })
}

fn store_fault(
    f: &StoreFaultConfig,
    path: &str,
    replicas: u32,
    duration: Duration,
    errors: &mut Vec<ValidationError>,
) -> Option<StoreFault> {
    let before = errors.len();
    let kind = match f.kind.as_str() {
        "down" => Some(StoreFaultKind::Down),
        "slow" => match f.delay {
            Some(d) if !d.is_zero() && d <= Duration::from_secs(60) => {
                Some(StoreFaultKind::Slow(d))
            }
            Some(d) => {
                errors.push(err(
                    format!("{path}.delay"),
                    format!("must be above 0s and at most 1m, not {d}"),
                ));
                None
            }
            None => {
                errors.push(err(path, "a `slow` store fault needs a `delay`"));
                None
            }
        },
        "partitioned" => match f.replica {
            Some(r) if r < replicas => Some(StoreFaultKind::Partitioned(r)),
            Some(r) => {
                errors.push(err(
                    format!("{path}.replica"),
                    format!(
                        "no replica {r}: the fleet has replicas 0 to {}",
                        replicas - 1
                    ),
                ));
                None
            }
            None => {
                errors.push(err(path, "a `partitioned` store fault needs a `replica`"));
                None
            }
        },
        other => {
            errors.push(err(
                format!("{path}.kind"),
                format!("`{other}`: write down, slow or partitioned"),
            ));
            None
        }
    };
    if f.kind != "slow" && f.delay.is_some() {
        errors.push(err(
            format!("{path}.delay"),
            "only a `slow` store fault has a `delay`",
        ));
    }
    if f.kind != "partitioned" && f.replica.is_some() {
        errors.push(err(
            format!("{path}.replica"),
            "only a `partitioned` store fault has a `replica`",
        ));
    }
    if f.at >= duration {
        errors.push(err(
            format!("{path}.at"),
            format!("is not before the end of the run ({duration})"),
        ));
    }
    if f.length.is_zero() {
        errors.push(err(format!("{path}.for"), "must be longer than zero"));
    }
    if errors.len() > before {
        return None;
    }
    let from = Instant::ZERO + f.at;
    Some(StoreFault {
        name: f
            .name
            .clone()
            .unwrap_or_else(|| format!("store-{}", f.kind)),
        kind: kind?,
        from,
        to: from + f.length,
    })
}

/// A store fault's name: its own, or `store-KIND`.
pub(super) fn fault_name(f: &StoreFaultConfig) -> String {
    f.name
        .clone()
        .unwrap_or_else(|| format!("store-{}", f.kind))
}
