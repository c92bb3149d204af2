//! A scenario's traffic: its one arrival process and its classes, each bounded so that a
//! scenario that validates can run.

use switchyard_core::config::ValidationError;
use switchyard_core::request::Capabilities;
use switchyard_core::router::RouterParams;
use switchyard_core::time::Duration;
use switchyard_sim::traffic::{Arrival, ClassParams, TrafficParams};

use super::{ClassConfig, MAX_RATE, MAX_REQUESTS, MAX_TOKENS, RampConfig, TrafficConfig, err};

/// The traffic as the generator takes it, or its first error.
pub(super) fn resolve(
    t: &TrafficConfig,
    router: &RouterParams,
    duration: Duration,
) -> Result<TrafficParams, ValidationError> {
    let arrival = arrival(t, duration)?;
    if t.classes.is_empty() {
        return Err(err("traffic.classes", "traffic needs at least one class"));
    }
    let classes = t
        .classes
        .iter()
        .enumerate()
        .map(|(i, c)| class(&format!("traffic.classes[{i}]"), c, router))
        .collect::<Result<_, _>>()?;
    Ok(TrafficParams {
        arrival,
        classes,
        max_requests: t.max_requests,
    })
}

/// The one arrival process, its rates bounded and the requests it makes over `duration`
/// too (unless `max_requests` caps them).
fn arrival(t: &TrafficConfig, duration: Duration) -> Result<Arrival, ValidationError> {
    let a = &t.arrival;
    let rate_ok = |path: &str, r: f64| {
        if !(r.is_finite() && r > 0.0) {
            Err(err(path, format!("must be a rate above zero, not {r}")))
        } else if r > MAX_RATE {
            Err(err(
                path,
                format!("must be at most {MAX_RATE} requests per second, not {r}"),
            ))
        } else {
            Ok(r)
        }
    };
    let mut arrivals = Vec::new();
    if let Some(r) = a.constant {
        arrivals.push(Arrival::Constant {
            rate: rate_ok("traffic.arrival.constant", r)?,
        });
    }
    if let Some(r) = a.poisson {
        arrivals.push(Arrival::Poisson {
            rate: rate_ok("traffic.arrival.poisson", r)?,
        });
    }
    if let Some(RampConfig { from, to }) = a.ramp {
        arrivals.push(Arrival::Ramp {
            from: rate_ok("traffic.arrival.ramp.from", from)?,
            to: rate_ok("traffic.arrival.ramp.to", to)?,
        });
    }
    if let Some(b) = a.bursts {
        if b.every.is_zero() || b.length >= b.every {
            return Err(err(
                "traffic.arrival.bursts",
                "`for` must be shorter than `every`",
            ));
        }
        arrivals.push(Arrival::Bursts {
            rate: rate_ok("traffic.arrival.bursts.rate", b.rate)?,
            burst_rate: rate_ok("traffic.arrival.bursts.burst_rate", b.burst_rate)?,
            every: b.every,
            length: b.length,
        });
    }
    if arrivals.len() != 1 {
        return Err(err(
            "traffic.arrival",
            "write exactly one of constant, poisson, ramp, bursts",
        ));
    }
    // The peak rate over the whole run bounds the requests it makes.
    let peak = match arrivals.first() {
        Some(Arrival::Constant { rate } | Arrival::Poisson { rate }) => *rate,
        Some(Arrival::Ramp { from, to }) => from.max(*to),
        Some(Arrival::Bursts {
            rate, burst_rate, ..
        }) => rate.max(*burst_rate),
        None => 0.0,
    };
    let requests = (peak * duration.as_secs_f64()).ceil();
    if requests > MAX_REQUESTS as f64 && t.max_requests.is_none_or(|n| n > MAX_REQUESTS) {
        return Err(err(
            "traffic.arrival",
            format!(
                "{peak}/s for {duration} is up to {requests} requests; at most {MAX_REQUESTS} \
                 per run (lower the rate or the duration, or set traffic.max_requests)"
            ),
        ));
    }
    Ok(arrivals.remove(0))
}

/// One class of requests, at `path`: its weight, stream share, route, needs and sizes.
fn class(
    path: &str,
    c: &ClassConfig,
    router: &RouterParams,
) -> Result<ClassParams, ValidationError> {
    if !(c.weight.is_finite() && c.weight > 0.0) {
        return Err(err(format!("{path}.weight"), "must be above zero"));
    }
    if !(0.0..=1.0).contains(&c.stream) {
        return Err(err(format!("{path}.stream"), "is a share between 0 and 1"));
    }
    let routable = router.route_id(&c.route).is_some()
        || router
            .rules
            .iter()
            .any(|r| r.when.route.as_deref() == Some(c.route.as_str()));
    if !routable {
        return Err(err(
            format!("{path}.route"),
            format!("no route `{}` (and no rule matches that name)", c.route),
        ));
    }
    let mut needs = Capabilities::NONE;
    for (k, n) in c.needs.iter().enumerate() {
        needs = needs.union(Capabilities::from_name(n).ok_or_else(|| {
            err(
                format!("{path}.needs[{k}]"),
                format!(
                    "unknown capability `{n}`; known: streaming, tools, json_mode, vision, prefill"
                ),
            )
        })?);
    }
    if c.max_tokens > MAX_TOKENS {
        return Err(err(
            format!("{path}.max_tokens"),
            format!("must be at most {MAX_TOKENS}, not {}", c.max_tokens),
        ));
    }
    let prompt_tokens = c
        .prompt_tokens
        .resolve()
        .map_err(|e| err(format!("{path}.prompt_tokens"), e))?;
    let typical = switchyard_fake::profile::typical_max(&prompt_tokens);
    if typical > f64::from(MAX_TOKENS) {
        return Err(err(
            format!("{path}.prompt_tokens"),
            format!("reaches {typical} tokens (p99 or max); at most {MAX_TOKENS}"),
        ));
    }
    Ok(ClassParams {
        name: c.name.clone(),
        weight: c.weight,
        route: c.route.clone(),
        task: c.task.clone(),
        prompt_tokens,
        max_tokens: c.max_tokens.max(1),
        stream: c.stream,
        needs,
        abandon_after: match c.abandon_after {
            Some(d) if d == Duration::ZERO => {
                return Err(err(format!("{path}.abandon_after"), "must be above zero"));
            }
            other => other,
        },
    })
}
