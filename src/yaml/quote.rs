//! Type-preserving values: which plain scalars YAML readers take for something other than
//! a string, and how a new value is written so that it stays a string.
//!
//! An image tag is a string, but a plain `1234567`, `427e111` (a 7-hex-digit commit SHA)
//! or `yes` reads as a number or a bool, and Helm then renders `4.27e+113` into the
//! manifest. The readers that matter disagree: Helm and kustomize resolve like YAML 1.1
//! (go-yaml: `yes/no/on/off/y/n`, sexagesimal `1:20`, `0b1`, `1_000`), PyYAML is 1.1,
//! ruamel.yaml and most newer parsers use the 1.2 core schema (`1e5`, `0o17`). So the
//! rule here is the union of all of them: quoting a value one reader would have read as a
//! string costs nothing, leaving one plain that another reads as a number breaks a deploy.

use super::{encode_for_style, Style};

/// Whether a plain scalar reads as a string under YAML 1.1 and the 1.2 core schema alike
/// (not null, bool, int, float, timestamp, nor 1.1's merge `<<` and value `=` keys).
pub fn plain_is_string(v: &str) -> bool {
    !(is_null(v)
        || is_bool(v)
        || is_int(v)
        || is_float(v)
        || is_timestamp(v)
        || matches!(v, "<<" | "="))
}

/// How to write `value` into a scalar of `style`: the text for the value's bytes and, for
/// a plain scalar that must be quoted to stay a string, the quote style added (the text
/// then carries its quotes). `None` when it cannot be written safely at all.
pub fn encode(value: &str, style: Style) -> Option<(String, Option<Style>)> {
    if style != Style::Plain {
        return encode_for_style(value, style).map(|t| (t, None));
    }
    if plain_is_string(value) {
        if let Some(t) = encode_for_style(value, Style::Plain) {
            return Some((t, None));
        }
    }
    quoted(value, Style::Double)
        .or_else(|| quoted(value, Style::Single))
        .map(|(t, s)| (t, Some(s)))
}

/// `value` in quotes of `style` (single or double), when it needs no escape there.
pub fn quoted(value: &str, style: Style) -> Option<(String, Style)> {
    let q = match style {
        Style::Single => '\'',
        Style::Double => '"',
        _ => return None,
    };
    encode_for_style(value, style).map(|t| (format!("{q}{t}{q}"), style))
}

fn is_null(v: &str) -> bool {
    matches!(v, "" | "~" | "null" | "Null" | "NULL")
}

