//! The canonical byte form of the configuration: RFC 8785 (JCS) JSON, written straight from the
//! model types.
//!
//! JCS needs three things: no insignificant whitespace (serde_json's compact writer), members in
//! code-point order (the model declares fields in that order, see the module docs of
//! [`crate::model`]), and numbers in ECMAScript's shortest round-trip form, which differs from
//! Rust's for floats (`5.0` is `5`, `1e21` is `1e+21`). [`JcsFormatter`] supplies the last one
//! through `ryu-js`, so the canonical form costs one streaming pass and no intermediate tree.
//! Tests compare the output with the independent `serde_json_canonicalizer` crate.

use std::cell::Cell;
use std::io::{self, Write};
use std::rc::Rc;

use serde::Serialize;

/// 2^53: below it every integer is exactly a float, and ECMAScript prints it without exponent.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_992.0;

/// A serde_json formatter that writes numbers the way RFC 8785 (ECMAScript) does.
#[derive(Debug, Clone, Copy, Default)]
pub struct JcsFormatter;

/// Hands `f` the ECMAScript form of a finite `value`.
fn ecmascript_number<R>(value: f64, f: impl FnOnce(&[u8]) -> R) -> R {
    // ECMAScript writes an integral value below 2^53 as its decimal digits (and -0 as 0): the
    // integer formatter's output, at a fraction of the cost of the shortest-digits search (most
    // capacity values are whole numbers).
    if value.fract() == 0.0 && value.abs() < MAX_SAFE_INTEGER {
        // Exact: the value is integral and within i64.
        return f(itoa::Buffer::new().format(value as i64).as_bytes());
    }
    f(ryu_js::Buffer::new().format(value).as_bytes())
}

/// The length in bytes of the canonical (ECMAScript) form of a finite number: what a number adds
/// to the canonical form of an entity, measured against the entity limit (`archive/text.rs`).
pub(crate) fn canonical_number_len(value: f64) -> usize {
    ecmascript_number(value, <[u8]>::len)
}

impl serde_json::ser::Formatter for JcsFormatter {
    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        ecmascript_number(value, |number| writer.write_all(number))
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

/// What the reader's limits (SPEC.md section 7) look at in one entity, measured as it is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measure {
    /// Length of the entity's canonical form in bytes.
    pub size: u64,
    /// Length of its longest string token as written, between the quotes, in bytes.
    pub longest_string: u64,
}

/// [`write_canonical`], measuring what it writes (see [`Measure`]) at the cost of a counter.
///
/// # Errors
///
/// Fails when the writer fails.
pub fn write_canonical_measured<W: Write, T: Serialize + ?Sized>(writer: W, value: &T) -> io::Result<Measure> {
    let tally = Rc::new(Tally::default());
    let counted = Counted { inner: writer, tally: Rc::clone(&tally) };
    let formatter = Measuring { tally: Rc::clone(&tally), string_start: 0 };
    let mut ser = serde_json::Serializer::with_formatter(counted, formatter);
    value.serialize(&mut ser).map_err(io::Error::other)?;
    Ok(Measure { size: tally.written.get(), longest_string: tally.longest.get() })
}

/// What [`Counted`] and [`Measuring`] share (serde_json owns both while it writes).
#[derive(Default)]
struct Tally {
    written: Cell<u64>,
    longest: Cell<u64>,
}

/// Counts the bytes that reach the writer.
struct Counted<W> {
    inner: W,
    tally: Rc<Tally>,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(bytes)?;
        self.tally.written.set(self.tally.written.get() + n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// [`JcsFormatter`], noting the longest string token it writes from the count around it.
struct Measuring {
    tally: Rc<Tally>,
    string_start: u64,
}

impl serde_json::ser::Formatter for Measuring {
    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        JcsFormatter.write_f64(writer, value)
    }

    fn write_f32<W: ?Sized + Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        JcsFormatter.write_f32(writer, value)
    }

    fn begin_string<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b"\"")?;
        self.string_start = self.tally.written.get();
        Ok(())
    }

    fn end_string<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        let longest = self.tally.longest.get().max(self.tally.written.get() - self.string_start);
        self.tally.longest.set(longest);
        writer.write_all(b"\"")
    }
}

