//! The key ring: which of a provider's keys is in use, and when a key the provider refuses is
//! taken out of use and tried again. One state machine, driven by the live credential store
//! and by the simulator alike; it takes `now` and never reads a clock.
//!
//! The key in use is the newest key valid today that is not revoked. "Valid" and "newest" are
//! the driver's to say (calendar dates in the live store, virtual instants in the simulator):
//! [`KeyRing::choose`] takes a rank per key, `None` for a key that cannot be used now (outside
//! its validity window, or its source gave nothing), and picks the highest rank among the keys
//! that are not revoked.
//!
//! A single 401 is not proof that a key is dead (a provider's auth service can blip), and a
//! dead key should not stay dead for the life of the process if the provider comes back. So:
//! a key is revoked after `after_401s` 401s within a sliding `within` window; after a
//! `cool_off` it is usable again (a re-probe); a 401 during the re-probe window (the next
//! `within` after it) revokes it again at once, with the cool-off doubled, capped at
//! `cool_off_max`. A re-probe window that passes without a 401 clears the key, and the next
//! revocation starts from the base cool-off again. Ending the probe by time rather than by a
//! success report keeps the drivers' contract to two calls; the cost is that on a quiet
//! provider a probe window can pass unused, and the key then needs `after_401s` 401s again.
//!
//! Transitions, per key:
//! 1. in use, 401, fewer than `after_401s` within `within` → in use (the 401 is counted)
//! 2. in use, 401, the `after_401s`-th within `within` → revoked for `cool_off` (event)
//! 3. revoked, chosen once the cool-off is over → re-probing (event)
//! 4. re-probing, 401 → revoked at once for twice the last cool-off, capped (event)
//! 5. re-probing, `within` passes without a 401 → in use, cool-off back to the base
//! 6. revoked, 401 from an attempt sent before the revocation → ignored
//! 7. any state, a fleet peer revoked the key until `u` later than this ring's own → revoked
//!    until `u` (event; the cool-off is the time left), then re-probed as after transition 2
//!
//! The ring also reports a switch of the key in use, so a driver can log rotations.
//!
//! Invariants: a revoked key is never chosen before its cool-off ends; the counted 401s of a
//! key never exceed `after_401s`, so the state is fixed-size per key after construction.

use serde::Deserialize;

use crate::config::ValidationError;
use crate::time::{Duration, Instant};

/// The fleet subject of a provider's key (`provider/key`), for the `Revoked` advisory that
/// shares its revocation: `key` is the key's id (its name, or its source such as
/// `env:OPENAI_API_KEY`), never its value.
pub fn key_subject(provider: &str, key: &str) -> String {
    format!("{provider}/{key}")
}

/// Default: 401s that revoke a key...
pub const DEFAULT_AFTER_401S: u32 = 3;
/// ... within this window.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(60);
/// Default: how long a revoked key stays out of use before it is tried again.
pub const DEFAULT_COOL_OFF: Duration = Duration::from_secs(5 * 60);
/// Default: the longest cool-off (it doubles each time a re-probe gets a 401).
pub const DEFAULT_COOL_OFF_MAX: Duration = Duration::from_secs(60 * 60);

/// A provider's `revocation:` settings.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevocationConfig {
    /// 401s that take a key out of use; default 3 (1: the first 401 revokes).
    pub after_401s: Option<u32>,
    /// ... when they fall within this window; default `60s`. Also the length of a re-probe.
    pub within: Option<Duration>,
    /// How long a revoked key stays out of use before it is tried again; default `5m`.
    pub cool_off: Option<Duration>,
    /// The cool-off doubles each time a re-probe gets a 401, up to this; default `1h`.
    pub cool_off_max: Option<Duration>,
}

/// Validated revocation settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevocationParams {
    /// 401s within `within` that revoke a key; at least 1.
    pub after_401s: u32,
    /// The window the 401s must fall in, and the length of a re-probe; longer than zero.
    pub within: Duration,
    /// The first cool-off of a revoked key.
    pub cool_off: Duration,
    /// The longest cool-off; not shorter than `cool_off`.
    pub cool_off_max: Duration,
}

impl Default for RevocationParams {
    fn default() -> Self {
        RevocationParams {
            after_401s: DEFAULT_AFTER_401S,
            within: DEFAULT_WITHIN,
            cool_off: DEFAULT_COOL_OFF,
            cool_off_max: DEFAULT_COOL_OFF_MAX,
        }
    }
}

