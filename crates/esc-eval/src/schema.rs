//! The JSON-schema subset the language uses to type builtin arguments, provider inputs and
//! outputs, and `fn::validate`.
//!
//! Schemas are immutable once built and shared through `Rc`. `$ref`s point into the `$defs`
//! of the root they were parsed with; a root whose definitions refer to each other is kept
//! alive by that reference cycle, which is acceptable for the few schemas that use `$ref`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::Value as Json;

type Defs = Rc<RefCell<BTreeMap<String, Rc<Schema>>>>;

/// A compiled schema. `always` accepts anything, `never` nothing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Schema {
    pub(crate) never: bool,
    pub(crate) always: bool,
    pub(crate) reference: Option<(Defs, String)>,
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
    pub(crate) fn target(&self) -> Option<Rc<Schema>> {
        let (defs, name) = self.reference.as_ref()?;
        defs.borrow().get(name).cloned()
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
    let defs: Defs = Rc::default();
    let root = parse(json, &defs, true)?;
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

fn parse(json: &Json, defs: &Defs, root: bool) -> Result<Rc<Schema>, String> {
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
    let mut s = Schema::default();
    if root && let Some(Json::Object(d)) = obj.get("$defs") {
        for (k, v) in d {
            let p = parse(v, defs, false)?;
            defs.borrow_mut().insert(k.clone(), p);
        }
    }
    let list = |key: &str| -> Result<Vec<Rc<Schema>>, String> {
        match obj.get(key) {
            Some(Json::Array(a)) => a.iter().map(|j| parse(j, defs, false)).collect(),
            _ => Ok(Vec::new()),
        }
    };
    let one = |key: &str| -> Result<Option<Rc<Schema>>, String> {
        obj.get(key).map(|j| parse(j, defs, false)).transpose()
    };
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
    if let Some(r) = obj.get("$ref").and_then(Json::as_str) {
        let name = r
            .strip_prefix("#/$defs/")
            .filter(|n| !n.contains('/'))
            .ok_or("only fragment references of the form #/$defs/ref are supported")?;
        s.reference = Some((defs.clone(), name.to_owned()));
    }
    s.any_of = list("anyOf")?;
    s.one_of = list("oneOf")?;
    s.prefix_items = list("prefixItems")?;
    s.items = one("items")?;
    s.additional_properties = one("additionalProperties")?;
    if let Some(Json::Object(p)) = obj.get("properties") {
        for (k, v) in p {
            s.properties.insert(k.clone(), parse(v, defs, false)?);
        }
    }
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
    if root {
        check_refs(&s, defs)?;
    }
    Ok(Rc::new(s))
}

fn check_refs(s: &Schema, defs: &Defs) -> Result<(), String> {
    if let Some((_, name)) = &s.reference
        && !defs.borrow().contains_key(name)
    {
        return Err(format!("unknown subschema #/$defs/{name}"));
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
