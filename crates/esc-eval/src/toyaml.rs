//! `fn::toYAML`: a value written as the reference writes it, with gopkg.in/yaml.v3's
//! `yaml.Marshal` of the value's plain JSON projection: 4-space indentation (a sequence's
//! first nested level skips only its `- `), keys in yaml.v3's natural order, numbers as
//! strings (a `json.Number` is a Go string to yaml.v3, so `1` is written `"1"`), and each
//! string in the style yaml.v3's emitter picks (plain, single-quoted, double-quoted with its
//! escapes, or a literal block with its indentation and chomping indicators). Lines are never
//! folded (yaml.v3 sets no width).

use std::cmp::Ordering;

use crate::resolve::{self, Scalar};
use crate::{Data, Value};

/// The YAML text of `v` (secrets shown, unknowns `[unknown]`) when it is at most `max` bytes;
/// `None` when it is longer. Indentation grows with depth, so a small value can make a large
/// text: the emitter stops at `max` instead of writing it whole.
pub(crate) fn to_yaml(v: &Value, max: usize) -> Option<String> {
    let mut e = Emitter {
        out: String::new(),
        max,
        over: false,
        column: 0,
        whitespace: true,
        indention: true,
        indent: -1,
    };
    e.node(v, Parent::Root, false);
    e.write_indent();
    (!e.over).then_some(e.out)
}

#[derive(Clone, Copy, PartialEq)]
enum Parent {
    Root,
    SequenceItem,
    Mapping,
}

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Emitter {
    out: String,
    /// The most `out` may hold; past it `over` is set and nothing more is written.
    max: usize,
    over: bool,
    column: usize,
    whitespace: bool,
    indention: bool,
    indent: i64,
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// yaml.v3's `is_printable` (libyaml's rule, not Go's `strconv.IsPrint`: it passes U+00A0,
/// U+200B, U+2028 and the rest of the BMP but U+FEFF, and refuses everything above it), which
/// decides which characters `fn::toYAML` quotes and escapes; kept apart from `esc_gotext::is_print`
/// on purpose, as the two Go programs differ.
fn is_printable(c: char) -> bool {
    matches!(c as u32, 0x0a | 0x20..=0x7e | 0xa0..=0xd7ff | 0xe000..=0xfffd) && c != '\u{feff}'
}

/// What yaml.v3's `yaml_emitter_analyze_scalar` finds out about a string.
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn analyze(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = value.chars().collect();
    let block_indicators = has_indicator(value, &chars);
    let (mut line_breaks, mut special, mut tabs) = (false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    for (i, &c) in chars.iter().enumerate() {
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        let last = i + 1 == chars.len();
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= last;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= last;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || tabs || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// Whether the text holds a YAML indicator where a plain scalar cannot (yaml.v3's
/// `block_indicators`): `---` or `...` first, an indicator character first, `: ` anywhere,
/// ` #` anywhere.
fn has_indicator(value: &str, chars: &[char]) -> bool {
    if value.starts_with("---") || value.starts_with("...") {
        return true;
    }
    let blank = |c: Option<&char>| matches!(c, Some(' ' | '\t'));
    let mut preceded_by_whitespace = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = i + 1 >= chars.len() || blank(chars.get(i + 1));
        let indicator = if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => true,
                '?' | ':' | '-' => followed_by_whitespace,
                _ => false,
            }
        } else {
            match c {
                ':' => followed_by_whitespace,
                '#' => preceded_by_whitespace,
                _ => false,
            }
        };
        if indicator {
            return true;
        }
        preceded_by_whitespace = matches!(c, ' ' | '\t' | '\0') || is_break(c);
    }
    false
}

/// yaml.v3's `isBase60Float`: `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (body, frac) = match t.find('.') {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    if frac.is_some_and(|f| !f.bytes().all(|c| c.is_ascii_digit() || c == b'_')) {
        return false;
    }
    let mut parts = body.split(':');
    let head = parts.next().unwrap_or("");
    let head_ok = head.starts_with(|c: char| c.is_ascii_digit())
        && head.bytes().all(|c| c.is_ascii_digit() || c == b'_');
    let mut sixties = 0;
    for p in parts {
        let b = p.as_bytes();
        let ok = match b {
            [d] => d.is_ascii_digit(),
            [t, d] => (b'0'..=b'5').contains(t) && d.is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
        sixties += 1;
    }
    head_ok && sixties > 0
}