fn is_bool(v: &str) -> bool {
    // YAML 1.1 lists exactly these spellings (go-yaml v2 reads them too); 1.2 keeps true/false.
    matches!(
        v,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

fn unsigned(v: &str) -> &str {
    v.strip_prefix(['+', '-']).unwrap_or(v)
}

/// Digits of `radix` and underscores, at least one of either (1.1 allows `0x_1`).
fn radix_digits(d: &str, radix: u32) -> bool {
    !d.is_empty() && d.chars().all(|c| c == '_' || c.is_digit(radix))
}

fn is_int(v: &str) -> bool {
    let u = unsigned(v);
    let lower = u.to_ascii_lowercase();
    if let Some(d) = lower.strip_prefix("0x") {
        return radix_digits(d, 16);
    }
    if let Some(d) = lower.strip_prefix("0o") {
        return radix_digits(d, 8);
    }
    if let Some(d) = lower.strip_prefix("0b") {
        return radix_digits(d, 2);
    }
    // Decimal (and 1.1's `0`-led octal, a subset): digits and `_` with at least one digit
    // (ruamel.yaml reads `-_1` as -1).
    (u.bytes().any(|b| b.is_ascii_digit()) && radix_digits(u, 10)) || sexagesimal(u, false)
}

/// 1.1's base 60: `1:20`, `190:20:30` (and `1:20.5` as a float).
fn sexagesimal(u: &str, float: bool) -> bool {
    let (head, last) = match u.rsplit_once(':') {
        Some(x) => x,
        None => return false,
    };
    let (last, fraction) = match last.split_once('.') {
        Some((l, f)) if float => (l, Some(f)),
        _ => (last, None),
    };
    if float && fraction.is_none() {
        return false;
    }
    let mut parts = head.split(':');
    let first = parts.next().unwrap_or("");
    // `[0-5]?[0-9]`
    let sixty = |p: &str| match p.as_bytes() {
        [d] => d.is_ascii_digit(),
        [t, d] => (b'0'..=b'5').contains(t) && d.is_ascii_digit(),
        _ => false,
    };
    first.starts_with(|c: char| c.is_ascii_digit())
        && radix_digits(first, 10)
        && parts.all(sixty)
        && sixty(last)
        && fraction.is_none_or(|f| radix_digits(f, 10) || f.is_empty())
}

fn is_float(v: &str) -> bool {
    let u = unsigned(v);
    if matches!(u, ".inf" | ".Inf" | ".INF") || matches!(v, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    if sexagesimal(u, true) {
        return true;
    }
    // Mantissa `1`, `1.`, `1.5`, `.5` (digits may carry `_`), then an optional exponent
    // with or without a sign: the union of 1.1's and 1.2's float grammars.
    let (mantissa, exponent) = match u.find(['e', 'E']) {
        Some(i) => (&u[..i], Some(&u[i + 1..])),
        None => (u, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let int_ok = int.is_empty() || (int.starts_with(|c: char| c.is_ascii_digit()) && digits(int));
    let frac_ok = frac.is_none_or(digits);
    // 1.1 reads `._` as a float (that then fails to construct): quote it too.
    let has_digit =
        mantissa.bytes().any(|b| b.is_ascii_digit()) || frac.is_some_and(|f| !f.is_empty());
    let exp_ok = exponent.is_none_or(|e| {
        let e = unsigned(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    // A bare integer is an int, not a float; `1e5` is a float (1.2), `1.` a float (1.1).
    let float_form = frac.is_some() || exponent.is_some();
    int_ok && frac_ok && has_digit && exp_ok && float_form && !(int.is_empty() && frac.is_none())
}

/// 1.1's timestamps: `2001-12-14`, `2001-12-14t21:59:43.10-05:00`, `2001-12-14 21:59:43.10 -5`.
fn is_timestamp(v: &str) -> bool {
    let b = v.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    if b.len() < 8 || !(0..4).all(digit) || b[4] != b'-' {
        return false;
    }
    // Month and day: one or two digits each (exactly two for a date alone).
    let mut i = 5;
    let field = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < 2 {
            *i += 1;
        }
        *i - start
    };
    let month = field(&mut i);
    if month == 0 || b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    let day = field(&mut i);
    if day == 0 {
        return false;
    }
    if i == b.len() {
        return month == 2 && day == 2;
    }
    // A time part follows `t`, `T` or blanks; anything after the date makes it a
    // timestamp candidate for some reader, so be generous: the time must start with a digit.
    let rest = &v[i..];
    let rest = rest
        .strip_prefix(['t', 'T'])
        .unwrap_or_else(|| rest.trim_start_matches([' ', '\t']));
    rest.len() != v.len() - i
        && rest.starts_with(|c: char| c.is_ascii_digit())
        && rest.contains(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_that_stay_strings() {
        for s in [
            "v2",
            "2.0.0",
            "1.2.3-rc1",
            "abc123",
            "c2dd9cd",
            "sha256:ab",
            "latest",
            "e5",
            "1e",
            "1.2e",
            "0x",
            "0xg",
            "1:60",
            "yesno",
            "2001-12",
            "2001-1-1",
            ".",
            "-",
            "+",
            "1-2",
            "1__a",
            "0b2",
            "0o8",
            ".e5",
            "inf",
            "nan",
            "NaN",
        ] {
            assert!(plain_is_string(s), "{s}");
        }
        for s in [
            "2",
            "0000001",
            "1234567",
            "1.30",
            "1e3",
            "427e111",
            "1E+5",
            "1e-5",
            "0x1F",
            "0x1f",
            "0o17",
            "017",
            "0b101",
            "1_000",
            "_1",
            "-_1",
            "._",
            "+1",
            "-1",
            "1:20",
            "190:20:30",
            "1:20.5",
            "1.",
            ".5",
            "yes",
            "Yes",
            "YES",
            "Off",
            "on",
            "y",
            "N",
            "null",
            "Null",
            "~",
            "",
            ".inf",
            "-.inf",
            "+.INF",
            ".nan",
            ".NaN",
            "2001-12-14",
            "<<",
            "=",
            "2001-12-14t21:59:43.10-05:00",
            "2001-12-14 21:59:43.10 -5",
            "2001-12-14T21:59:43Z",
            "2002-1-2 1:2:3",
        ] {
            assert!(!plain_is_string(s), "{s}");
        }
    }

    #[test]
    fn values_that_would_change_type_are_quoted() {
        let enc = encode;
        assert_eq!(enc("v2", Style::Plain), Some(("v2".into(), None)));
        assert_eq!(
            enc("427e111", Style::Plain),
            Some(("\"427e111\"".into(), Some(Style::Double)))
        );
        // Already quoted: the value goes between the quotes as before.
        assert_eq!(
            enc("427e111", Style::Single),
            Some(("427e111".into(), None))
        );
        // Plain-unsafe text is quoted too rather than refused.
        assert_eq!(
            enc("a: b", Style::Plain),
            Some(("\"a: b\"".into(), Some(Style::Double)))
        );
        assert_eq!(
            enc("say \"hi\": x", Style::Plain),
            Some(("'say \"hi\": x'".into(), Some(Style::Single)))
        );
        assert_eq!(enc("a\nb", Style::Plain), None);
    }
}