impl RevocationParams {
    /// Validates a config, defaults filled in; `path` is where it sits
    /// (`providers[0].revocation`).
    ///
    /// # Errors
    ///
    /// `after_401s` of 0, a `within` of zero, or a `cool_off_max` shorter than `cool_off`;
    /// the error's path names the field.
    pub fn from_config(c: &RevocationConfig, path: &str) -> Result<Self, ValidationError> {
        let d = RevocationParams::default();
        let p = RevocationParams {
            after_401s: c.after_401s.unwrap_or(d.after_401s),
            within: c.within.unwrap_or(d.within),
            cool_off: c.cool_off.unwrap_or(d.cool_off),
            cool_off_max: c.cool_off_max.unwrap_or(d.cool_off_max),
        };
        if p.after_401s == 0 {
            return Err(ValidationError::new(
                format!("{path}.after_401s"),
                "must be at least 1",
            ));
        }
        if p.within == Duration::ZERO {
            return Err(ValidationError::new(
                format!("{path}.within"),
                "must be longer than 0",
            ));
        }
        if p.cool_off_max < p.cool_off {
            return Err(ValidationError::new(
                format!("{path}.cool_off_max"),
                format!("is shorter than cool_off ({})", p.cool_off),
            ));
        }
        Ok(p)
    }
}

/// Something that happened to a key, for the driver to log or report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyEvent {
    /// When it happened (the `now` of the call that caused it).
    pub at: Instant,
    /// The key's index in the provider's keys.
    pub key: usize,
    /// What happened.
    pub kind: KeyEventKind,
}

impl KeyEvent {
    /// For a revocation, when the key is usable again (the end of its cool-off): the `until`
    /// of the fleet's `Revoked` advisory (`Router::fleet_revoke`).
    pub fn revoked_until(&self) -> Option<Instant> {
        match self.kind {
            KeyEventKind::Revoked { cool_off } => Some(self.at + cool_off),
            _ => None,
        }
    }
}

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyEventKind {
    /// The key in use changed to this one.
    InUse,
    /// Taken out of use after 401s, until `now + cool_off`.
    Revoked {
        /// How long it stays out of use.
        cool_off: Duration,
    },
    /// The cool-off is over: the key is tried again.
    Reprobe,
}

impl KeyEventKind {
    /// What happened, in the words reports use.
    pub const fn label(self) -> &'static str {
        match self {
            KeyEventKind::InUse => "in use",
            KeyEventKind::Revoked { .. } => "refused (401): taken out of use",
            KeyEventKind::Reprobe => "cool-off over: re-probing",
        }
    }
}

/// A key's revocation state, for status reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// May be chosen; 401s count towards revocation.
    Usable,
    /// Out of use until `until`.
    Revoked {
        /// The end of the cool-off (exclusive: the key is usable at `until`).
        until: Instant,
    },
    /// Being tried again since `since`: a 401 now revokes it at once.
    Reprobing {
        /// When the re-probe began; it ends at `since + within`.
        since: Instant,
    },
}

#[derive(Clone, Debug)]
struct Slot {
    state: KeyState,
    /// Times of the 401s counted towards revocation, oldest first; at most `after_401s`.
    strikes: Vec<Instant>,
    /// The cool-off of the last revocation (zero: never revoked).
    last_cool_off: Duration,
}

/// One provider's keys: their revocation state and the key in use.
#[derive(Clone, Debug)]
pub struct KeyRing {
    params: RevocationParams,
    slots: Vec<Slot>,
    in_use: Option<usize>,
}

impl KeyRing {
    /// `keys` keys, all usable, none in use yet.
    pub fn new(keys: usize, params: RevocationParams) -> Self {
        let cap = params.after_401s as usize;
        KeyRing {
            params,
            slots: (0..keys)
                .map(|_| Slot {
                    state: KeyState::Usable,
                    strikes: Vec::with_capacity(cap),
                    last_cool_off: Duration::ZERO,
                })
                .collect(),
            in_use: None,
        }
    }

    /// The revocation settings the ring was made with.
    pub fn params(&self) -> &RevocationParams {
        &self.params
    }

    /// The key in use as of the last [`KeyRing::choose`].
    pub fn in_use(&self) -> Option<usize> {
        self.in_use
    }

    /// A key's state at `now` (a revoked key whose cool-off is over shows as usable).
    pub fn state(&self, key: usize, now: Instant) -> KeyState {
        match self.slots.get(key).map(|s| s.state) {
            Some(KeyState::Revoked { until }) if until <= now => KeyState::Usable,
            Some(KeyState::Reprobing { since }) if since + self.params.within <= now => {
                KeyState::Usable
            }
            Some(s) => s,
            None => KeyState::Usable,
        }
    }

