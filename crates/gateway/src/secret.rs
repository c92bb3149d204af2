//! Checking presented tokens (client keys, the admin token, the metrics token) against the
//! SHA-256 digests the config stores, in constant time.
//!
//! A token is hashed first, so what is compared is always 32 bytes, whatever the token's
//! length; the comparison is `subtle`'s `ct_eq`, which looks at every byte and keeps the
//! optimizer from turning it back into an early exit (a hand-written OR-fold over the bytes
//! has no early exit in the source, but nothing stops the compiler from adding one). A client
//! key is looked up by comparing the digest with *every* configured key and selecting the
//! match without a branch, so the time taken says nothing about which key, if any, matched.

use sha2::{Digest as _, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// A SHA-256 digest.
pub(crate) type Digest = [u8; 32];

/// The digest of a presented token.
pub(crate) fn digest(token: &str) -> Digest {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether two digests are equal, in constant time.
pub(crate) fn same(a: &Digest, b: &Digest) -> bool {
    a.ct_eq(b).into()
}

/// The index of the digest in `stored` equal to `presented`, comparing with all of them.
pub(crate) fn find<'a>(
    stored: impl Iterator<Item = &'a Digest>,
    presented: &Digest,
) -> Option<usize> {
    let mut found = u64::MAX;
    for (i, d) in stored.enumerate() {
        let i = u64::try_from(i).unwrap_or(u64::MAX);
        found = u64::conditional_select(&found, &i, d.ct_eq(presented));
    }
    (found != u64::MAX)
        .then(|| usize::try_from(found).ok())
        .flatten()
}

/// The bearer token of an `Authorization` header, if any: the one parser of it for every
/// endpoint. The scheme name is case-insensitive (RFC 9110 §11.1): `bearer x` is `Bearer x`.
/// Looked up by the header's constant name: a `&str` name is parsed into one on every call
/// (about 170 instructions a request, `crates/gateway/bench/instructions.sh`).
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim_start();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_needs_a_token() {
        let with = |v: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert("authorization", v.parse().unwrap());
            bearer(&h).map(str::to_owned)
        };
        assert_eq!(with("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(with("bearer abc ").as_deref(), Some("abc"));
        assert_eq!(with("BEARER  abc").as_deref(), Some("abc"));
        assert_eq!(with("Basic abc"), None);
        assert_eq!(with("Bearer "), None);
        assert_eq!(with("Bearerabc"), None);
        assert_eq!(bearer(&axum::http::HeaderMap::new()), None);
    }

    #[test]
    fn find_picks_the_matching_digest_or_none() {
        let keys = [digest("a"), digest("b"), digest("c")];
        assert_eq!(find(keys.iter(), &digest("b")), Some(1));
        assert_eq!(find(keys.iter(), &digest("c")), Some(2));
        assert_eq!(find(keys.iter(), &digest("a")), Some(0));
        assert_eq!(find(keys.iter(), &digest("d")), None);
        assert_eq!(find([].iter(), &digest("a")), None);
        assert!(same(&digest("x"), &digest("x")));
        assert!(!same(&digest("x"), &digest("y")));
    }
}
