//! XML-RPC's wire format, as supervisord and its clients speak it: a `methodCall` decoded
//! from a request body, a `methodResponse` or a fault encoded for the reply.
//!
//! The decoder is built on quick-xml's pull reader and is meant for bodies from the
//! network: it expands no entity but XML's five predefined ones and character references
//! (a `<!DOCTYPE>` is refused outright), it nests at most [`MAX_DEPTH`] values deep, takes
//! at most [`MAX_VALUES`] values and [`MAX_BODY`] bytes, and never panics on any input.
//! What the spec leaves loose is accepted as Python's `xmlrpc` and supervisord accept it:
//! a `<value>` without a type is a string, `<params>` may be absent, `<i8>` is an integer.
//!
//! The encoder writes every string as XML 1.0 allows it (see [`xml_text`]): supervisorctl's
//! expat parser fails on the control bytes a service may print, on U+FFFE and U+FFFF.

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::Reader;
use std::fmt::{self, Write as _};

/// The largest request body decoded, in bytes.
pub const MAX_BODY: usize = 1 << 20;
/// How deep arrays and structs may nest in one parameter.
pub const MAX_DEPTH: usize = 32;
/// How many values a request may hold in all.
pub const MAX_VALUES: usize = 100_000;

/// An XML-RPC value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `<int>`, `<i4>` or `<i8>`.
    Int(i64),
    /// `<boolean>`: `1` is true, anything else false (as Python reads it).
    Bool(bool),
    /// `<string>`, an untyped `<value>`, or a decoded `<base64>`.
    Str(String),
    /// `<double>`.
    Double(f64),
    /// `<dateTime.iso8601>`, its text as sent.
    DateTime(String),
    /// `<array>`.
    Array(Vec<Value>),
    /// `<struct>`, its members in the order sent.
    Struct(Vec<(String, Value)>),
    /// `<nil/>`.
    Nil,
}

impl Value {
    /// The string this value holds, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The member `name` of a struct.
    pub fn member(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(members) => members.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A struct from `(name, value)` pairs.
    pub fn record<const N: usize>(members: [(&str, Value); N]) -> Value {
        Value::Struct(
            members
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v))
                .collect(),
        )
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

/// A decoded `methodCall`.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// `methodName`, e.g. `supervisor.getState`.
    pub method: String,
    /// The parameters in order; empty when `<params>` is absent.
    pub params: Vec<Value>,
}

/// Why a request body is not a call (the server answers 400).
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError(String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

fn bad<T>(why: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(why.into()))
}

/// One event of the document, with entity and character references already resolved.
enum Ev {
    Start(String),
    End(String),
    Empty(String),
    Text(String),
    Eof,
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    values: usize,
}

