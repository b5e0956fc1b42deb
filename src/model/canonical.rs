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

/// The canonical bytes of `config`'s `data` around its PIs, for the streaming writer and reader,
/// which never hold all PIs at once: `head` is `{"admins":...,"periods":[...],"pis":[` (admins
/// only when `with_admins` and present), `tail` is `],"programs":[...],"settings":{...},
/// "teams":[...]}`. `head`, the canonical PIs separated by commas, and `tail` together are exactly
/// [`write_canonical`] of the configuration (members in field order, see [`crate::model`]).
pub fn data_around_pis(config: &crate::model::Configuration, with_admins: bool) -> (Vec<u8>, Vec<u8>) {
    let mut head = Vec::new();
    match config.admins.as_ref().filter(|_| with_admins) {
        Some(admins) => {
            head.extend_from_slice(br#"{"admins":"#);
            head.extend(to_canonical_vec(admins));
            head.extend_from_slice(br#","periods":"#);
        }
        None => head.extend_from_slice(br#"{"periods":"#),
    }
    head.extend(to_canonical_vec(&config.periods));
    head.extend_from_slice(br#","pis":["#);
    let mut tail = br#"],"programs":"#.to_vec();
    tail.extend(to_canonical_vec(&config.programs));
    tail.extend_from_slice(br#","settings":"#);
    tail.extend(to_canonical_vec(&config.settings));
    tail.extend_from_slice(br#","teams":"#);
    tail.extend(to_canonical_vec(&config.teams));
    tail.push(b'}');
    (head, tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_around_the_pis_frames_them_into_the_whole_configuration() {
        let (mut config, _) = crate::sample::generate(crate::sample::SampleSize::Demo);
        config.sort();
        let (head, tail) = data_around_pis(&config, true);
        let pis: Vec<Vec<u8>> = config.pis.iter().map(to_canonical_vec).collect();
        let whole = [head, pis.join(&b","[..]), tail].concat();
        assert_eq!(whole, to_canonical_vec(&config));
        let (head, _) = data_around_pis(&config, false);
        assert!(head.starts_with(br#"{"periods":"#));
    }

    #[test]
    fn floats_are_written_the_ecmascript_way() {
        let cases: [(f64, &str); 6] =
            [(5.0, "5"), (0.5, "0.5"), (1e21, "1e+21"), (1e-7, "1e-7"), (-0.0, "0"), (123.456, "123.456")];
        for (value, expected) in cases {
            assert_eq!(String::from_utf8(to_canonical_vec(&value)).unwrap(), expected, "{value}");
        }
    }
}
