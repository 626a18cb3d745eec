//! A minimal JSON writer for machine-readable output (`svstat --json`).
//!
//! Hand-written rather than serde: vigil only ever writes flat records of numbers, booleans,
//! strings and nested objects, and file names are bytes, not Rust strings. Strings are escaped
//! per RFC 8259; bytes that are not UTF-8 become U+FFFD, since a JSON text must be Unicode.

/// A JSON value to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `null`: unknown or not applicable.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A non-negative integer.
    Unsigned(u64),
    /// A signed integer.
    Signed(i64),
    /// A number with one decimal (`12.5`); `null` if not finite.
    Decimal(f64),
    /// A string, from bytes (not necessarily UTF-8).
    Str(&'a [u8]),
    /// An owned string.
    String(String),
    /// An object, keys in the given order.
    Object(Vec<(&'a str, Value<'a>)>),
}

impl<'a> Value<'a> {
    /// `Value::Null` for `None`, else the value `f` makes.
    pub fn or_null<T>(value: Option<T>, f: impl FnOnce(T) -> Value<'a>) -> Value<'a> {
        value.map_or(Value::Null, f)
    }

    /// Appends the value's JSON text to `out`.
    ///
    /// ```
    /// use vigil_client::json::Value;
    ///
    /// let mut out = Vec::new();
    /// Value::Object(vec![
    ///     ("service", Value::Str(b"web")),
    ///     ("pid", Value::or_null(None::<u64>, Value::Unsigned)),
    ///     ("cpu", Value::Decimal(12.25)),
    /// ])
    /// .write(&mut out);
    /// assert_eq!(out, br#"{"service":"web","pid":null,"cpu":12.2}"#);
    /// ```
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Unsigned(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Value::Signed(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Value::Decimal(x) if x.is_finite() => {
                out.extend_from_slice(format!("{x:.1}").as_bytes())
            }
            Value::Decimal(_) => out.extend_from_slice(b"null"),
            Value::Str(s) => write_string(out, s),
            Value::String(s) => write_string(out, s.as_bytes()),
            Value::Object(fields) => {
                out.push(b'{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_string(out, key.as_bytes());
                    out.push(b':');
                    value.write(out);
                }
                out.push(b'}');
            }
        }
    }
}

/// Appends `bytes` as a quoted JSON string: `"`, `\` and control characters escaped, invalid
/// UTF-8 replaced with U+FFFD.
///
/// ```
/// let mut out = Vec::new();
/// vigil_client::json::write_string(&mut out, b"a\"b\n\x01\xff");
/// assert_eq!(out, "\"a\\\"b\\n\\u0001\u{fffd}\"".as_bytes());
/// ```
pub fn write_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{8}' => out.extend_from_slice(b"\\b"),
                '\u{c}' => out.extend_from_slice(b"\\f"),
                c if (c as u32) < 0x20 => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                }
                c => {
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &Value) -> String {
        let mut out = Vec::new();
        v.write(&mut out);
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    #[test]
    fn strings_are_escaped() {
        let v = Value::Str(b"a\"b\\c\nd\te\x01f\x7f/");
        assert_eq!(text(&v), "\"a\\\"b\\\\c\\nd\\te\\u0001f\x7f/\"");
        assert_eq!(text(&Value::Str(b"\x08\x0c\r")), r#""\b\f\r""#);
    }

    #[test]
    fn invalid_utf8_becomes_replacement_character() {
        assert_eq!(text(&Value::Str(b"a\xffb")), "\"a\u{fffd}b\"");
        assert_eq!(text(&Value::Str("é".as_bytes())), "\"é\"");
    }

    #[test]
    fn objects_keep_key_order() {
        let v = Value::Object(vec![
            ("b", Value::Unsigned(1)),
            ("a", Value::Null),
            ("n", Value::Signed(-3)),
            ("o", Value::Object(vec![("t", Value::Bool(true))])),
            ("e", Value::Object(vec![])),
        ]);
        assert_eq!(text(&v), r#"{"b":1,"a":null,"n":-3,"o":{"t":true},"e":{}}"#);
        assert_eq!(text(&Value::or_null(None::<u64>, Value::Unsigned)), "null");
    }

    /// Decodes a JSON string literal (the subset `write_string` produces).
    fn parse_string(text: &str) -> String {
        let inner = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .expect("quoted");
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            assert!(c != '"' && (c as u32) >= 0x20, "raw {c:?} in {text:?}");
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next().expect("escape") {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let code = u32::from_str_radix(&hex, 16).expect("hex");
                    out.push(char::from_u32(code).expect("scalar"));
                }
                e => panic!("unknown escape {e:?}"),
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_round_trip_as_lossy_text(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let out = text(&Value::Str(&bytes));
            proptest::prop_assert_eq!(parse_string(&out), String::from_utf8_lossy(&bytes).into_owned());
        }
    }

    #[test]
    fn any_bytes_give_valid_utf8_with_balanced_quotes() {
        // Every byte value, alone and in a run: the output is UTF-8, starts and ends with a
        // quote, and holds no raw control character or unescaped quote inside.
        let all: Vec<u8> = (0..=255).collect();
        for bytes in std::iter::once(&all[..]).chain(all.chunks(1)) {
            let out = text(&Value::Str(bytes));
            let inner = &out[1..out.len() - 1];
            assert!(out.starts_with('"') && out.ends_with('"'));
            assert!(!inner.chars().any(|c| (c as u32) < 0x20));
            let mut escaped = false;
            for c in inner.chars() {
                assert!(escaped || c != '"', "unescaped quote in {out:?}");
                escaped = !escaped && c == '\\';
            }
        }
    }
}
