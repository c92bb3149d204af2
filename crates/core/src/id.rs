//! Interned ids for the names a router deals with (providers, targets, routes).
//!
//! Config names are strings; the hot path uses small dense integers so that per-target state
//! lives in `Vec`s indexed by id (deterministic order, no hashing). An [`Interner`] assigns ids
//! in the order names are first seen, which is the order of the config file, so reports list
//! things the way the user wrote them.

use std::collections::BTreeMap;
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(u32);

        impl $name {
            /// The id with this dense index (the position of its name in the config).
            pub const fn new(index: u32) -> Self {
                $name(index)
            }
            /// The index into the per-id `Vec`s that hold this thing's state.
            pub const fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}#{}", stringify!($name), self.0)
            }
        }
    };
}

id_type!(
    /// A provider: an account at a vendor.
    ProviderId
);
id_type!(
    /// A target: one provider and one concrete model.
    TargetId
);
id_type!(
    /// A route: a logical model name that a policy maps to targets.
    RouteId
);

/// Names to dense ids and back.
#[derive(Debug, Clone, Default)]
pub struct Interner {
    names: Vec<String>,
    ids: BTreeMap<String, u32>,
}

impl Interner {
    /// The id of `name`, assigning the next one if it is new.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), id);
        id
    }

    /// The id of `name`, or `None` when it was never interned.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// The name of `id`; `"?"` for an id this interner never gave out.
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("?", String::as_str)
    }

    /// How many names it holds (ids run from 0 to this, exclusive).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no name was interned yet.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Names in id order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_first_appearance() {
        let mut interner = Interner::default();
        assert_eq!(interner.intern("b"), 0);
        assert_eq!(interner.intern("a"), 1);
        assert_eq!(interner.intern("b"), 0);
        assert_eq!(interner.get("a"), Some(1));
        assert_eq!(interner.get("c"), None);
        assert_eq!(interner.name(1), "a");
        assert_eq!(interner.names().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(TargetId::new(3).index(), 3);
    }
}