impl<'a> Parser<'a> {
    fn next(&mut self) -> Result<Ev, DecodeError> {
        loop {
            let ev = match self.reader.read_event() {
                Ok(ev) => ev,
                Err(e) => return bad(format!("malformed XML: {e}")),
            };
            return Ok(match ev {
                Event::Start(s) => Ev::Start(s.name().as_ref().to_owned()),
                Event::Empty(s) => Ev::Empty(s.name().as_ref().to_owned()),
                Event::End(e) => Ev::End(e.name().as_ref().to_owned()),
                Event::Text(t) => Ev::Text(t.xml10_content().into_owned()),
                Event::CData(c) => Ev::Text(c.xml10_content().into_owned()),
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => match resolve_predefined_entity(&r) {
                            Some(s) => s.to_owned(),
                            None => return bad("entity references are not expanded"),
                        },
                        Err(_) => return bad("bad character reference"),
                    };
                    Ev::Text(resolved)
                }
                Event::DocType(_) => return bad("a DOCTYPE is not accepted"),
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) => continue,
                Event::Eof => Ev::Eof,
            });
        }
    }

    /// The next tag, skipping whitespace between tags.
    fn tag(&mut self) -> Result<Ev, DecodeError> {
        loop {
            match self.next()? {
                Ev::Text(t) if t.trim().is_empty() => continue,
                Ev::Text(_) => return bad("text where a tag was expected"),
                ev => return Ok(ev),
            }
        }
    }

    /// The text up to `</end>`; a nested tag is an error.
    fn text(&mut self, end: &str) -> Result<String, DecodeError> {
        let mut out = String::new();
        loop {
            match self.next()? {
                Ev::Text(t) => out.push_str(&t),
                Ev::End(n) if n == end => return Ok(out),
                _ => return bad(format!("<{end}> holds text only")),
            }
        }
    }

    fn expect_end(&mut self, end: &str) -> Result<(), DecodeError> {
        match self.tag()? {
            Ev::End(n) if n == end => Ok(()),
            _ => bad(format!("</{end}> expected")),
        }
    }

    fn count(&mut self, depth: usize) -> Result<(), DecodeError> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return bad("too many values");
        }
        if depth > MAX_DEPTH {
            return bad("values nest too deep");
        }
        Ok(())
    }

    /// A `<value>` whose start tag was just read.
    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        self.count(depth)?;
        let mut text = String::new();
        let mut typed = None;
        loop {
            match self.next()? {
                Ev::Text(t) => text.push_str(&t),
                Ev::End(n) if n == "value" => break,
                Ev::Start(tag) if typed.is_none() => typed = Some(self.typed(&tag, depth)?),
                Ev::Empty(tag) if typed.is_none() => typed = Some(empty_typed(&tag)?),
                _ => return bad("a <value> holds one typed value"),
            }
        }
        match typed {
            Some(_) if !text.trim().is_empty() => bad("text beside a typed value"),
            Some(v) => Ok(v),
            None => Ok(Value::Str(text)),
        }
    }

    /// A typed value whose start tag `tag` was just read, up to its end tag.
    fn typed(&mut self, tag: &str, depth: usize) -> Result<Value, DecodeError> {
        Ok(match tag {
            "int" | "i4" | "i8" => match self.text(tag)?.trim().parse() {
                Ok(i) => Value::Int(i),
                Err(_) => return bad("bad integer"),
            },
            "boolean" => Value::Bool(self.text(tag)?.trim() == "1"),
            "string" => Value::Str(self.text(tag)?),
            "double" => match self.text(tag)?.trim().parse() {
                Ok(d) => Value::Double(d),
                Err(_) => return bad("bad double"),
            },
            "dateTime.iso8601" => Value::DateTime(self.text(tag)?.trim().to_owned()),
            "base64" => match base64_decode(self.text(tag)?.as_bytes()) {
                Some(bytes) => Value::Str(String::from_utf8_lossy(&bytes).into_owned()),
                None => return bad("bad base64"),
            },
            "nil" => {
                self.expect_end(tag)?;
                Value::Nil
            }
            "array" => {
                let mut items = Vec::new();
                match self.tag()? {
                    Ev::Empty(n) if n == "data" => {}
                    Ev::Start(n) if n == "data" => loop {
                        match self.tag()? {
                            Ev::Start(n) if n == "value" => items.push(self.value(depth + 1)?),
                            Ev::Empty(n) if n == "value" => {
                                self.count(depth + 1)?;
                                items.push(Value::Str(String::new()))
                            }
                            Ev::End(n) if n == "data" => break,
                            _ => return bad("<data> holds values"),
                        }
                    },
                    _ => return bad("<array> holds <data>"),
                }
                self.expect_end("array")?;
                Value::Array(items)
            }
            "struct" => {
                let mut members = Vec::new();
                loop {
                    match self.tag()? {
                        Ev::Start(n) if n == "member" => members.push(self.member(depth + 1)?),
                        Ev::End(n) if n == "struct" => break,
                        _ => return bad("<struct> holds members"),
                    }
                }
                Value::Struct(members)
            }
            _ => return bad(format!("unknown type <{tag}>")),
        })
    }

    fn member(&mut self, depth: usize) -> Result<(String, Value), DecodeError> {
        let (mut name, mut value) = (None, None);
        loop {
            match self.tag()? {
                Ev::Start(n) if n == "name" && name.is_none() => name = Some(self.text("name")?),
                Ev::Empty(n) if n == "name" && name.is_none() => name = Some(String::new()),
                Ev::Start(n) if n == "value" && value.is_none() => value = Some(self.value(depth)?),
                Ev::Empty(n) if n == "value" && value.is_none() => {
                    self.count(depth)?;
                    value = Some(Value::Str(String::new()))
                }
                Ev::End(n) if n == "member" => break,
                _ => return bad("<member> holds a <name> and a <value>"),
            }
        }
        match (name, value) {
            (Some(n), Some(v)) => Ok((n, v)),
            _ => bad("<member> holds a <name> and a <value>"),
        }
    }

    fn params(&mut self) -> Result<Vec<Value>, DecodeError> {
        let mut params = Vec::new();
        loop {
            match self.tag()? {
                Ev::Start(n) if n == "param" => {
                    match self.tag()? {
                        Ev::Start(n) if n == "value" => params.push(self.value(1)?),
                        Ev::Empty(n) if n == "value" => {
                            self.count(1)?;
                            params.push(Value::Str(String::new()))
                        }
                        _ => return bad("<param> holds a <value>"),
                    }
                    self.expect_end("param")?;
                }
                Ev::End(n) if n == "params" => return Ok(params),
                _ => return bad("<params> holds <param>s"),
            }
        }
    }
}

