//! The canonical byte form of the configuration: RFC 8785 (JCS) JSON, written straight from the
//! model types.
//!
//! JCS needs three things: no insignificant whitespace (serde_json's compact writer), members in
//! code-point order (the model declares fields in that order, see the module docs of
//! [`crate::model`]), and numbers in ECMAScript's shortest round-trip form, which differs from
//! Rust's for floats (`5.0` is `5`, `1e21` is `1e+21`). [`JcsFormatter`] supplies the last one
//! through `ryu-js`, so the canonical form costs one streaming pass and no intermediate tree.
//! Tests compare the output with the independent `serde_json_canonicalizer` crate.

use std::io::{self, Write};

use serde::Serialize;

/// A serde_json formatter that writes numbers the way RFC 8785 (ECMAScript) does.
#[derive(Debug, Clone, Copy, Default)]
pub struct JcsFormatter;

impl serde_json::ser::Formatter for JcsFormatter {
    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        let mut buf = ryu_js::Buffer::new();
        writer.write_all(buf.format(value).as_bytes())
    }

    fn write_f32<W: ?Sized + Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(writer, f64::from(value))
    }
}

/// Writes `value` as canonical JSON.
///
/// Only valid for types whose fields are declared in serialized-name order and which contain no
/// maps with unsorted keys: the model types, by the convention of [`crate::model`].
///
/// # Errors
///
/// Fails when the writer fails. A float that is not finite is written as `null` by serde_json;
/// the archive writer refuses such values before they get here.
pub fn write_canonical<W: Write, T: Serialize + ?Sized>(writer: W, value: &T) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(writer, JcsFormatter);
    value.serialize(&mut ser).map_err(io::Error::other)
}

/// The canonical JSON bytes of `value` (see [`write_canonical`]).
pub fn to_canonical_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and the model types have no other error path.
    write_canonical(&mut out, value).unwrap_or_default();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_the_ecmascript_way() {
        let cases: [(f64, &str); 6] =
            [(5.0, "5"), (0.5, "0.5"), (1e21, "1e+21"), (1e-7, "1e-7"), (-0.0, "0"), (123.456, "123.456")];
        for (value, expected) in cases {
            assert_eq!(String::from_utf8(to_canonical_vec(&value)).unwrap(), expected, "{value}");
        }
    }
}
