//! Evaluating one environment: its imports (merged in order, each evaluated once, cycles
//! reported), its `context`, and its top-level values layered over the merged imports.

use std::collections::BTreeMap;

use super::values::{copy_value, merge, property, unexport};
use super::{Env, Repr, Run, V, XId, XKind, rc, val};
use crate::ast::{self, Loc};
use crate::budget;
use crate::schema;
use crate::{Data, Severity, Value};

impl Run<'_> {
    /// Evaluates environment `name`; `root_name` is the root environment's name for
    /// `context.rootEnvironment`.
    pub(crate) fn evaluate_env(
        &mut self,
        name: &str,
        root_name: &str,
        is_root: bool,
        decl: &ast::Environment,
    ) -> V {
        self.imported.insert(name.to_owned(), None);

        let context = self.context_value(name, root_name);
        let mut base: Option<V> = None;
        let mut mine = BTreeMap::new();
        let child_root = if root_name.is_empty() || root_name == "<yaml>" {
            name
        } else {
            root_name
        };
        let child_root = child_root.to_owned();
        for import in &decl.imports {
            let at = self.push(
                String::new(),
                import.loc.clone(),
                XKind::Missing,
                schema::always(),
                None,
            );
            let Some(v) = self.import(at, &import.environment, &child_root) else {
                continue;
            };
            mine.insert(import.environment.clone(), v.clone());
            if import.merge {
                let copy = copy_value(&v);
                merge(&copy, base.take());
                base = Some(copy);
            }
        }
        let imports_def = self.push(
            String::new(),
            Loc::default(),
            XKind::Missing,
            schema::always(),
            None,
        );
        let imports = rc(val(imports_def, Repr::Object(mine)));

        let mut props = BTreeMap::new();
        for (key, kloc, x) in &decl.values {
            if matches!(key.as_str(), "imports" | "context" | "environments") {
                self.diags
                    .push(kloc.error(format!("{key:?} is a reserved key")));
            } else if props.contains_key(key) {
                self.diags
                    .push(kloc.error(format!("duplicate key {key:?}")));
            } else {
                let b = base.as_ref().and_then(|b| property(b, key));
                let id = self.declare(key, x, b);
                props.insert(key.clone(), id);
            }
        }
        let root = self.push(
            format!("<{name}>"),
            Loc::default(),
            XKind::Object(props),
            schema::always(),
            base,
        );
        let env = Env {
            is_root,
            root,
            context,
            imports,
            child_root,
        };
        let v = self.eval(&env, root, &schema::always());
        self.imported.insert(name.to_owned(), Some(v.clone()));
        v
    }

    pub(super) fn context_value(&mut self, name: &str, root_name: &str) -> V {
        let def = self.push(
            String::new(),
            Loc::default(),
            XKind::Missing,
            schema::always(),
            None,
        );
        let root = if root_name.is_empty() || root_name == "<yaml>" {
            name
        } else {
            root_name
        };
        let mut ctx = self.opts.context.clone();
        let named = |n: &str| {
            let mut m = BTreeMap::new();
            m.insert("name".to_owned(), Value::new(Data::String(n.to_owned())));
            Value::new(Data::Object(m))
        };
        ctx.insert("currentEnvironment".into(), named(name));
        ctx.insert("rootEnvironment".into(), named(root));
        unexport(&Value::new(Data::Object(ctx)), def, false)
    }

    /// Imports `name`, each environment once per evaluation: an import diamond (each level
    /// importing the two below it) loads every environment once, not once per path.
    pub(super) fn import(&mut self, at: XId, name: &str, root_name: &str) -> Option<V> {
        let limits = budget::limits();
        self.imports_seen += 1;
        if self.imports_seen > limits.max_imports {
            let max = limits.max_imports;
            self.error(
                at,
                format!("more than {max} imports in one evaluation (the imports budget)"),
            );
            return None;
        }
        if let Some(state) = self.imported.get(name) {
            return match state {
                Some(v) => Some(v.clone()),
                None => {
                    self.error(at, format!("cyclic import of {name}"));
                    None
                }
            };
        }
        if self.import_depth >= limits.max_import_depth {
            let max = limits.max_import_depth;
            self.error(
                at,
                format!(
                    "imports nest deeper than {max} levels at {name} (the import-depth budget)"
                ),
            );
            return None;
        }
        let bytes = match self.opts.environments.load(name) {
            Ok(b) => b,
            Err(e) => {
                self.error(at, e);
                return None;
            }
        };
        if !budget::total(bytes.len()) {
            self.over_budget(at);
            return None;
        }
        let (decl, diags) = crate::load_decl(name, &bytes);
        let failed = diags.iter().any(|d| d.severity == Severity::Error);
        self.diags.extend(diags);
        let decl = decl?;
        if failed {
            return None;
        }
        self.import_depth += 1;
        let v = self.evaluate_env(name, root_name, false, &decl);
        self.import_depth -= 1;
        Some(v)
    }
}
