use super::*;

fn at(secs: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(secs)
}

/// Two keys, both valid; key 1 is the newer.
fn ring() -> KeyRing {
    KeyRing::new(2, RevocationParams::default())
}

fn both_valid(i: usize) -> Option<usize> {
    Some(i)
}

fn choose(r: &mut KeyRing, now: Instant) -> (Option<usize>, Vec<(usize, &'static str)>) {
    let mut events = Vec::new();
    let k = r.choose(now, both_valid, |e| events.push((e.key, e.kind.label())));
    (k, events)
}

#[test]
fn the_newest_usable_key_is_chosen_and_a_switch_is_reported() {
    let mut r = ring();
    assert_eq!(choose(&mut r, at(0)), (Some(1), vec![(1, "in use")]));
    assert_eq!(
        choose(&mut r, at(1)),
        (Some(1), vec![]),
        "no switch, no event"
    );
    // Key 1 not valid (before its window): the older key.
    let k = r.choose(at(2), |i| (i == 0).then_some(i), |_| {});
    assert_eq!(k, Some(0));
    assert_eq!(r.in_use(), Some(0));
    assert_eq!(r.choose(at(3), |_| None::<usize>, |_| {}), None);
}

#[test]
fn three_401s_within_the_window_revoke_and_the_older_key_takes_over() {
    let mut r = ring();
    choose(&mut r, at(0));
    assert_eq!(r.unauthorized(1, at(10)), None);
    assert_eq!(r.unauthorized(1, at(20)), None);
    assert_eq!(choose(&mut r, at(21)).0, Some(1), "two 401s do not revoke");
    let e = r.unauthorized(1, at(69)).unwrap();
    assert_eq!(
        e,
        KeyEvent {
            at: at(69),
            key: 1,
            kind: KeyEventKind::Revoked {
                cool_off: DEFAULT_COOL_OFF
            }
        }
    );
    assert_eq!(e.kind.label(), "refused (401): taken out of use");
    assert_eq!(
        r.state(1, at(70)),
        KeyState::Revoked {
            until: at(69 + 300)
        }
    );
    assert_eq!(choose(&mut r, at(70)), (Some(0), vec![(0, "in use")]));
    // A 401 from an attempt sent before the revocation changes nothing.
    assert_eq!(r.unauthorized(1, at(71)), None);
    assert_eq!(r.state(1, at(71)), KeyState::Revoked { until: at(369) });
}

#[test]
fn unauthorized_replies_spread_beyond_the_window_do_not_revoke() {
    let mut r = ring();
    choose(&mut r, at(0));
    // 0, 59, 119, 179, ...: never three within 60 s.
    for t in [0, 59, 119, 178, 237] {
        assert_eq!(r.unauthorized(1, at(t)), None, "at {t}");
    }
    assert_eq!(r.state(1, at(240)), KeyState::Usable);
    // The window slides: 237, 260 and 290 are three within 60 s.
    assert_eq!(r.unauthorized(1, at(260)), None);
    assert!(r.unauthorized(1, at(290)).is_some());
}

#[test]
fn a_revoked_key_is_reprobed_after_the_cool_off() {
    let mut r = ring();
    choose(&mut r, at(0));
    for t in [1, 2, 3] {
        r.unauthorized(1, at(t));
    }
    assert_eq!(choose(&mut r, at(302)).0, Some(0), "still cooling off");
    assert_eq!(
        choose(&mut r, at(303)),
        (
            Some(1),
            vec![(1, "cool-off over: re-probing"), (1, "in use")]
        )
    );
    assert_eq!(r.state(1, at(304)), KeyState::Reprobing { since: at(303) });
    // The re-probe window passes without a 401: the key is cleared.
    assert_eq!(r.state(1, at(363)), KeyState::Usable);
    assert_eq!(
        r.unauthorized(1, at(400)),
        None,
        "one 401 again needs three"
    );
}

#[test]
fn a_401_on_the_reprobe_revokes_again_at_once_with_a_growing_capped_cool_off() {
    let params = RevocationParams {
        cool_off: Duration::from_secs(300),
        cool_off_max: Duration::from_secs(1000),
        ..RevocationParams::default()
    };
    let mut r = KeyRing::new(1, params);
    for t in [1, 2, 3] {
        r.unauthorized(0, at(t));
    }
    for cool_off in [600, 1000, 1000] {
        let KeyState::Revoked { until } = r.state(0, at(3)) else {
            panic!("revoked")
        };
        assert_eq!(r.choose(until, Some, |_| {}), Some(0));
        let e = r.unauthorized(0, until + Duration::from_secs(1)).unwrap();
        assert_eq!(
            e.kind,
            KeyEventKind::Revoked {
                cool_off: Duration::from_secs(cool_off)
            }
        );
    }
    // A clean re-probe resets the cool-off to the base.
    let KeyState::Revoked { until } = r.state(0, at(3)) else {
        panic!("revoked")
    };
    r.choose(until, Some, |_| {});
    let later = until + Duration::from_secs(61);
    for s in 0..3 {
        r.unauthorized(0, later + Duration::from_secs(s));
    }
    assert_eq!(
        r.state(0, later),
        KeyState::Revoked {
            until: later + Duration::from_secs(2 + 300)
        }
    );
}

#[test]
fn one_401_revokes_when_so_configured_and_bad_settings_are_refused() {
    let c = RevocationConfig {
        after_401s: Some(1),
        ..RevocationConfig::default()
    };
    let mut r = KeyRing::new(1, RevocationParams::from_config(&c, "p").unwrap());
    assert!(r.unauthorized(0, at(0)).is_some());
    let zero = RevocationConfig {
        after_401s: Some(0),
        ..RevocationConfig::default()
    };
    let e = RevocationParams::from_config(&zero, "providers[0].revocation").unwrap_err();
    assert_eq!(e.path, "providers[0].revocation.after_401s");
    let short = RevocationConfig {
        cool_off_max: Some(Duration::from_secs(1)),
        ..RevocationConfig::default()
    };
    let e = RevocationParams::from_config(&short, "p").unwrap_err();
    assert_eq!(e.path, "p.cool_off_max");
}

#[test]
fn a_peers_revocation_takes_the_key_out_of_use_until_its_end_and_never_shortens_one() {
    let mut r = ring();
    assert_eq!(choose(&mut r, at(0)).0, Some(1));
    // Over already, or an unknown key: nothing.
    assert_eq!(r.revoked_by_peer(1, at(10), at(10)), None);
    assert_eq!(r.revoked_by_peer(7, at(100), at(10)), None);
    let e = r.revoked_by_peer(1, at(100), at(10)).unwrap();
    assert_eq!(
        e.kind,
        KeyEventKind::Revoked {
            cool_off: Duration::from_secs(90)
        }
    );
    assert_eq!(r.state(1, at(10)), KeyState::Revoked { until: at(100) });
    assert_eq!(choose(&mut r, at(99)).0, Some(0));
    // The same or a shorter one changes nothing; a longer one extends it.
    assert_eq!(r.revoked_by_peer(1, at(100), at(20)), None);
    assert_eq!(r.revoked_by_peer(1, at(50), at(20)), None);
    assert!(r.revoked_by_peer(1, at(200), at(20)).is_some());
    assert_eq!(choose(&mut r, at(199)).0, Some(0));
    // Its end: re-probed, and a 401 then revokes it at once, for twice the peer's cool-off
    // (180 s), as after a revocation of its own.
    assert_eq!(
        choose(&mut r, at(200)),
        (
            Some(1),
            vec![(1, "cool-off over: re-probing"), (1, "in use")]
        )
    );
    let e = r.unauthorized(1, at(201)).unwrap();
    assert_eq!(
        e.kind,
        KeyEventKind::Revoked {
            cool_off: Duration::from_secs(360)
        }
    );
}
