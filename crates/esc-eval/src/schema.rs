//! The JSON-schema subset the language uses to type builtin arguments, provider inputs and
//! outputs, and `fn::validate`.
//!
//! Schemas are immutable once built and shared through `Rc`. A `$ref` points into the
//! `$defs` of the document it was written in. Nodes outside `$defs` own that table; nodes
//! inside it point back weakly, since a definition that refers to itself (or to another
//! that refers back) would otherwise keep the table alive forever, and the evaluator runs
//! in a long-lived server compiling a schema for every `fn::validate`.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::rc::{Rc, Weak};

use serde_json::Value as Json;

/// A document's `$defs`, by name.
type Defs = BTreeMap<String, Rc<Schema>>;

/// How a node reaches the `$defs` its `$ref` resolves against.
#[derive(Debug, Clone)]
enum DefsLink {
    /// From outside `$defs`: keeps them alive.
    Owner(Rc<Defs>),
    /// From inside `$defs`: the table already owns this node.
    Member(Weak<Defs>),
}

/// A `$ref`: the definition's name and where to look it up.
#[derive(Debug, Clone)]
pub(crate) struct Reference {
    name: String,
    defs: DefsLink,
}

/// The definition a `$ref` names, holding its document's `$defs` alive while in use (so
/// the `$ref`s inside it keep resolving even if the referring schema is dropped meanwhile).
#[derive(Debug)]
pub(crate) struct Target {
    _defs: Rc<Defs>,
    schema: Rc<Schema>,
}

impl Deref for Target {
    type Target = Rc<Schema>;

    fn deref(&self) -> &Rc<Schema> {
        &self.schema
    }
}

/// A compiled schema. `always` accepts anything, `never` nothing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Schema {
    pub(crate) never: bool,
    pub(crate) always: bool,
    pub(crate) reference: Option<Reference>,
    pub(crate) any_of: Vec<Rc<Schema>>,
    pub(crate) one_of: Vec<Rc<Schema>>,
    pub(crate) prefix_items: Vec<Rc<Schema>>,
    pub(crate) items: Option<Rc<Schema>>,
    pub(crate) additional_properties: Option<Rc<Schema>>,
    pub(crate) properties: BTreeMap<String, Rc<Schema>>,
    pub(crate) ty: String,
    pub(crate) constant: Option<Json>,
    pub(crate) enumeration: Vec<Json>,
    pub(crate) multiple_of: Option<Bound>,
    pub(crate) maximum: Option<Bound>,
    pub(crate) exclusive_maximum: Option<Bound>,
    pub(crate) minimum: Option<Bound>,
    pub(crate) exclusive_minimum: Option<Bound>,
    pub(crate) max_length: Option<u64>,
    pub(crate) min_length: Option<u64>,
    pub(crate) pattern: Option<regex::Regex>,
    pub(crate) max_items: Option<u64>,
    pub(crate) min_items: Option<u64>,
    pub(crate) max_properties: Option<u64>,
    pub(crate) min_properties: Option<u64>,
    pub(crate) required: Vec<String>,
    pub(crate) dependent_required: BTreeMap<String, Vec<String>>,
    pub(crate) rotate_only: bool,
}

/// A numeric bound: its value, and its text as written (messages quote the text).
#[derive(Debug, Clone)]
pub(crate) struct Bound {
    pub(crate) value: f64,
    pub(crate) text: String,
}

pub(crate) fn always() -> Rc<Schema> {
    Rc::new(Schema {
        always: true,
        ..Schema::default()
    })
}

pub(crate) fn never() -> Rc<Schema> {
    Rc::new(Schema {
        never: true,
        ..Schema::default()
    })
}

pub(crate) fn of_type(ty: &str) -> Schema {
    Schema {
        ty: ty.to_owned(),
        ..Schema::default()
    }
}

pub(crate) fn typed(ty: &str) -> Rc<Schema> {
    Rc::new(of_type(ty))
}

/// An array whose items all match `items`.
pub(crate) fn array_of(items: Rc<Schema>) -> Rc<Schema> {
    Rc::new(Schema {
        items: Some(items),
        ..of_type("array")
    })
}

/// An object with exactly these (required) properties.
pub(crate) fn record(properties: BTreeMap<String, Rc<Schema>>) -> Schema {
    let required = properties.keys().cloned().collect();
    Schema {
        properties,
        required,
        ..of_type("object")
    }
}

/// An array with exactly these items.
pub(crate) fn tuple(items: Vec<Rc<Schema>>) -> Rc<Schema> {
    Rc::new(Schema {
        prefix_items: items,
        items: Some(never()),
        ..of_type("array")
    })
}