/// The canonical JSON bytes of `value` (see [`write_canonical`]).
pub fn to_canonical_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and the model types have no other error path.
    write_canonical(&mut out, value).unwrap_or_default();
    out
}

/// Whether `text` is, byte for byte, the canonical form of `value` ([`write_canonical`]).
///
/// Why: the streaming reader hashes the PIs as they are in the file, which gives the full
/// reader's digest only if they are in canonical form; a file whose digests were computed over
/// other bytes (spaces, `10.0`, members in another order, `\u004c`) must not be accepted there.
/// Writing the canonical form and comparing costs as much as parsing again, so this walks
/// `value` through its own `Serialize` impl, as [`write_canonical`] does, and compares each
/// piece with `text` where the writer would write it (`Comparer`). Text with a backslash,
/// whose strings hold escapes, is compared with the writer's output instead.
///
/// `value` must be what `text` parses into: the argument that a string compared without its
/// escaping is in canonical form rests on it (see `Comparer`).
pub fn is_canonical_form<T: Serialize + ?Sized>(value: &T, text: &[u8]) -> bool {
    if memchr::memchr(b'\\', text).is_some() {
        return to_canonical_vec(value) == text;
    }
    let mut comparer = Comparer { text, at: 0 };
    value.serialize(&mut comparer).is_ok() && comparer.at == text.len()
}

/// A serde serializer that writes nothing: it checks that `text`, from `at` on, holds what
/// serde_json's compact writer with [`JcsFormatter`] would write, and moves past it.
///
/// Member names, numbers and punctuation are compared; a string value is only stepped over, by
/// its length, to its closing quote. That is exact when `text` holds no backslash (checked by
/// [`is_canonical_form`]) and parses into the value being walked: at the first difference the
/// walk stops, so before a string value every byte is the writer's, the same member's string
/// token starts there, and the parser took that token for this very value. Without escapes the
/// token's bytes are the value's, and they hold no quote (it would have ended the token), no
/// backslash and no control character (raw ones are not JSON), none of which the writer
/// escapes: so the token is the writer's too. A value that is not a string but is written as
/// one must likewise be read only from the spelling it is written in: dates are, by
/// `model::strict_date`.
struct Comparer<'t> {
    text: &'t [u8],
    at: usize,
}

/// `text` differs from the canonical form (or the value has a shape the model never has).
#[derive(Debug)]
struct Differs;

impl std::fmt::Display for Differs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the text is not the canonical form")
    }
}

impl std::error::Error for Differs {}

impl serde::ser::Error for Differs {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Differs
    }
}

type Same = Result<(), Differs>;

/// `a == b` for slices of the same length, without a call to `memcmp` for the short ones that
/// make up most of a configuration (member names, keys, numbers): through two overlapping
/// loads of 8 (or 4) bytes.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word8 = |s: &[u8], at: usize| <[u8; 8]>::try_from(&s[at..at + 8]).map(u64::from_ne_bytes).ok();
    let word4 = |s: &[u8], at: usize| <[u8; 4]>::try_from(&s[at..at + 4]).map(u32::from_ne_bytes).ok();
    match n {
        0..4 => a.iter().zip(b).all(|(x, y)| x == y),
        4..8 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        8..=16 => word8(a, 0) == word8(b, 0) && word8(a, n - 8) == word8(b, n - 8),
        _ => a == b,
    }
}

impl Comparer<'_> {
    #[inline]
    fn bytes(&mut self, expected: &[u8]) -> Same {
        match self.text.get(self.at..self.at + expected.len()) {
            Some(found) if same(found, expected) => {
                self.at += expected.len();
                Ok(())
            }
            _ => Err(Differs),
        }
    }

    #[inline]
    fn byte(&mut self, expected: u8) -> Same {
        if self.text.get(self.at) == Some(&expected) {
            self.at += 1;
            Ok(())
        } else {
            Err(Differs)
        }
    }

    /// A member name or a variant, compared.
    fn string(&mut self, value: &str) -> Same {
        self.byte(b'"')?;
        self.bytes(value.as_bytes())?;
        self.byte(b'"')
    }

    /// A string value, stepped over (see the type's documentation).
    fn string_value(&mut self, value: &str) -> Same {
        self.byte(b'"')?;
        self.at += value.len();
        self.byte(b'"')
    }

    fn integer(&mut self, value: impl itoa::Integer) -> Same {
        self.bytes(itoa::Buffer::new().format(value).as_bytes())
    }
}