fn empty_typed(tag: &str) -> Result<Value, DecodeError> {
    Ok(match tag {
        "string" | "base64" => Value::Str(String::new()),
        "nil" => Value::Nil,
        "struct" => Value::Struct(Vec::new()),
        _ => return bad(format!("<{tag}/> is empty")),
    })
}

/// Decodes a `methodCall` request body.
pub fn decode_call(body: &[u8]) -> Result<Call, DecodeError> {
    if body.len() > MAX_BODY {
        return bad("request too large");
    }
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(_) => return bad("request is not UTF-8"),
    };
    let mut p = Parser {
        reader: Reader::from_str(text),
        values: 0,
    };
    match p.tag()? {
        Ev::Start(n) if n == "methodCall" => {}
        _ => return bad("<methodCall> expected"),
    }
    let (mut method, mut params) = (None, None);
    loop {
        match p.tag()? {
            Ev::Start(n) if n == "methodName" && method.is_none() => {
                method = Some(p.text("methodName")?.trim().to_owned())
            }
            Ev::Start(n) if n == "params" && params.is_none() => params = Some(p.params()?),
            Ev::Empty(n) if n == "params" && params.is_none() => params = Some(Vec::new()),
            Ev::End(n) if n == "methodCall" => break,
            _ => return bad("<methodCall> holds <methodName> and <params>"),
        }
    }
    match p.tag()? {
        Ev::Eof => {}
        _ => return bad("content after </methodCall>"),
    }
    match method {
        Some(m) if !m.is_empty() => Ok(Call {
            method: m,
            params: params.unwrap_or_default(),
        }),
        _ => bad("no method name"),
    }
}

/// `bytes` as text XML 1.0 can carry: invalid UTF-8 becomes U+FFFD, as do U+FFFE and
/// U+FFFF; the control characters XML forbids (all below U+0020 but tab, newline and
/// carriage return) are dropped.
pub fn xml_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' => Some(c),
            c if c < ' ' => None,
            '\u{FFFE}' | '\u{FFFF}' => Some('\u{FFFD}'),
            c => Some(c),
        })
        .collect()
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if c < ' ' => {}
            '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

fn encode_value(out: &mut String, v: &Value) {
    out.push_str("<value>");
    match v {
        Value::Int(i) => {
            let _ = write!(out, "<int>{i}</int>");
        }
        Value::Bool(b) => {
            let _ = write!(out, "<boolean>{}</boolean>", u8::from(*b));
        }
        Value::Str(s) => {
            out.push_str("<string>");
            escape_into(out, s);
            out.push_str("</string>");
        }
        Value::Double(d) => {
            let _ = write!(out, "<double>{d:?}</double>");
        }
        Value::DateTime(s) => {
            out.push_str("<dateTime.iso8601>");
            escape_into(out, s);
            out.push_str("</dateTime.iso8601>");
        }
        Value::Array(items) => {
            out.push_str("<array><data>\n");
            for item in items {
                encode_value(out, item);
                out.push('\n');
            }
            out.push_str("</data></array>");
        }
        Value::Struct(members) => {
            out.push_str("<struct>\n");
            for (name, value) in members {
                out.push_str("<member>\n<name>");
                escape_into(out, name);
                out.push_str("</name>\n");
                encode_value(out, value);
                out.push_str("\n</member>\n");
            }
            out.push_str("</struct>");
        }
        Value::Nil => out.push_str("<nil/>"),
    }
    out.push_str("</value>");
}

/// A `methodResponse` carrying `value`.
pub fn encode_response(value: &Value) -> String {
    let mut out = String::from("<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n");
    encode_value(&mut out, value);
    out.push_str("\n</param>\n</params>\n</methodResponse>\n");
    out
}

/// A `methodResponse` carrying the fault `code` with `text`.
pub fn encode_fault(code: i64, text: &str) -> String {
    let mut out = String::from("<?xml version='1.0'?>\n<methodResponse>\n<fault>\n");
    encode_value(
        &mut out,
        &Value::record([
            ("faultCode", Value::Int(code)),
            ("faultString", text.into()),
        ]),
    );
    out.push_str("\n</fault>\n</methodResponse>\n");
    out
}

