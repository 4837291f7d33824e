//! Reading the `secrets` YAML within budgets, because any class author controls it and one
//! daemon serves every pod on the node.
//!
//! Two problems of the YAML library are bounded here, before and during the parse:
//! - its scanner does work proportional to the flow nesting level for every token, so deeply
//!   nested flow collections (`[[[[…]]]]`) parse in quadratic time (80 KB took 13 s). A linear
//!   lexical pass ([`check_shape`]) measures the text and its flow nesting first and refuses
//!   before the parser runs;
//! - aliases are expanded into the tree: a 2.4 MB text aliasing one 4 KiB scalar grows to
//!   gigabytes. The tree is built by a visitor ([`parse`]) that counts every node and byte as
//!   the library replays aliases, and stops at the expansion budget.

use std::cell::Cell;
use std::fmt;

use serde::de::{
    DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde_norway::Value as Yaml;
use serde_norway::value::{Tag, TaggedValue};

use crate::class::limits::ClassLimits;

/// What a node costs against the expansion budget, beyond its text.
const NODE_BYTES: usize = 16;

/// Why the text was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    #[error("is {bytes} bytes, over the limit of {limit} (raise esc-csi's --max-secrets-bytes)")]
    TooLarge { bytes: usize, limit: usize },
    #[error("nests collections more than {limit} deep (raise esc-csi's --max-secrets-depth)")]
    TooDeep { limit: usize },
    #[error(
        "expands to more than {limit} bytes once YAML aliases (*name) are replaced by their \
         anchors (raise esc-csi's --max-secrets-expanded-bytes)"
    )]
    TooExpanded { limit: usize },
    #[error("not valid YAML: {0}")]
    Syntax(String),
}

/// One level into a flow collection, within the depth limit.
fn deeper(depth: usize, limits: &ClassLimits) -> Result<usize, YamlError> {
    if depth >= limits.max_secrets_depth {
        return Err(YamlError::TooDeep {
            limit: limits.max_secrets_depth,
        });
    }
    Ok(depth + 1)
}

/// Size and flow nesting of `text`, in one pass and without allocating. Quoted scalars and
/// comments are skipped as the YAML scanner would skip them; brackets in block-context plain
/// scalars (`a[0]`) count too, which only ever overstates the depth.
pub fn check_shape(text: &str, limits: &ClassLimits) -> Result<(), YamlError> {
    if text.len() > limits.max_secrets_bytes {
        return Err(YamlError::TooLarge {
            bytes: text.len(),
            limit: limits.max_secrets_bytes,
        });
    }
    let bytes = text.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    // The last byte that was not a space or tab, and whether whitespace followed it.
    let (mut previous, mut spaced) = (b'\n', true);
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'#' if spaced => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\'' | b'"' if starts_token(previous, spaced) => {
                // Brackets inside count towards the depth while inside (overstating it), and
                // the depth outside is restored at the closing quote.
                let outside = depth;
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' if b == b'"' => i += 1,
                        b'\'' if b == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 1,
                        q if q == b => break,
                        b'[' | b'{' => depth = deeper(depth, limits)?,
                        b']' | b'}' => depth = depth.saturating_sub(1).max(outside),
                        _ => {}
                    }
                    i += 1;
                }
                depth = outside;
                (previous, spaced) = (b, false);
                i += 1;
                continue;
            }
            b'[' | b'{' => depth = deeper(depth, limits)?,
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if b == b' ' || b == b'\t' || b == b'\n' || b == b'\r' {
            spaced = true;
            if b == b'\n' || b == b'\r' {
                previous = b'\n';
            }
        } else {
            (previous, spaced) = (b, false);
        }
        i += 1;
    }
    Ok(())
}

/// Whether a quote after `previous` (and whitespace, if `spaced`) starts a quoted scalar.
fn starts_token(previous: u8, spaced: bool) -> bool {
    matches!(previous, b'\n' | b'[' | b'{' | b',' | b'?')
        || (spaced && matches!(previous, b':' | b'-'))
}

/// Parses `text` (already through [`check_shape`]) into a tree, refusing once the expanded
/// tree passes the budget or the nesting limit.
pub fn parse(text: &str, limits: &ClassLimits) -> Result<Yaml, YamlError> {
    let state = State {
        left: Cell::new(limits.max_secrets_expanded_bytes),
        depth: Cell::new(0),
        max_depth: limits.max_secrets_depth,
        exceeded: Cell::new(None),
    };
    let result = Bounded(&state).deserialize(serde_norway::Deserializer::from_str(text));
    if let Some(error) = state.exceeded.get() {
        return Err(match error {
            Exceeded::Bytes => YamlError::TooExpanded {
                limit: limits.max_secrets_expanded_bytes,
            },
            Exceeded::Depth => YamlError::TooDeep {
                limit: limits.max_secrets_depth,
            },
        });
    }
    result.map_err(|e| YamlError::Syntax(e.to_string()))
}

#[derive(Debug, Clone, Copy)]
enum Exceeded {
    Bytes,
    Depth,
}

struct State {
    left: Cell<usize>,
    depth: Cell<usize>,
    max_depth: usize,
    exceeded: Cell<Option<Exceeded>>,
}

impl State {
    fn charge<E: serde::de::Error>(&self, bytes: usize) -> Result<(), E> {
        match self
            .left
            .get()
            .checked_sub(NODE_BYTES.saturating_add(bytes))
        {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => self.fail(Exceeded::Bytes),
        }
    }

