//! Whole numbers as JSON may write them. JSON Schema, and clients that keep
//! every number as a float, count `327.0` as the integer 327; serde's
//! integer types do not. Request bodies are read through here first, so a
//! number the document calls an integer is taken as one, while `327.5`
//! stays a number the typed fields refuse.

use serde_json::{Number, Value};

/// Exactly representable as a float: below 2^53.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// `value` as a whole number of 0 or more, if it is one.
pub fn whole_number(value: &Value) -> Option<u64> {
    if let Some(n) = value.as_u64() {
        return Some(n);
    }
    let f = value.as_f64()?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (f.fract() == 0.0 && (0.0..EXACT).contains(&f)).then_some(f as u64)
}

/// Rewrites every whole float in `value` (`243.0`, `-2.0`) as an integer.
pub fn normalize(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            #[allow(clippy::cast_possible_truncation)]
            if f.fract() == 0.0 && f.abs() < EXACT {
                *n = Number::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        Value::Object(fields) => fields.values_mut().for_each(normalize),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_floats_become_integers_and_fractions_stay() {
        let mut body = json!({"max_body_bytes": 243.0, "nested": [1.0, -2.0, 2.5], "text": "3.0"});
        normalize(&mut body);
        assert_eq!(
            body,
            json!({"max_body_bytes": 243, "nested": [1, -2, 2.5], "text": "3.0"})
        );
        assert_eq!(whole_number(&json!(72192.0)), Some(72192));
        assert_eq!(whole_number(&json!(7)), Some(7));
        assert_eq!(whole_number(&json!(2.5)), None);
        assert_eq!(whole_number(&json!(-1.0)), None);
        assert_eq!(whole_number(&json!(1e300)), None);
    }
}