/// A `methodCall` (what a client sends; the tests speak with it).
#[cfg(test)]
pub fn encode_call(method: &str, params: &[Value]) -> String {
    let mut out = String::from("<?xml version='1.0'?>\n<methodCall>\n<methodName>");
    escape_into(&mut out, method);
    out.push_str("</methodName>\n<params>\n");
    for p in params {
        out.push_str("<param>\n");
        encode_value(&mut out, p);
        out.push_str("\n</param>\n");
    }
    out.push_str("</params>\n</methodCall>\n");
    out
}

/// Decodes base64 (XML-RPC's `<base64>`, HTTP basic credentials); `None` for garbage.
pub fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits, mut pad) = (0u32, 0u32, false);
    for &b in text {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                pad = true;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        if pad {
            return None;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(body: &str) -> Result<Call, DecodeError> {
        decode_call(body.as_bytes())
    }

    #[test]
    fn what_supervisorctl_sends_decodes() {
        let body = "<?xml version='1.0'?>\n<methodCall>\n<methodName>supervisor.startProcess</methodName>\n<params>\n<param>\n<value><string>web</string></value>\n</param>\n<param>\n<value><boolean>1</boolean></value>\n</param>\n</params>\n</methodCall>\n";
        let c = call(body).unwrap();
        assert_eq!(c.method, "supervisor.startProcess");
        assert_eq!(c.params, vec![Value::from("web"), Value::Bool(true)]);
    }

    #[test]
    fn untyped_values_are_strings_and_params_may_be_absent() {
        let c = call("<methodCall><methodName>x.y</methodName><params><param><value> a b </value></param><param><value/></param></params></methodCall>").unwrap();
        assert_eq!(c.params, vec![Value::from(" a b "), Value::from("")]);
        let c =
            call("<methodCall><methodName>supervisor.getState</methodName></methodCall>").unwrap();
        assert!(c.params.is_empty());
    }

    #[test]
    fn every_type_decodes() {
        let body = "<methodCall><methodName>m</methodName><params><param><value><array><data>\
            <value><int>-3</int></value><value><i4>4</i4></value><value><i8>5000000000</i8></value>\
            <value><boolean>0</boolean></value><value><double>1.5</double></value>\
            <value><dateTime.iso8601>20260101T00:00:00</dateTime.iso8601></value>\
            <value><base64>aGk=</base64></value><value><nil/></value>\
            <value><struct><member><name>k</name><value>&lt;&#65;&amp;&#x42;</value></member></struct></value>\
            <value><string><![CDATA[<raw>]]></string></value>\
            </data></array></value></param></params></methodCall>";
        let c = call(body).unwrap();
        assert_eq!(
            c.params,
            vec![Value::Array(vec![
                Value::Int(-3),
                Value::Int(4),
                Value::Int(5_000_000_000),
                Value::Bool(false),
                Value::Double(1.5),
                Value::DateTime("20260101T00:00:00".into()),
                Value::from("hi"),
                Value::Nil,
                Value::record([("k", Value::from("<A&B"))]),
                Value::from("<raw>"),
            ])]
        );
    }

    #[test]
    fn entities_are_never_expanded() {
        let bomb =
            "<?xml version='1.0'?><!DOCTYPE m [<!ENTITY a 'aaaaaaaa'><!ENTITY b '&a;&a;&a;'>]>\
            <methodCall><methodName>&b;</methodName></methodCall>";
        assert!(call(bomb).is_err());
        assert!(call("<methodCall><methodName>&b;</methodName></methodCall>").is_err());
    }

    #[test]
    fn depth_and_count_are_bounded() {
        let deep = |n: usize| {
            format!(
                "<methodCall><methodName>m</methodName><params><param><value>{}x{}</value></param></params></methodCall>",
                "<array><data><value>".repeat(n),
                "</value></data></array>".repeat(n)
            )
        };
        assert!(call(&deep(MAX_DEPTH - 2)).is_ok());
        assert!(call(&deep(MAX_DEPTH + 1)).is_err());
        let many = format!(
            "<methodCall><methodName>m</methodName><params><param><value><array><data>{}</data></array></value></param></params></methodCall>",
            "<value/>".repeat(MAX_VALUES + 1)
        );
        assert!(call(&many).is_err());
        assert!(decode_call(&vec![b' '; MAX_BODY + 1]).is_err());
    }

    #[test]
    fn garbage_is_an_error() {
        for body in [
            "",
            "<methodCall>",
            "<methodCall><methodName></methodName></methodCall>",
            "<methodCall><methodName>m</methodName></methodCall><x/>",
            "<methodCall><methodName>m</methodName><params><param><value><int>z</int></value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><foo/></value></param></params></methodCall>",
            "<methodCall><methodName>m</methodName><params><param><value><string>a</string>b</value></param></params></methodCall>",
            "<a></b>",
        ] {
            assert!(call(body).is_err(), "{body:?}");
        }
        assert!(decode_call(b"<methodCall><methodName>\xff</methodName></methodCall>").is_err());
    }

    #[test]
    fn log_text_is_made_xml_safe() {
        assert_eq!(
            xml_text(b"a\x00b\x1bc\td\r\ne\xff\xef\xbf\xbe\xef\xbf\xbf"),
            "abc\td\r\ne\u{FFFD}\u{FFFD}\u{FFFD}"
        );
        let r = encode_response(&Value::from("x\u{1}<&>\r\u{FFFF}"));
        assert!(
            r.contains("<string>x&lt;&amp;&gt;&#13;\u{FFFD}</string>"),
            "{r}"
        );
    }

    #[test]
    fn a_fault_carries_code_and_text() {
        let f = encode_fault(10, "BAD_NAME: web");
        assert!(f.contains("<fault>"));
        assert!(f.contains("<name>faultCode</name>\n<value><int>10</int></value>"));
        assert!(f.contains("<string>BAD_NAME: web</string>"));
    }

    #[test]
    fn calls_round_trip() {
        let params = vec![
            Value::from("a&b"),
            Value::Int(7),
            Value::Array(vec![Value::record([
                ("methodName", "x".into()),
                ("params", Value::Array(vec![])),
            ])]),
            Value::Bool(true),
            Value::Double(0.25),
        ];
        let c = decode_call(encode_call("system.multicall", &params).as_bytes()).unwrap();
        assert_eq!(
            c,
            Call {
                method: "system.multicall".into(),
                params
            }
        );
    }

    mod property {
        use super::super::*;
        use proptest::prelude::*;

        fn value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                any::<i64>().prop_map(Value::Int),
                any::<bool>().prop_map(Value::Bool),
                "[^\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\u{fffe}\u{ffff}]*".prop_map(Value::Str),
                (-1e9f64..1e9).prop_map(Value::Double),
            ];
            leaf.prop_recursive(6, 64, 8, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                    prop::collection::vec(("[a-z]{0,8}", inner), 0..8).prop_map(Value::Struct),
                ]
            })
        }

        /// The text a value holds, and a byte for each value (every value costs at least
        /// `<value/>`'s 8 bytes of input).
        fn size(v: &Value) -> usize {
            1 + match v {
                Value::Str(s) | Value::DateTime(s) => s.len(),
                Value::Array(items) => items.iter().map(size).sum(),
                Value::Struct(members) => members.iter().map(|(n, v)| n.len() + size(v)).sum(),
                _ => 0,
            }
        }

        /// A valid call with bytes changed, inserted and removed.
        fn mutated() -> impl Strategy<Value = Vec<u8>> {
            (
                "[a-zA-Z.]{1,20}",
                prop::collection::vec(value(), 0..4),
                prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..16),
            )
                .prop_map(|(method, params, edits)| {
                    let mut body = encode_call(&method, &params).into_bytes();
                    for (at, byte, kind) in edits {
                        if body.is_empty() {
                            break;
                        }
                        let i = at.index(body.len());
                        match kind {
                            0 => body[i] = byte,
                            1 => body.insert(i, byte),
                            _ => {
                                body.remove(i);
                            }
                        }
                    }
                    body
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
                let _ = decode_call(&body);
            }

            #[test]
            fn mutated_calls_never_panic(body in mutated()) {
                if let Ok(call) = decode_call(&body) {
                    // What decodes is no bigger than what came in: no expansion.
                    let held = call.method.len() + call.params.iter().map(size).sum::<usize>();
                    prop_assert!(held <= body.len(), "{} bytes from {}", held, body.len());
                }
            }

            #[test]
            fn encoded_calls_decode_to_themselves(method in "[a-zA-Z.]{1,20}", params in prop::collection::vec(value(), 0..4)) {
                let body = encode_call(&method, &params);
                prop_assert_eq!(decode_call(body.as_bytes()), Ok(Call { method, params }));
            }

            #[test]
            fn any_string_encodes_to_well_formed_xml(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let body = encode_call("m", &[Value::Str(text.clone())]);
                let back = decode_call(body.as_bytes());
                prop_assert!(back.is_ok(), "{:?}", back);
                prop_assert_eq!(back.unwrap().params, vec![Value::Str(xml_text(text.as_bytes()))]);
            }
        }
    }
}