/// The members of an object or the elements of an array being compared.
struct Compound<'c, 't> {
    comparer: &'c mut Comparer<'t>,
    first: bool,
    /// What closes it: `}`, `]`, or `}}` for a struct variant.
    close: &'static [u8],
}

impl Compound<'_, '_> {
    fn separator(&mut self) -> Same {
        if std::mem::take(&mut self.first) { Ok(()) } else { self.comparer.byte(b',') }
    }

    fn member<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Same {
        self.separator()?;
        self.comparer.string(key)?;
        self.comparer.byte(b':')?;
        value.serialize(&mut *self.comparer)
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Same {
        self.separator()?;
        value.serialize(&mut *self.comparer)
    }

    fn close(self) -> Same {
        self.comparer.bytes(self.close)
    }
}

impl<'c, 't> serde::Serializer for &'c mut Comparer<'t> {
    type Ok = ();
    type Error = Differs;
    type SerializeSeq = Compound<'c, 't>;
    type SerializeTuple = Compound<'c, 't>;
    type SerializeTupleStruct = Compound<'c, 't>;
    type SerializeTupleVariant = serde::ser::Impossible<(), Differs>;
    type SerializeMap = serde::ser::Impossible<(), Differs>;
    type SerializeStruct = Compound<'c, 't>;
    type SerializeStructVariant = Compound<'c, 't>;

    fn serialize_bool(self, value: bool) -> Same {
        self.bytes(if value { b"true" } else { b"false" })
    }

    fn serialize_i8(self, value: i8) -> Same {
        self.integer(value)
    }

    fn serialize_i16(self, value: i16) -> Same {
        self.integer(value)
    }

    fn serialize_i32(self, value: i32) -> Same {
        self.integer(value)
    }

    fn serialize_i64(self, value: i64) -> Same {
        self.integer(value)
    }

    fn serialize_u8(self, value: u8) -> Same {
        self.integer(value)
    }

    fn serialize_u16(self, value: u16) -> Same {
        self.integer(value)
    }

    fn serialize_u32(self, value: u32) -> Same {
        self.integer(value)
    }

    fn serialize_u64(self, value: u64) -> Same {
        self.integer(value)
    }

    fn serialize_f32(self, value: f32) -> Same {
        self.serialize_f64(f64::from(value))
    }

    fn serialize_f64(self, value: f64) -> Same {
        // serde_json writes a float that is not finite as `null`.
        if !value.is_finite() {
            return self.bytes(b"null");
        }
        ecmascript_number(value, |number| self.bytes(number))
    }

