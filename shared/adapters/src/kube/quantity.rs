//! Kubernetes resource quantities (`1950m`, `1.5`, `2032Mi`, `1e3`) read as millicores and bytes.
//! Pure: no kube types, only strings.

/// A quantity string that is not a valid, non-negative Kubernetes quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid resource quantity {0:?}")]
pub struct QuantityError(pub String);

/// A quantity as `mantissa × 10^exp10 × 2^exp2`, exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Exact {
    mantissa: u128,
    exp10: i32,
    exp2: u32,
}

/// CPU in millicores, rounded up as Kubernetes' `MilliValue` does (`"2"` → 2000, `"1950m"` → 1950,
/// `"0.1"` → 100, `"1u"` → 1).
pub fn cpu_millis(quantity: &str) -> Result<u64, QuantityError> {
    let mut exact = parse(quantity)?;
    exact.exp10 += 3;
    Ok(ceil(exact))
}

/// Memory in bytes, rounded up as Kubernetes' `Value` does (`"2032Mi"`, `"4Gi"`, `"1000000k"`).
pub fn bytes(quantity: &str) -> Result<u64, QuantityError> {
    Ok(ceil(parse(quantity)?))
}

fn parse(quantity: &str) -> Result<Exact, QuantityError> {
    let invalid = || QuantityError(quantity.to_owned());
    let s = quantity.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    let number_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_end);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(invalid());
    }
    let digits = format!("{int}{frac}");
    // u128 holds 38 decimal digits; the API server never emits longer quantities.
    let digits = digits.trim_start_matches('0');
    if digits.len() > 38 {
        return Err(invalid());
    }
    let mantissa = if digits.is_empty() { 0 } else { digits.parse::<u128>().map_err(|_| invalid())? };
    let frac_len = i32::try_from(frac.len()).map_err(|_| invalid())?;
    let (exp10, exp2) = suffix_exponents(suffix).ok_or_else(invalid)?;
    Ok(Exact { mantissa, exp10: exp10 - frac_len, exp2 })
}

/// The powers of ten and two a suffix stands for; `None` for an unknown suffix.
fn suffix_exponents(suffix: &str) -> Option<(i32, u32)> {
    let binary = |p: u32| Some((0, p));
    let decimal = |p: i32| Some((p, 0));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            // Decimal exponent form: `1e3`, `1E-3`.
            let exp = suffix.strip_prefix(['e', 'E'])?;
            let valid = !exp.is_empty() && exp.trim_start_matches(['+', '-']).bytes().all(|b| b.is_ascii_digit());
            if valid { exp.parse::<i32>().ok().filter(|e| e.abs() <= 40).map(|e| (e, 0)) } else { None }
        }
    }
}

/// `mantissa × 10^exp10 × 2^exp2` rounded up to an integer, saturating at `u64::MAX`.
fn ceil(q: Exact) -> u64 {
    let mut value = q.mantissa.saturating_mul(1u128.checked_shl(q.exp2).unwrap_or(u128::MAX));
    if q.exp10 >= 0 {
        for _ in 0..q.exp10 {
            value = value.saturating_mul(10);
        }
    } else {
        let divisor = (0..q.exp10.unsigned_abs()).try_fold(1u128, |d, _| d.checked_mul(10));
        value = match divisor {
            Some(d) => value.div_ceil(d),
            // More than 38 fractional digits: any non-zero value rounds up to 1.
            None => u128::from(value > 0),
        };
    }
    u64::try_from(value).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities_become_millicores() {
        for (q, want) in [
            ("1950m", 1950),
            ("2", 2000),
            ("1.5", 1500),
            ("0.1", 100),
            ("100m", 100),
            ("250000u", 250),
            ("1u", 1),
            ("1n", 1),
            ("0", 0),
            ("1e3", 1_000_000),
            ("+3", 3000),
        ] {
            assert_eq!(cpu_millis(q), Ok(want), "{q}");
        }
    }

    #[test]
    fn memory_quantities_become_bytes() {
        for (q, want) in [
            ("2032Mi", 2032 * 1024 * 1024),
            ("4Gi", 4 * 1024 * 1024 * 1024),
            ("1000000k", 1_000_000_000),
            ("123456", 123_456),
            ("1.5Gi", 1536 * 1024 * 1024),
            ("128974848", 128_974_848),
            ("129e6", 129_000_000),
            ("123Mi", 123 * 1024 * 1024),
            ("1M", 1_000_000),
            ("500m", 1),
        ] {
            assert_eq!(bytes(q), Ok(want), "{q}");
        }
    }

    #[test]
    fn malformed_or_negative_quantities_are_refused() {
        for q in ["", "abc", "-1", "1Xi", "1.2.3", "Mi", "1e", "1e+", "."] {
            assert!(bytes(q).is_err(), "{q:?} accepted");
        }
    }

    #[test]
    fn huge_quantities_saturate_instead_of_wrapping() {
        assert_eq!(bytes("16Ei"), Ok(u64::MAX));
        assert_eq!(cpu_millis("99999999999999999999"), Ok(u64::MAX));
    }
}
