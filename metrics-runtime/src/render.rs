//! Text rendering shared by the contract (bucket bounds), the store (label lists,
//! rendered once per series) and the exposition: escaping and numbers. A leaf module.

/// Appends `value` escaped for a label value: `\` `"` and newline get a backslash.
pub(crate) fn push_label_value(out: &mut String, value: &str) {
    let mut rest = value;
    while let Some(i) = rest.find(['\\', '"', '\n']) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            _ => "\\n",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// Appends a HELP text escaped: backslash and newline always; the double quote too
/// when `quotes` (OpenMetrics, whose grammar treats HELP like a label value).
pub(crate) fn push_help(out: &mut String, help: &str, quotes: bool) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Renders label pairs, in the order given, as an escaped list `a="x",b="y"` (no braces).
pub(crate) fn label_list(pairs: &[(&str, &str)]) -> Box<str> {
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        push_label_value(&mut out, value);
        out.push('"');
    }
    out.into_boxed_str()
}

/// Appends an unsigned integer sample value.
#[inline]
pub(crate) fn push_u64(out: &mut String, v: u64) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// Appends a signed integer sample value.
#[inline]
pub(crate) fn push_i64(out: &mut String, v: i64) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// Appends a float the way Prometheus parsers read it: `NaN`, `+Inf`, `-Inf`, integral
/// values without a fraction (`1`) or, when `canonical` (OpenMetrics), with one (`1.0`),
/// and the shortest round-tripping digits otherwise.
pub(crate) fn push_f64(out: &mut String, v: f64, canonical: bool) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        // Exact: |v| < 2^53, so the cast loses nothing.
        push_i64(out, v as i64);
        if canonical {
            out.push_str(".0");
        }
    } else {
        out.push_str(ryu::Buffer::new().format_finite(v));
    }
}

/// Appends nanoseconds as seconds, exact to the nanosecond: `1.5`, `0.005`, `3`.
pub(crate) fn push_nanos_as_seconds(out: &mut String, nanos: u64, canonical: bool) {
    let (secs, frac) = (nanos / 1_000_000_000, nanos % 1_000_000_000);
    push_u64(out, secs);
    if frac == 0 {
        if canonical {
            out.push_str(".0");
        }
        return;
    }
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(frac);
    out.push('.');
    for _ in digits.len()..9 {
        out.push('0');
    }
    out.push_str(digits.trim_end_matches('0'));
}

/// Appends a signed count of billionths as a decimal, exact: a histogram's sum.
pub(crate) fn push_signed_nanos(out: &mut String, nanos: i128, canonical: bool) {
    if nanos < 0 {
        out.push('-');
    }
    match u64::try_from(nanos.unsigned_abs()) {
        Ok(n) => push_nanos_as_seconds(out, n, canonical),
        // Past 18 billion units: a float's 17 digits say it.
        Err(_) => push_f64(out, nanos.unsigned_abs() as f64 / 1e9, canonical),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64, canonical: bool) -> String {
        let mut s = String::new();
        push_f64(&mut s, v, canonical);
        s
    }

    fn secs(nanos: u64, canonical: bool) -> String {
        let mut s = String::new();
        push_nanos_as_seconds(&mut s, nanos, canonical);
        s
    }

    #[test]
    fn floats() {
        assert_eq!(f(1.0, false), "1");
        assert_eq!(f(1.0, true), "1.0");
        assert_eq!(f(0.005, false), "0.005");
        assert_eq!(f(2.5, true), "2.5");
        assert_eq!(f(-3.0, false), "-3");
        assert_eq!(f(f64::NAN, false), "NaN");
        assert_eq!(f(f64::INFINITY, false), "+Inf");
        assert_eq!(f(f64::NEG_INFINITY, true), "-Inf");
        assert_eq!(f(1e20, false), "1e20");
        assert_eq!(f(1e-7, false), "1e-7");
    }

    #[test]
    fn nanoseconds_as_exact_seconds() {
        assert_eq!(secs(0, false), "0");
        assert_eq!(secs(0, true), "0.0");
        assert_eq!(secs(5_000_000, false), "0.005");
        assert_eq!(secs(1, false), "0.000000001");
        assert_eq!(secs(3_000_000_000, false), "3");
        assert_eq!(secs(3_000_000_000, true), "3.0");
        assert_eq!(secs(12_345_678_900, false), "12.3456789");
        assert_eq!(secs(u64::MAX, false), "18446744073.709551615");
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        push_label_value(&mut s, "a\"b\\c\nd");
        assert_eq!(s, r#"a\"b\\c\nd"#);
        let mut h = String::new();
        push_help(&mut h, "x\"y\\z\n", false);
        assert_eq!(h, "x\"y\\\\z\\n");
        let mut h = String::new();
        push_help(&mut h, "x\"y", true);
        assert_eq!(h, "x\\\"y");
    }
}
