//! A JSON value read only to be checked, for fields a decoder requires or type-checks but
//! does not use.
//!
//! [`CheckedJson`] accepts exactly what `serde_json::Value` accepts (numbers in `f64`'s
//! range, strings without lone surrogates, nesting within serde_json's depth limit) without
//! building anything. `serde::de::IgnoredAny` would be cheaper still but is more lenient on
//! all three, so a body that was refused would pass.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Any JSON value, checked as `serde_json::Value` checks it, kept nowhere.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct CheckedJson;

impl<'de> Deserialize<'de> for CheckedJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // `deserialize_any`, as `Value` does: serde_json then parses every number and string
        // (and counts the depth) where `deserialize_ignored_any` only skips them.
        deserializer.deserialize_any(CheckedJson)
    }
}

impl<'de> Visitor<'de> for CheckedJson {
    type Value = CheckedJson;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_none<E>(self) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self, D::Error> {
        CheckedJson::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<CheckedJson>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        while map.next_key::<CheckedJson>()?.is_some() {
            map.next_value::<CheckedJson>()?;
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use serde::de::IgnoredAny;
    use serde_json::Value;

    use super::CheckedJson;

    /// Values `IgnoredAny` lets through and `Value` refuses, and some both accept: each is
    /// read as `Value` reads it, alone and inside an array and an object.
    #[test]
    fn accepts_what_value_accepts_and_nothing_more() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let values = [
            "1e400".to_owned(),
            "-1e400".to_owned(),
            r#""\ud800""#.to_owned(),
            r#""\udc00x""#.to_owned(),
            r#"{"\ud800":1}"#.to_owned(),
            deep(200),
            deep(100),
            "null".to_owned(),
            "true".to_owned(),
            "-12".to_owned(),
            "123456789012345678901234567890".to_owned(),
            "1.5e300".to_owned(),
            r#""\ud83d\ude00 \n\"""#.to_owned(),
            r#"{"a":[1,{"b":null}],"a":"again"}"#.to_owned(),
            r#"[1,]"#.to_owned(),
            r#""\x""#.to_owned(),
        ];
        let mut lenient = 0;
        for v in values {
            for text in [v.clone(), format!("[{v}]"), format!(r#"{{"k":{v}}}"#)] {
                let value = serde_json::from_str::<Value>(&text).is_ok();
                let checked = serde_json::from_str::<CheckedJson>(&text).is_ok();
                assert_eq!(checked, value, "{text}");
                if serde_json::from_str::<IgnoredAny>(&text).is_ok() != value {
                    lenient += 1;
                }
            }
        }
        assert!(lenient >= 15, "the cases that tell them apart: {lenient}");
    }
}