pub(crate) fn constant(ty: &str, value: Json) -> Rc<Schema> {
    Rc::new(Schema {
        constant: Some(value),
        ..of_type(ty)
    })
}

impl Schema {
    pub(crate) fn is_any(s: Option<&Rc<Schema>>) -> bool {
        s.is_none_or(|s| s.always)
    }

    /// The schema `$ref` points to, if any.
    pub(crate) fn target(&self) -> Option<Target> {
        let r = self.reference.as_ref()?;
        let defs = match &r.defs {
            DefsLink::Owner(d) => d.clone(),
            DefsLink::Member(d) => d.upgrade()?,
        };
        let schema = defs.get(&r.name)?.clone();
        Some(Target {
            _defs: defs,
            schema,
        })
    }

    fn array_item(&self, index: usize) -> Option<Rc<Schema>> {
        if self.ty != "array" {
            return Some(never());
        }
        match self.prefix_items.get(index) {
            Some(s) => Some(s.clone()),
            None => self.items.clone(),
        }
    }

    /// The schema of element `index`.
    pub(crate) fn item(&self, index: usize) -> Rc<Schema> {
        let mut all: Vec<Option<Rc<Schema>>> = Vec::new();
        all.extend(self.any_of.iter().map(|s| Some(s.item(index))));
        all.extend(self.one_of.iter().map(|s| Some(s.item(index))));
        all.push(self.array_item(index));
        union(all)
    }

    fn object_property(&self, name: &str) -> Option<Rc<Schema>> {
        if self.ty != "object" {
            return Some(never());
        }
        match self.properties.get(name) {
            Some(s) => Some(s.clone()),
            None => self.additional_properties.clone(),
        }
    }

    /// The schema of property `name`.
    pub(crate) fn property(&self, name: &str) -> Rc<Schema> {
        let mut all: Vec<Option<Rc<Schema>>> = Vec::new();
        all.extend(self.any_of.iter().map(|s| Some(s.property(name))));
        all.extend(self.one_of.iter().map(|s| Some(s.property(name))));
        all.push(self.object_property(name));
        union(all)
    }
}

fn union(all: Vec<Option<Rc<Schema>>>) -> Rc<Schema> {
    let mut kept: Vec<Rc<Schema>> = all.into_iter().flatten().filter(|s| !s.never).collect();
    match kept.len() {
        0 => never(),
        1 => kept.pop().unwrap_or_else(never),
        _ => {
            let rotate_only = kept.iter().all(|s| s.rotate_only);
            Rc::new(Schema {
                one_of: kept,
                rotate_only,
                ..Schema::default()
            })
        }
    }
}

fn mark_rotate_only(s: &Rc<Schema>) -> Rc<Schema> {
    if s.rotate_only {
        return s.clone();
    }
    let mut copy = (**s).clone();
    copy.rotate_only = true;
    copy.any_of = s.any_of.iter().map(mark_rotate_only).collect();
    copy.one_of = s.one_of.iter().map(mark_rotate_only).collect();
    copy.prefix_items = s.prefix_items.iter().map(mark_rotate_only).collect();
    copy.items = s.items.as_ref().map(mark_rotate_only);
    copy.additional_properties = s.additional_properties.as_ref().map(mark_rotate_only);
    copy.properties = s
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), mark_rotate_only(v)))
        .collect();
    Rc::new(copy)
}

/// Merges the schema of an imported object with the schema of the object overriding it.
pub(crate) fn merged(base: &Rc<Schema>, top: &Rc<Schema>) -> Rc<Schema> {
    if top.ty != "object" || base.ty != "object" {
        return top.clone();
    }
    let mut properties = base.properties.clone();
    for (k, t) in &top.properties {
        let m = match properties.get(k) {
            Some(b) => merged(b, t),
            None => t.clone(),
        };
        properties.insert(k.clone(), m);
    }
    let additional = match (&top.additional_properties, &base.additional_properties) {
        (a, None) => a.clone(),
        (None, Some(b)) => Some(b.clone()),
        (Some(_), Some(_)) => Some(always()),
    };
    Rc::new(Schema {
        additional_properties: additional,
        ..record(properties)
    })
}

