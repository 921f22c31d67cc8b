//! Names for scrapers that cannot read UTF-8 ones: the `escaping` schemes Prometheus 3
//! negotiates (`escaping=` on the 1.0.0 text formats' media types).
//!
//! A legacy name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) needs no escaping: the contract's names
//! are, and the `prometheus` crate refuses any other. Names that are not
//! (`http.requests`) come with the `metrics` facade; the text writer spells them as the
//! scraper's scheme says. Each follows the rules prometheus/common applies
//! (`model.EscapeName`), including its choices where a scheme leaves details open: a
//! digit may not start a name, `dots` escapes every name (legacy ones too), and `values`
//! writes a character as its code point in lower-case hexadecimal.

use std::borrow::Cow;
use std::fmt::Write as _;

/// How a name that is not a legacy Prometheus name is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(not(feature = "server"), allow(dead_code))] // only the endpoint negotiates
pub(crate) enum Escaping {
    /// Written as it is, quoted where the format needs it (`{"http.requests"}`).
    AllowUtf8,
    /// Every character a legacy name cannot hold becomes `_`.
    Underscores,
    /// `.` becomes `_dot_`, `_` becomes `__`, any other character a legacy name cannot
    /// hold `__`.
    Dots,
    /// `U__`, then the name with `_` doubled and any other character a legacy name cannot
    /// hold as `_<hex code point>_`: the one scheme that can be undone.
    Values,
}

impl Escaping {
    /// What Prometheus assumes when a scraper names none.
    pub(crate) const DEFAULT: Escaping = Escaping::Underscores;

    /// The scheme an `escaping=` parameter names, if it is one of the four.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn from_param(value: &str) -> Option<Escaping> {
        match value {
            "allow-utf-8" => Some(Escaping::AllowUtf8),
            "underscores" => Some(Escaping::Underscores),
            "dots" => Some(Escaping::Dots),
            "values" => Some(Escaping::Values),
            _ => None,
        }
    }

    /// The `escaping=` parameter value.
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Escaping::AllowUtf8 => "allow-utf-8",
            Escaping::Underscores => "underscores",
            Escaping::Dots => "dots",
            Escaping::Values => "values",
        }
    }

    /// `name` as this scheme writes it; borrowed when it is unchanged.
    pub(crate) fn escape(self, name: &str) -> Cow<'_, str> {
        if name.is_empty() {
            return Cow::Borrowed(name);
        }
        match self {
            Escaping::AllowUtf8 => Cow::Borrowed(name),
            Escaping::Underscores if is_legacy(name) => Cow::Borrowed(name),
            Escaping::Underscores => Cow::Owned(
                name.char_indices()
                    .map(|(i, c)| if legacy_char(c, i) { c } else { '_' })
                    .collect(),
            ),
            Escaping::Dots => {
                let mut out = String::with_capacity(name.len() + 8);
                for (i, c) in name.char_indices() {
                    match c {
                        '_' => out.push_str("__"),
                        '.' => out.push_str("_dot_"),
                        c if legacy_char(c, i) => out.push(c),
                        _ => out.push_str("__"),
                    }
                }
                Cow::Owned(out)
            }
            Escaping::Values if is_legacy(name) => Cow::Borrowed(name),
            Escaping::Values => {
                let mut out = String::with_capacity(name.len() + 16);
                out.push_str("U__");
                for (i, c) in name.char_indices() {
                    match c {
                        '_' => out.push_str("__"),
                        c if legacy_char(c, i) => out.push(c),
                        c => {
                            // Writing into a String cannot fail.
                            let _ = write!(out, "_{:x}_", u32::from(c));
                        }
                    }
                }
                Cow::Owned(out)
            }
        }
    }
}

/// Whether `name` is a legacy Prometheus metric name.
pub(crate) fn is_legacy(name: &str) -> bool {
    !name.is_empty() && name.char_indices().all(|(i, c)| legacy_char(c, i))
}

/// Whether a legacy name may hold `c` at byte offset `at` (a digit only after the first).
fn legacy_char(c: char, at: usize) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (c.is_ascii_digit() && at > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names_stay_as_they_are_but_under_dots() {
        for scheme in [Escaping::AllowUtf8, Escaping::Underscores, Escaping::Values] {
            assert!(matches!(
                scheme.escape("keychain_operations_total"),
                Cow::Borrowed("keychain_operations_total")
            ));
        }
        assert_eq!(Escaping::Dots.escape("a_b:c"), "a__b:c");
        assert_eq!(Escaping::Underscores.escape(""), "");
    }

    #[test]
    fn each_scheme_writes_what_prometheus_writes() {
        // prometheus/common's cases for EscapeName (model/metric_test.go), by scheme.
        let cases = [
            (
                "no:escaping_required",
                "no:escaping_required",
                "no:escaping__required",
                "no:escaping_required",
            ),
            (
                "mysystem.prod.west.cpu.load",
                "mysystem_prod_west_cpu_load",
                "mysystem_dot_prod_dot_west_dot_cpu_dot_load",
                "U__mysystem_2e_prod_2e_west_2e_cpu_2e_load",
            ),
            (
                "mysystem.prod.west.cpu.load_total",
                "mysystem_prod_west_cpu_load_total",
                "mysystem_dot_prod_dot_west_dot_cpu_dot_load__total",
                "U__mysystem_2e_prod_2e_west_2e_cpu_2e_load__total",
            ),
            (
                "http.status:sum",
                "http_status:sum",
                "http_dot_status:sum",
                "U__http_2e_status:sum",
            ),
            (
                "label with 😱",
                "label_with__",
                "label__with____",
                "U__label_20_with_20__1f631_",
            ),
            ("花火", "__", "____", "U___82b1__706b_"),
            (
                "label with \u{100}",
                "label_with__",
                "label__with____",
                "U__label_20_with_20__100_",
            ),
            // Not among theirs: a leading digit.
            (
                "0starts_with_digit",
                "_starts_with_digit",
                "__starts__with__digit",
                "U___30_starts__with__digit",
            ),
        ];
        for (name, underscores, dots, values) in cases {
            assert_eq!(Escaping::Underscores.escape(name), underscores, "{name}");
            assert_eq!(Escaping::Dots.escape(name), dots, "{name}");
            assert_eq!(Escaping::Values.escape(name), values, "{name}");
            assert_eq!(Escaping::AllowUtf8.escape(name), name);
        }
    }

    #[test]
    fn parameters_round_trip() {
        for scheme in [
            Escaping::AllowUtf8,
            Escaping::Underscores,
            Escaping::Dots,
            Escaping::Values,
        ] {
            assert_eq!(Escaping::from_param(scheme.as_str()), Some(scheme));
        }
        assert_eq!(Escaping::from_param("UNDERSCORES"), None);
        assert_eq!(Escaping::from_param("legacy"), None);
    }

    #[test]
    fn legacy_means_prometheus_legacy() {
        assert!(is_legacy("a:b_c9"));
        assert!(is_legacy("_x"));
        assert!(!is_legacy("9x"));
        assert!(!is_legacy("a.b"));
        assert!(!is_legacy(""));
        assert!(!is_legacy("ünwrap"));
    }
}