/// The style yaml.v3's encoder asks for a string (`stringv`).
fn requested_style(s: &str) -> Style {
    if s.contains('\n') {
        return Style::Literal;
    }
    let plain_ok = resolve::plain(s, true) == Scalar::Str
        && !is_base60_float(s)
        && !matches!(
            s,
            "y" | "Y"
                | "yes"
                | "Yes"
                | "YES"
                | "on"
                | "On"
                | "ON"
                | "n"
                | "N"
                | "no"
                | "No"
                | "NO"
                | "off"
                | "Off"
                | "OFF"
        );
    if plain_ok {
        Style::Plain
    } else {
        Style::Double
    }
}

/// yaml.v3's natural key order (`keyList.Less`) for string keys.
fn key_order(a: &str, b: &str) -> Ordering {
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut digits = false;
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            digits = ar[i].is_numeric();
            i += 1;
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            let a_first = if digits { al } else { bl };
            return if a_first {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

impl Emitter {
    /// Appends `c` if it fits within `max`; otherwise marks the text over budget.
    fn push(&mut self, c: char) {
        if self.over || self.out.len() + c.len_utf8() > self.max {
            self.over = true;
            return;
        }
        self.out.push(c);
    }

    fn put(&mut self, c: char) {
        self.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.push('\n');
        self.column = 0;
        self.indention = true;
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
    }

    fn indicator(
        &mut self,
        text: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for c in text.chars() {
            self.put(c);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    /// yaml.v3's `yaml_emitter_increase_indent`; returns the indentation to restore.
    fn increase_indent(&mut self, flow: bool, parent: Parent) -> i64 {
        let saved = self.indent;
        if self.indent < 0 {
            self.indent = if flow { 4 } else { 0 };
        } else if parent == Parent::SequenceItem {
            self.indent += 2;
        } else {
            self.indent = 4 * ((self.indent + 4) / 4);
        }
        saved
    }

    fn node(&mut self, v: &Value, parent: Parent, simple_key: bool) {
        if self.over {
            return;
        }
        if v.unknown {
            self.string("[unknown]", parent, simple_key);
            return;
        }
        match &v.data {
            Data::Null => self.scalar("null", Style::Plain, parent, simple_key),
            Data::Bool(b) => {
                self.scalar(
                    if *b { "true" } else { "false" },
                    Style::Plain,
                    parent,
                    simple_key,
                );
            }
            Data::Number(n) => self.string(n.as_str(), parent, simple_key),
            Data::String(s) => self.string(s, parent, simple_key),
            Data::Array(a) if a.is_empty() => self.empty("[]"),
            Data::Object(o) if o.is_empty() => self.empty("{}"),
            Data::Array(a) => {
                let saved = self.increase_indent(false, parent);
                for item in a {
                    if self.over {
                        break;
                    }
                    self.write_indent();
                    self.indicator("-", true, false, true);
                    self.node(item, Parent::SequenceItem, false);
                }
                self.indent = saved;
            }
            Data::Object(o) => {
                let saved = self.increase_indent(false, parent);
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort_by(|a, b| key_order(a, b));
                for k in keys {
                    if self.over {
                        break;
                    }
                    self.write_indent();
                    let simple = !k.chars().any(is_break) && k.len() <= 128;
                    if simple {
                        self.string(k, Parent::Mapping, true);
                        self.indicator(":", false, false, false);
                    } else {
                        self.indicator("?", true, false, true);
                        self.string(k, Parent::Mapping, false);
                        self.write_indent();
                        self.indicator(":", true, false, true);
                    }
                    self.node(&o[k], Parent::Mapping, false);
                }
                self.indent = saved;
            }
        }
    }

    fn empty(&mut self, text: &str) {
        self.indicator(&text[..1], true, true, false);
        self.indicator(&text[1..], false, false, false);
    }

    fn string(&mut self, s: &str, parent: Parent, simple_key: bool) {
        self.scalar(s, requested_style(s), parent, simple_key);
    }

    /// yaml.v3's `yaml_emitter_select_scalar_style`, then the scalar written in that style.
    fn scalar(&mut self, s: &str, requested: Style, parent: Parent, simple_key: bool) {
        let style = select_style(s, requested, simple_key);
        let saved = self.increase_indent(true, parent);
        match style {
            Style::Plain => self.plain(s),
            Style::Single => self.single_quoted(s),
            Style::Double => self.double_quoted(s),
            Style::Literal => self.literal(s),
        }
        self.indent = saved;
    }

    /// yaml.v3's `yaml_emitter_write_plain_scalar`.
    fn plain(&mut self, s: &str) {
        if !s.is_empty() && !self.whitespace {
            self.put(' ');
        }
        s.chars().for_each(|c| self.put(c));
        if !s.is_empty() {
            self.whitespace = false;
        }
        self.indention = false;
    }

    /// yaml.v3's `yaml_emitter_write_single_quoted_scalar` (for the texts that reach it).
    fn single_quoted(&mut self, s: &str) {
        self.indicator("'", true, false, false);
        for c in s.chars() {
            if c == '\'' {
                self.put('\'');
            }
            self.put(c);
        }
        self.indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    /// yaml.v3's `yaml_emitter_write_double_quoted_scalar`.
    fn double_quoted(&mut self, s: &str) {
        self.indicator("\"", true, false, false);
        for c in s.chars() {
            if !is_printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                match double_quoted_escape(c) {
                    Some(e) => self.put(e),
                    None => {
                        let v = c as u32;
                        let text = if v <= 0xff {
                            format!("x{v:02X}")
                        } else if v <= 0xffff {
                            format!("u{v:04X}")
                        } else {
                            format!("U{v:08X}")
                        };
                        text.chars().for_each(|c| self.put(c));
                    }
                }
            } else {
                self.put(c);
            }
        }
        self.indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    /// yaml.v3's `yaml_emitter_write_literal_scalar`.
    fn literal(&mut self, s: &str) {
        self.indicator("|", true, false, false);
        let first = s.chars().next();
        if first.is_some_and(|c| c == ' ' || is_break(c)) {
            self.indicator("4", false, false, false);
        }
        let mut rev = s.chars().rev();
        let chomp = match (rev.next(), rev.next()) {
            (Some(last), _) if !is_break(last) => Some("-"),
            (Some(_), None) => Some("+"),
            (Some(_), Some(prev)) if is_break(prev) => Some("+"),
            _ => None,
        };
        if let Some(h) = chomp {
            self.indicator(h, false, false, false);
        }
        self.whitespace = true;
        let mut breaks = true;
        for c in s.chars() {
            if is_break(c) {
                if c == '\n' {
                    self.put_break();
                } else {
                    self.push(c);
                    self.column = 0;
                    self.indention = true;
                }
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

/// yaml.v3's `yaml_emitter_select_scalar_style`: the requested style, unless the text rules
/// it out.
fn select_style(s: &str, requested: Style, simple_key: bool) -> Style {
    let a = analyze(s);
    let mut style = requested;
    if simple_key && a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain && (!a.block_plain_allowed || (s.is_empty() && simple_key)) {
        style = Style::Single;
    }
    if style == Style::Single && !a.single_quoted_allowed {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.block_allowed || simple_key) {
        style = Style::Double;
    }
    style
}

/// The one-letter escape yaml.v3 writes in double quotes for `c`, if it has one.
fn double_quoted_escape(c: char) -> Option<char> {
    Some(match c {
        '\0' => '0',
        '\x07' => 'a',
        '\x08' => 'b',
        '\t' => 't',
        '\n' => 'n',
        '\x0b' => 'v',
        '\x0c' => 'f',
        '\r' => 'r',
        '\x1b' => 'e',
        '"' => '"',
        '\\' => '\\',
        '\u{85}' => 'N',
        '\u{a0}' => '_',
        '\u{2028}' => 'L',
        '\u{2029}' => 'P',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::needless_pass_by_value)]
    fn yaml(json: serde_json::Value) -> String {
        to_yaml(&Value::from_json(json), usize::MAX).unwrap()
    }

    #[test]
    fn a_text_past_its_budget_is_refused_and_made_no_longer_than_the_budget() {
        use serde_json::json;
        // 1,000 leaves 100 levels down: each leaf's line is indented by about 400 spaces.
        let mut v = json!(vec!["x"; 1000]);
        for _ in 0..100 {
            v = json!({ "k": v });
        }
        let v = Value::from_json(v);
        let whole = to_yaml(&v, usize::MAX).unwrap();
        assert!(whole.len() > 400_000, "{}", whole.len());
        assert_eq!(to_yaml(&v, 100_000), None);
        let small = Value::from_json(json!({"a": ["b", "c"]}));
        let text = to_yaml(&small, usize::MAX).unwrap();
        assert_eq!(to_yaml(&small, text.len()), Some(text.clone()));
        assert_eq!(to_yaml(&small, text.len() - 1), None);
    }

    /// Each output as github.com/pulumi/esc v0.26.0's `fn::toYAML` wrote it.
    #[test]
    fn as_yaml_v3_writes_it() {
        use serde_json::json;
        assert_eq!(yaml(json!("hello")), "hello\n");
        assert_eq!(yaml(json!("a\nb\n")), "|\n    a\n    b\n");
        assert_eq!(yaml(json!("a\nb\n\n")), "|+\n    a\n    b\n\n");
        assert_eq!(yaml(json!(null)), "null\n");
        assert_eq!(yaml(json!("\n lead")), "|4-\n     lead\n");
        assert_eq!(yaml(json!("")), "\"\"\n");
        assert_eq!(yaml(json!([""])), "- \"\"\n");
        assert_eq!(yaml(json!("x\n")), "|\n    x\n");
        assert_eq!(
            yaml(json!([
                "a", ["b", "c"], [], {}, {"x": 1}, "l1\nl2", "  lead\nx", "tr \nx", "\tt",
                "é ☃ 😀", "it's", "#c", "a #b", "a: b", "- x", "-x", ":x", "null", "~", "yes",
                "1:20", "0x1F", "1e5", "2001-12-14", "2001-12-14T01:02:03Z", "...", "---x",
                "a\r\nb", "x\u{85}y"
            ])),
            "- a\n- - b\n  - c\n- []\n- {}\n- x: \"1\"\n- |-\n  l1\n  l2\n- |4-\n    lead\n  x\n\
             - \"tr \\nx\"\n- \"\\tt\"\n- \"é ☃ \\U0001F600\"\n- it's\n- '#c'\n- 'a #b'\n\
             - 'a: b'\n- '- x'\n- -x\n- :x\n- \"null\"\n- \"~\"\n- \"yes\"\n- \"1:20\"\n\
             - \"0x1F\"\n- \"1e5\"\n- \"2001-12-14\"\n- \"2001-12-14T01:02:03Z\"\n- '...'\n\
             - '---x'\n- \"a\\r\\nb\"\n- \"x\\Ny\"\n"
        );
        let long = format!("a-very-long-key-{}", "a".repeat(113));
        assert_eq!(
            yaml(json!({
                "m": {"n": {"lit": "x\ny", "seq": ["p\nq", {"k": "v\nw"}]}},
                "a10": 1, "a2": 2, "a02": 3, "b": true, "": "empty", "k\nl": "v",
                long.clone(): "v"
            })),
            format!(
                "\"\": empty\n? {long}\n: v\na2: \"2\"\na02: \"3\"\na10: \"1\"\nb: true\n\
                 ? |-\n    k\n    l\n: v\nm:\n    \"n\":\n        lit: |-\n            x\n\
                 \x20           y\n        seq:\n            - |-\n              p\n\
                 \x20             q\n            - k: |-\n                v\n\
                 \x20               w\n"
            )
        );
    }
}
