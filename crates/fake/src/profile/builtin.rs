//! The shipped profiles of `fake-providers/`, compiled into the binary, so `profile: openai`
//! in a scenario and `switchyard fake serve --profile openai` work from any folder.
//!
//! A file of the same name found where the caller looks (`fake-providers/NAME.yaml` near the
//! scenario, or in the working directory for `fake serve`) overrides the built-in one: the
//! lookup is the caller's, this module only answers "is there a built-in profile called NAME".

/// `(name, YAML text)` of every built-in profile, in name order.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "anthropic",
        include_str!("../../../../fake-providers/anthropic.yaml"),
    ),
    (
        "azure-openai",
        include_str!("../../../../fake-providers/azure-openai.yaml"),
    ),
    (
        "gemini",
        include_str!("../../../../fake-providers/gemini.yaml"),
    ),
    (
        "openai",
        include_str!("../../../../fake-providers/openai.yaml"),
    ),
    (
        "small-fast",
        include_str!("../../../../fake-providers/small-fast.yaml"),
    ),
    (
        "zero-latency",
        include_str!("../../../../fake-providers/zero-latency.yaml"),
    ),
];

/// The YAML text of the built-in profile `name`, if there is one.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find_map(|&(n, text)| (n == name).then_some(text))
}

/// The name a built-in profile goes by in error messages (it has no file).
pub fn builtin_file_name(name: &str) -> String {
    format!("fake-providers/{name}.yaml (built in)")
}

/// The built-in names, comma-separated, for "no such profile" messages.
pub fn builtin_names() -> String {
    BUILTIN
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::load_profile;

    /// Every built-in profile loads.
    #[test]
    fn every_builtin_profile_loads() {
        for (name, text) in BUILTIN {
            load_profile(text, &builtin_file_name(name)).unwrap();
        }
        assert!(builtin("openai").is_some() && builtin("opnai").is_none());
        assert!(BUILTIN.windows(2).all(|w| w[0].0 < w[1].0), "in name order");
    }

    /// No shipped file is left out of the binary.
    #[test]
    fn every_shipped_file_is_built_in() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fake-providers");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let stem = path.file_stem().unwrap().to_str().unwrap();
                assert_eq!(
                    builtin(stem),
                    Some(std::fs::read_to_string(&path).unwrap().as_str()),
                    "{stem}"
                );
            }
        }
    }
}