    fn fail<T, E: serde::de::Error>(&self, why: Exceeded) -> Result<T, E> {
        self.exceeded.set(Some(why));
        Err(E::custom("budget exceeded"))
    }

    fn enter<E: serde::de::Error>(&self) -> Result<(), E> {
        if self.depth.get() >= self.max_depth {
            return self.fail(Exceeded::Depth);
        }
        self.depth.set(self.depth.get() + 1);
        Ok(())
    }

    fn leave(&self) {
        self.depth.set(self.depth.get().saturating_sub(1));
    }
}

/// Builds a [`Yaml`] tree like the library's own `Deserialize`, charging the budget.
#[derive(Clone, Copy)]
struct Bounded<'s>(&'s State);

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Yaml;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Yaml, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Yaml;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Yaml, E> {
        self.0.charge(0)?;
        Ok(Yaml::Bool(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Yaml, E> {
        self.0.charge(0)?;
        Ok(Yaml::Number(v.into()))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Yaml, E> {
        self.0.charge(0)?;
        Ok(Yaml::Number(v.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Yaml, E> {
        self.0.charge(0)?;
        Ok(Yaml::Number(v.into()))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Yaml, E> {
        self.0.charge(v.len())?;
        Ok(Yaml::String(v.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Yaml, E> {
        self.0.charge(v.len())?;
        Ok(Yaml::String(v))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Yaml, E> {
        self.0.charge(0)?;
        Ok(Yaml::Null)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Yaml, E> {
        self.visit_unit()
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Yaml, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Yaml, A::Error> {
        self.0.charge(0)?;
        self.0.enter()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        self.0.leave();
        Ok(Yaml::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Yaml, A::Error> {
        self.0.charge(0)?;
        self.0.enter()?;
        let mut mapping = serde_norway::Mapping::new();
        while let Some(key) = map.next_key_seed(self)? {
            let value = map.next_value_seed(self)?;
            if mapping.insert(key, value).is_some() {
                return Err(serde::de::Error::custom("duplicate key in a mapping"));
            }
        }
        self.0.leave();
        Ok(Yaml::Mapping(mapping))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Yaml, A::Error> {
        let (tag, contents) = data.variant::<String>()?;
        self.0.charge(tag.len())?;
        let value = contents.newtype_variant_seed(self)?;
        let tag = if tag.is_empty() { "!".to_owned() } else { tag };
        Ok(Yaml::Tagged(Box::new(TaggedValue {
            tag: Tag::new(tag),
            value,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ClassLimits {
        ClassLimits {
            max_secrets_bytes: 1 << 20,
            max_secrets_depth: 8,
            max_items: 1000,
            max_secrets_expanded_bytes: 64 << 10,
        }
    }

    #[test]
    fn ordinary_lists_pass_the_shape_check() {
        for ok in [
            "- fileName: a\n  secretKey: 'x[\"a\"][\"b\"]'\n",
            "- {fileName: a, secretKey: app.list[0]}\n- {fileName: b}\n",
            "- fileName: a # [[[[[[[[[[[[ a comment\n",
            "- {fileName: \"[[[[[[\", secretKey: '[0][1][2][3][4][5][6][7][8][9][10]'}\n",
        ] {
            assert_eq!(check_shape(ok, &limits()), Ok(()), "{ok}");
        }
    }

    #[test]
    fn deep_flow_nesting_is_refused_before_parsing_even_when_quotes_try_to_hide_closers() {
        let deep = format!("- {{fileName: a, x: {}}}", "[".repeat(100_000));
        assert_eq!(
            check_shape(&deep, &limits()),
            Err(YamlError::TooDeep { limit: 8 })
        );
        // Closers inside a quoted scalar do not close anything.
        let hidden = "- x: [[[[[[ ']]]]]]]]' [[[[[[ ]]]]]]]]]]]]";
        assert!(check_shape(hidden, &limits()).is_err());
    }

    #[test]
    fn text_over_the_size_limit_is_refused() {
        let small = ClassLimits {
            max_secrets_bytes: 10,
            ..limits()
        };
        assert_eq!(
            check_shape("- fileName: abcdef", &small),
            Err(YamlError::TooLarge {
                bytes: 18,
                limit: 10
            })
        );
    }

    #[test]
    fn alias_expansion_stops_at_the_budget() {
        let big = "x".repeat(4096);
        let mut text = format!("- {{fileName: &a {big}}}\n");
        for _ in 0..100 {
            text.push_str("- {fileName: *a}\n");
        }
        assert_eq!(check_shape(&text, &limits()), Ok(()));
        assert_eq!(
            parse(&text, &limits()),
            Err(YamlError::TooExpanded { limit: 64 << 10 })
        );
        let few = format!("- {{fileName: &a {big}}}\n- {{fileName: *a}}\n");
        assert!(parse(&few, &limits()).is_ok());
    }

    #[test]
    fn block_nesting_is_bounded_while_parsing() {
        let mut text = String::new();
        for level in 0..20 {
            text.push_str(&format!("{}- \n", "  ".repeat(level)));
        }
        assert_eq!(
            parse(&text, &limits()),
            Err(YamlError::TooDeep { limit: 8 })
        );
    }

    #[test]
    fn the_tree_is_the_one_the_library_builds() {
        let text = "- {fileName: a, mode: '0400', n: 7, t: !tag x, b: true, z: ~}\n";
        let ours = parse(text, &limits()).unwrap();
        let theirs: Yaml = serde_norway::from_str(text).unwrap();
        assert_eq!(ours, theirs);
        assert_eq!(parse("", &limits()).unwrap(), Yaml::Null);
    }
}