/// Parses and compiles a schema from its JSON form; the error says why it is invalid.
pub(crate) fn from_json(json: &Json) -> Result<Rc<Schema>, String> {
    // The definitions are built first, pointing weakly at the table they end up in.
    let mut failure = None;
    let defs = Rc::new_cyclic(|table| {
        let link = DefsLink::Member(table.clone());
        let mut defs = Defs::new();
        if let Json::Object(obj) = json
            && let Some(Json::Object(d)) = obj.get("$defs")
        {
            for (k, v) in d {
                match parse(v, &link) {
                    Ok(p) => {
                        defs.insert(k.clone(), p);
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
        }
        defs
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let root = parse(json, &DefsLink::Owner(defs.clone()))?;
    check_refs(&root, &defs)?;
    Ok(root)
}

fn number_text(j: &Json) -> Result<String, String> {
    match j {
        Json::Number(n) => Ok(n.to_string()),
        other => Err(format!(
            "json: cannot unmarshal {} into a number",
            kind_of(other)
        )),
    }
}

fn kind_of(j: &Json) -> &'static str {
    match j {
        Json::Null => "null",
        Json::Bool(_) => "bool",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

type Object = serde_json::Map<String, Json>;

fn parse(json: &Json, defs: &DefsLink) -> Result<Rc<Schema>, String> {
    let obj = match json {
        Json::Bool(true) => return Ok(always()),
        Json::Bool(false) => return Ok(never()),
        Json::Object(obj) => obj,
        other => {
            return Err(format!(
                "json: cannot unmarshal {} into a schema",
                kind_of(other)
            ));
        }
    };
    // The order of the steps decides which error is reported first; keep it.
    let mut s = Schema::default();
    parse_subschemas(obj, defs, &mut s)?;
    parse_constraints(obj, &mut s)?;
    parse_required(obj, &mut s);
    Ok(Rc::new(s))
}

/// `$ref`, `anyOf`, `oneOf`, `prefixItems`, `items`, `additionalProperties`, `properties`.
fn parse_subschemas(obj: &Object, defs: &DefsLink, s: &mut Schema) -> Result<(), String> {
    let list = |key: &str| -> Result<Vec<Rc<Schema>>, String> {
        match obj.get(key) {
            Some(Json::Array(a)) => a.iter().map(|j| parse(j, defs)).collect(),
            _ => Ok(Vec::new()),
        }
    };
    let one = |key: &str| -> Result<Option<Rc<Schema>>, String> {
        obj.get(key).map(|j| parse(j, defs)).transpose()
    };
    if let Some(r) = obj.get("$ref").and_then(Json::as_str) {
        let name = r
            .strip_prefix("#/$defs/")
            .filter(|n| !n.contains('/'))
            .ok_or("only fragment references of the form #/$defs/ref are supported")?;
        s.reference = Some(Reference {
            name: name.to_owned(),
            defs: defs.clone(),
        });
    }
    s.any_of = list("anyOf")?;
    s.one_of = list("oneOf")?;
    s.prefix_items = list("prefixItems")?;
    s.items = one("items")?;
    s.additional_properties = one("additionalProperties")?;
    if let Some(Json::Object(p)) = obj.get("properties") {
        for (k, v) in p {
            s.properties.insert(k.clone(), parse(v, defs)?);
        }
    }
    Ok(())
}

/// `type`, `const`, `enum`, the numeric bounds, the length and count limits, `pattern`.
fn parse_constraints(obj: &Object, s: &mut Schema) -> Result<(), String> {
    let bound = |key: &str| -> Result<Option<Bound>, String> {
        match obj.get(key) {
            None => Ok(None),
            Some(j) => {
                let text = number_text(j)?;
                let value = text.parse::<f64>().map_err(|e| e.to_string())?;
                Ok(Some(Bound { value, text }))
            }
        }
    };
    let count = |key: &str| -> Result<Option<u64>, String> {
        match obj.get(key) {
            None => Ok(None),
            Some(j) => {
                let text = number_text(j)?;
                text.parse::<u64>()
                    .map(Some)
                    .map_err(|_| format!("strconv.ParseUint: parsing {text:?}: invalid syntax"))
            }
        }
    };
    if let Some(t) = obj.get("type").and_then(Json::as_str) {
        t.clone_into(&mut s.ty);
    }
    s.constant = obj.get("const").filter(|c| !c.is_null()).cloned();
    if let Some(Json::Array(e)) = obj.get("enum") {
        s.enumeration.clone_from(e);
    }
    s.multiple_of = bound("multipleOf")?;
    s.maximum = bound("maximum")?;
    s.exclusive_maximum = bound("exclusiveMaximum")?;
    s.minimum = bound("minimum")?;
    s.exclusive_minimum = bound("exclusiveMinimum")?;
    s.max_length = count("maxLength")?;
    s.min_length = count("minLength")?;
    s.max_items = count("maxItems")?;
    s.min_items = count("minItems")?;
    s.max_properties = count("maxProperties")?;
    s.min_properties = count("minProperties")?;
    if let Some(p) = obj
        .get("pattern")
        .and_then(Json::as_str)
        .filter(|p| !p.is_empty())
    {
        s.pattern = Some(regex::Regex::new(p).map_err(|e| e.to_string())?);
    }
    Ok(())
}

/// `required`, `dependentRequired`, and `rotateOnly` (which marks properties already parsed).
fn parse_required(obj: &Object, s: &mut Schema) {
    let strings = |j: Option<&Json>| -> Vec<String> {
        match j {
            Some(Json::Array(a)) => a
                .iter()
                .filter_map(Json::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    };
    s.required = strings(obj.get("required"));
    if let Some(Json::Object(d)) = obj.get("dependentRequired") {
        for (k, v) in d {
            s.dependent_required.insert(k.clone(), strings(Some(v)));
        }
    }
    for name in strings(obj.get("rotateOnly")) {
        if let Some(p) = s.properties.get(&name) {
            let marked = mark_rotate_only(p);
            s.properties.insert(name, marked);
        }
    }
}

fn check_refs(s: &Schema, defs: &Defs) -> Result<(), String> {
    if let Some(r) = &s.reference
        && !defs.contains_key(&r.name)
    {
        return Err(format!("unknown subschema #/$defs/{}", r.name));
    }
    let children = s
        .any_of
        .iter()
        .chain(&s.one_of)
        .chain(&s.prefix_items)
        .chain(&s.items)
        .chain(&s.additional_properties)
        .chain(s.properties.values());
    for c in children {
        check_refs(c, defs)?;
    }
    Ok(())
}

thread_local! {
    static META: Rc<Schema> = meta_schema();
}

/// The schema of schemas that `fn::validate` accepts.
pub(crate) fn json_schema_schema() -> Rc<Schema> {
    META.with(Rc::clone)
}

fn meta_schema() -> Rc<Schema> {
    let r = serde_json::json!({"$ref": "#/$defs/schema"});
    let arr_of_schema = serde_json::json!({"type": "array", "items": r});
    let map_of_schema = serde_json::json!({"type": "object", "additionalProperties": r});
    let num = serde_json::json!({"type": "number"});
    let json = serde_json::json!({
        "$ref": "#/$defs/schema",
        "$defs": {"schema": {"anyOf": [
            {"type": "boolean"},
            {"type": "object", "properties": {
                "$defs": map_of_schema, "$ref": {"type": "string"},
                "anyOf": arr_of_schema, "oneOf": arr_of_schema, "prefixItems": arr_of_schema,
                "items": r, "additionalProperties": r, "properties": map_of_schema,
                "type": {"type": "string",
                         "enum": ["string", "number", "boolean", "array", "object", "null"]},
                "const": {}, "enum": {"type": "array"},
                "multipleOf": num, "maximum": num, "exclusiveMaximum": num, "minimum": num,
                "exclusiveMinimum": num, "maxLength": num, "minLength": num,
                "pattern": {"type": "string"}, "maxItems": num, "minItems": num,
                "uniqueItems": {"type": "boolean"}, "maxProperties": num, "minProperties": num,
                "required": {"type": "array", "items": {"type": "string"}},
                "dependentRequired": {"type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                "title": {"type": "string"}, "description": {"type": "string"}, "default": {},
                "deprecated": {"type": "boolean"}, "examples": {"type": "array"}
            }}
        ]}}
    });
    from_json(&json).unwrap_or_else(|_| always())
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::from_json;

    #[test]
    fn a_schema_whose_definitions_refer_to_each_other_is_freed_when_dropped() {
        let json = serde_json::json!({
            "$ref": "#/$defs/tree",
            "$defs": {"tree": {"type": "object", "properties": {
                "children": {"type": "array", "items": {"$ref": "#/$defs/tree"}}
            }}}
        });
        let root = from_json(&json).expect("valid schema");
        let tree = Rc::downgrade(&root.target().expect("resolves"));
        assert!(
            tree.upgrade().is_some(),
            "the definition is alive while the root is"
        );
        drop(root);
        assert!(
            tree.upgrade().is_none(),
            "the definition outlived its schema"
        );
    }

    #[test]
    fn a_held_definition_keeps_resolving_its_references_after_the_root_is_dropped() {
        let json = serde_json::json!({
            "$ref": "#/$defs/a",
            "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"type": "string"}}
        });
        let root = from_json(&json).expect("valid schema");
        let a = root.target().expect("resolves");
        drop(root);
        let b = a.target().expect("still resolves");
        assert_eq!(b.ty, "string");
    }
}