    fn serialize_char(self, value: char) -> Same {
        self.string(value.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, value: &str) -> Same {
        self.string_value(value)
    }

    fn serialize_bytes(self, _: &[u8]) -> Same {
        Err(Differs)
    }

    fn serialize_none(self) -> Same {
        self.bytes(b"null")
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Same {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Same {
        self.bytes(b"null")
    }

    fn serialize_unit_struct(self, _: &'static str) -> Same {
        self.serialize_unit()
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Same {
        self.string(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Same {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Same {
        self.byte(b'{')?;
        self.string(variant)?;
        self.byte(b':')?;
        value.serialize(&mut *self)?;
        self.byte(b'}')
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'c, 't>, Differs> {
        self.byte(b'[')?;
        Ok(Compound { comparer: self, first: true, close: b"]" })
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'c, 't>, Differs> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Compound<'c, 't>, Differs> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Differs> {
        Err(Differs)
    }

    /// Maps would need their keys sorted, which serde_json does not do: the model has none.
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Differs> {
        Err(Differs)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'c, 't>, Differs> {
        self.byte(b'{')?;
        Ok(Compound { comparer: self, first: true, close: b"}" })
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'c, 't>, Differs> {
        self.byte(b'{')?;
        self.string(variant)?;
        self.bytes(b":{")?;
        Ok(Compound { comparer: self, first: true, close: b"}}" })
    }
}

impl serde::ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = Differs;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Same {
        self.element(value)
    }

    fn end(self) -> Same {
        self.close()
    }
}

impl serde::ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = Differs;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Same {
        self.element(value)
    }

    fn end(self) -> Same {
        self.close()
    }
}

impl serde::ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Differs;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Same {
        self.element(value)
    }

    fn end(self) -> Same {
        self.close()
    }
}

impl serde::ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Differs;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Same {
        self.member(key, value)
    }

    fn end(self) -> Same {
        self.close()
    }
}

impl serde::ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Differs;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Same {
        self.member(key, value)
    }

    fn end(self) -> Same {
        self.close()
    }
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

    /// What the streaming reader relies on: the writer's bytes are recognised, and text that
    /// parses into the same PI but is written otherwise is not.
    #[test]
    fn only_the_writers_own_bytes_are_the_canonical_form() {
        use crate::model::Pi;
        let (config, _) = crate::sample::generate(crate::sample::SampleSize::Demo);
        for pi in &config.pis {
            assert!(is_canonical_form(pi, &to_canonical_vec(pi)), "{}", pi.key);
        }
        let mut pi = config.pis[0].clone();
        pi.capacity[0].value = 10.0;
        pi.capacity[1].value = 12.5;
        pi.objectives[0].title = "say \"hi\" \\ \u{1f}\t".into();
        let canonical = String::from_utf8(to_canonical_vec(&pi)).unwrap();
        assert!(canonical.contains(r#""value":10}"#) && canonical.contains(r#"\u001f\t"#), "{canonical}");
        assert!(is_canonical_form(&pi, canonical.as_bytes()), "escapes take the writer's comparison");
        let team = &pi.capacity[0].team;
        let first_member = r#"{"capacity":[{"sprint":"#;
        let variants = [
            canonical.replacen(first_member, r#"{"capacity": [{"sprint":"#, 1),
            canonical.replacen(r#""value":10}"#, r#""value":10.0}"#, 1),
            canonical.replacen(r#""value":10}"#, r#""value":1e1}"#, 1),
            canonical.replacen(r#""value":12.5}"#, r#""value":12.50}"#, 1),
            canonical.replacen(
                &format!(r#""team":"{team}""#),
                &format!(r#""team":"\u{:04x}{}""#, team.as_bytes()[0], &team[1..]),
                1,
            ),
            canonical.replacen(r#"say \"hi\""#, r#"say \u0022hi\""#, 1),
            canonical.replacen(r#"\u001f"#, r#"\u001F"#, 1),
            canonical.replacen(r#"\t"#, r#"\u0009"#, 1),
            format!("{canonical} "),
        ];
        let sprint = pi.capacity[0].sprint;
        let reordered = canonical.replacen(
            &format!(r#"{{"sprint":{sprint},"team":"{team}","#),
            &format!(r#"{{"team":"{team}","sprint":{sprint},"#),
            1,
        );
        for (n, text) in variants.iter().chain([&reordered]).enumerate() {
            assert_ne!(text, &canonical, "variant {n} changes nothing");
            let parsed: Result<Pi, _> = serde_json::from_str(text);
            // Trailing whitespace aside, each variant is the same PI written otherwise.
            if let Ok(parsed) = parsed {
                assert_eq!(parsed, pi, "variant {n}");
            }
            assert!(!is_canonical_form(&pi, text.as_bytes()), "variant {n} taken for canonical: {text}");
        }
    }

    #[test]
    fn whole_numbers_take_the_integer_path_and_write_what_ryu_js_writes() {
        let mut values = vec![0.0, -0.0, 1.0, -1.0, 45.0, 1e15, 123_456_789_012_345.0, MAX_SAFE_INTEGER - 1.0];
        values.extend([MAX_SAFE_INTEGER, MAX_SAFE_INTEGER + 2.0, 1e20, 1e21, 1e300, 0.5, 1e-7, f64::MIN_POSITIVE]);
        values.extend((0..2000).map(|i| f64::from(i) * 7.0 - 5000.0));
        values.extend((1..64).map(|k| 2f64.powi(k) - 1.0));
        for value in values {
            let ours = String::from_utf8(to_canonical_vec(&value)).unwrap();
            assert_eq!(ours, ryu_js::Buffer::new().format(value), "{value}");
        }
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
