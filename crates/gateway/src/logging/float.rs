//! Floats in log lines: ryu's shortest digits, written without an exponent down to
//! [`MIN_POSITIONAL`] (`0.0000007`, not `7e-7`), with integer arithmetic for a whole number
//! of thousandths (every `latency_ms`).

use std::fmt::Write as _;

/// Below this magnitude a float keeps ryu's exponent form (`1e-21`): written out, it would be
/// mostly zeros. Above it, a small float is written positionally, as a reader of a cost
/// expects (`0.0000007`, a valid JSON number too).
pub(super) const MIN_POSITIONAL: f64 = 1e-20;

/// A float in `ryu`'s shortest form (`1.5`, `123.0`, `1e16`), a small one written without
/// its exponent (`0.0000001`, not ryu's `1e-7`) down to [`MIN_POSITIONAL`]; `NaN`, `inf`
/// and `-inf` as Rust writes them (the JSON format quotes those). A whole number of
/// thousandths (every `latency_ms`, most costs of zero) is written with integer arithmetic,
/// the same text (`float_agrees_with_ryu`) for a tenth of ryu's work.
pub(super) fn float(buf: &mut String, value: f64) {
    if let Some(m) = thousandths(value) {
        buf.push_str(itoa::Buffer::new().format(m / 1000));
        buf.push('.');
        let frac = m % 1000;
        // The fraction's three digits, trailing zeros dropped (one `0` for none).
        let len = match frac {
            f if f % 100 == 0 => 1,
            f if f % 10 == 0 => 2,
            _ => 3,
        };
        let digits = [frac / 100, frac / 10 % 10, frac % 10];
        for &d in &digits[..len] {
            buf.push(char::from(b'0' + d as u8));
        }
    } else if value.is_finite() {
        let mut ryu = ryu::Buffer::new();
        let text = ryu.format_finite(value);
        match text.split_once("e-") {
            Some((digits, exp)) if value.abs() >= MIN_POSITIONAL => {
                positional(buf, digits, exp);
            }
            _ => buf.push_str(text),
        }
    } else {
        let _ = write!(buf, "{value}");
    }
}

/// Writes ryu's `{digits}e-{exp}` (`-7.5e-7`) without the exponent (`-0.00000075`), in
/// place: a sign, `0.`, `exp - 1` zeros, the digits without their point.
fn positional(buf: &mut String, digits: &str, exp: &str) {
    let (sign, digits) = match digits.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", digits),
    };
    // ryu writes at most three exponent digits; `MIN_POSITIONAL` bounds it to 20.
    let zeros = exp.parse::<usize>().unwrap_or(1).saturating_sub(1);
    buf.push_str(sign);
    buf.push_str("0.");
    for _ in 0..zeros {
        buf.push('0');
    }
    for part in digits.split('.') {
        buf.push_str(part);
    }
}

/// `value` as a whole number `m` of thousandths, when it is the double nearest `m / 1000`,
/// not negative (nor `-0.0`) and below 1e9. There, ryu's shortest form is `m / 1000` in
/// decimals: doubles lie less than 1e-7 apart, so no shorter text reads back as `value`.
fn thousandths(value: f64) -> Option<u64> {
    if !(value.is_sign_positive() && value < 1e9) {
        return None;
    }
    // Rounded half up (not `round`, a libm call): any `m` that passes the check below is
    // right, and the nearest whole number is the only one that can.
    let m = (value * 1e3 + 0.5) as u64;
    // Below 1e12: `m` is exact as a u64 and as a double.
    (m as f64 / 1e3 == value).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::{MIN_POSITIONAL, float, thousandths};

    /// The integer path of `float` writes what ryu writes: every thousandth up to 100, a
    /// spread of larger ones up to the 1e9 bound, and values it must leave to ryu. What ryu
    /// writes with a negative exponent, `float` writes as Rust's `Display` does (the same
    /// shortest digits, positional) down to `MIN_POSITIONAL`.
    #[test]
    fn float_agrees_with_ryu() {
        let ryu = |x: f64| {
            if !x.is_finite() {
                return format!("{x}");
            }
            let text = ryu::Buffer::new().format_finite(x).to_owned();
            if text.contains("e-") && x.abs() >= MIN_POSITIONAL {
                format!("{x}")
            } else {
                text
            }
        };
        let mut values: Vec<f64> = (0..100_000u64).map(|m| m as f64 / 1e3).collect();
        // A fixed-seed LCG: thousandths up to 1e12, and arbitrary floats.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..100_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            values.push((x >> 24) as f64 / 1e3);
            values.push(f64::from_bits(x >> 2));
        }
        values.extend([
            999_999_999.999,
            1e9,
            1e9 - 0.001,
            -0.0,
            -1.5,
            1e-7,
            -7.5e-7,
            7.000_000_000_000_001e-7,
            1.234_567_890_1e-10,
            MIN_POSITIONAL,
            MIN_POSITIONAL * 0.999,
            1e-300,
            1e16,
            1.2345e20,
            0.1 + 0.2,
            0.0005,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            27.508,
            3_600_000.0,
        ]);
        for v in values {
            let mut buf = String::new();
            float(&mut buf, v);
            assert_eq!(buf, ryu(v), "{v:?}");
            if v.is_finite() {
                assert_eq!(buf.parse::<f64>().ok(), Some(v), "{buf} reads back");
            }
        }
        let written = |v: f64| {
            let mut buf = String::new();
            float(&mut buf, v);
            buf
        };
        assert_eq!(written(7e-7), "0.0000007");
        assert_eq!(written(-7.5e-7), "-0.00000075");
        assert_eq!(written(1e-20), "0.00000000000000000001");
        assert_eq!(written(1e-21), "1e-21");
        assert_eq!(thousandths(27.508), Some(27_508));
        assert_eq!(thousandths(-0.0), None);
        assert_eq!(thousandths(1e9), None);
    }
}