    /// Transition 5, applied lazily: a re-probe window that passed without a 401.
    fn settle(&mut self, key: usize, now: Instant) {
        let within = self.params.within;
        if let Some(slot) = self.slots.get_mut(key)
            && let KeyState::Reprobing { since } = slot.state
            && since + within <= now
        {
            // Its next revocation, from the 401 count, starts at the base cool-off again.
            slot.state = KeyState::Usable;
        }
    }

    /// The key [`KeyRing::choose`] would pick at `now`, changing nothing (for status reports).
    pub fn peek<R: Ord>(&self, now: Instant, rank: impl Fn(usize) -> Option<R>) -> Option<usize> {
        (0..self.slots.len())
            .filter(|&i| !matches!(self.slots[i].state, KeyState::Revoked { until } if now < until))
            .filter_map(|i| rank(i).map(|r| (r, i)))
            .max()
            .map(|(_, i)| i)
    }

    /// Picks the key to use at `now`: the highest `rank` among keys that are not revoked.
    /// `rank(i)` is `None` for a key that cannot be used now. Allocates nothing.
    pub fn choose<R: Ord>(
        &mut self,
        now: Instant,
        rank: impl Fn(usize) -> Option<R>,
        mut emit: impl FnMut(KeyEvent),
    ) -> Option<usize> {
        let chosen = self.peek(now, rank);
        if let Some(i) = chosen {
            self.settle(i, now);
            // Transition 3.
            if let KeyState::Revoked { .. } = self.slots[i].state {
                self.slots[i].state = KeyState::Reprobing { since: now };
                emit(KeyEvent {
                    at: now,
                    key: i,
                    kind: KeyEventKind::Reprobe,
                });
            }
            if self.in_use != Some(i) {
                self.in_use = Some(i);
                emit(KeyEvent {
                    at: now,
                    key: i,
                    kind: KeyEventKind::InUse,
                });
            }
        }
        chosen
    }

    /// Transition 7: a fleet peer revoked `key` until `until` (its 401s, or its operator): out
    /// of use until then, as if revoked here, and re-probed after. Returns the revocation, or
    /// `None` when the key is already out of use at least that long (or `until` is past).
    pub fn revoked_by_peer(
        &mut self,
        key: usize,
        until: Instant,
        now: Instant,
    ) -> Option<KeyEvent> {
        if until <= now {
            return None;
        }
        let slot = self.slots.get_mut(key)?;
        if matches!(slot.state, KeyState::Revoked { until: u } if u >= until) {
            return None;
        }
        let cool_off = until.saturating_since(now);
        slot.strikes.clear();
        // A re-probe here that gets a 401 doubles from the longer of the two cool-offs.
        slot.last_cool_off = slot
            .last_cool_off
            .max(cool_off.min(self.params.cool_off_max));
        slot.state = KeyState::Revoked { until };
        Some(KeyEvent {
            at: now,
            key,
            kind: KeyEventKind::Revoked { cool_off },
        })
    }

    /// The provider refused `key` (401) at `now`. Returns the revocation, if this was it.
    pub fn unauthorized(&mut self, key: usize, now: Instant) -> Option<KeyEvent> {
        self.settle(key, now);
        let params = self.params;
        let slot = self.slots.get_mut(key)?;
        let cool_off = match slot.state {
            // Transition 6.
            KeyState::Revoked { .. } => return None,
            // Transition 4.
            KeyState::Reprobing { .. } => slot
                .last_cool_off
                .saturating_mul(2)
                .max(params.cool_off)
                .min(params.cool_off_max),
            KeyState::Usable => {
                // Transitions 1 and 2: a sliding window over the last `after_401s` 401s.
                slot.strikes
                    .retain(|&t| now.saturating_since(t) < params.within);
                if slot.strikes.len() + 1 < params.after_401s as usize {
                    slot.strikes.push(now);
                    return None;
                }
                params.cool_off
            }
        };
        slot.strikes.clear();
        slot.last_cool_off = cool_off;
        slot.state = KeyState::Revoked {
            until: now + cool_off,
        };
        Some(KeyEvent {
            at: now,
            key,
            kind: KeyEventKind::Revoked { cool_off },
        })
    }
}

#[cfg(test)]
mod tests;
