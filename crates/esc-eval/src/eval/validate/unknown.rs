//! Checking an unknown value (a provider's output in a check) by comparing its schema with
//! the accepted one, so that a check reports the type errors evaluation would, without
//! opening anything.

use std::rc::Rc;

use super::{At, Validator};
use crate::schema::Schema;

fn is_any(s: Option<&Rc<Schema>>) -> bool {
    Schema::is_any(s)
}

impl<'a> Validator<'a> {
    pub(super) fn schema_type(
        &mut self,
        x: Option<&Rc<Schema>>,
        accept: Option<&Rc<Schema>>,
        at: &At,
    ) -> bool {
        if is_any(accept) {
            return true;
        }
        let Some(accept) = accept else { return true };
        if accept.never {
            return false;
        }
        if is_any(x) {
            return true;
        }
        let Some(x) = x else { return true };
        if x.never {
            return false;
        }
        let ref_ok = match accept.target() {
            Some(t) => self.schema_type(Some(x), Some(&t), at),
            None => true,
        };
        let x_ref_ok = match x.target() {
            Some(t) => self.schema_type(Some(&t), Some(accept), at),
            None => true,
        };
        let x_any_ok = self.alternatives(
            &x.any_of,
            |v, s, at| v.schema_type(Some(s), Some(accept), at),
            at,
        );
        let x_one_ok = self.alternatives(
            &x.one_of,
            |v, s, at| v.schema_type(Some(s), Some(accept), at),
            at,
        );
        let type_ok = x.ty.is_empty() || self.check_type(&x.ty, accept, at);
        let any_ok = self.alternatives(
            &accept.any_of,
            |v, s, at| v.schema_type(Some(x), Some(s), at),
            at,
        );
        let one_ok = self.alternatives(
            &accept.one_of,
            |v, s, at| v.schema_type(Some(x), Some(s), at),
            at,
        );
        let complex_ok = match x.ty.as_str() {
            "array" => self.schema_array(x, accept, at),
            "object" => self.schema_object(x, accept, at),
            _ => true,
        };
        ref_ok && x_ref_ok && x_any_ok && x_one_ok && type_ok && any_ok && one_ok && complex_ok
    }

    /// `anyOf`: at least one of `options` passes `check`; else every option's diagnostics and
    /// the summary.
    pub(super) fn alternatives(
        &mut self,
        options: &[Rc<Schema>],
        check: impl Fn(&mut Validator<'a>, &Rc<Schema>, &At) -> bool,
        at: &At,
    ) -> bool {
        if options.is_empty() {
            return true;
        }
        let mut matched = false;
        let mut all = Vec::new();
        for s in options {
            let mut sub = self.sub();
            if check(&mut sub, s, at) {
                matched = true;
            }
            all.extend(sub.diags);
        }
        if !matched {
            self.diags.extend(all);
            return self.error(at, "at least one subschema must match".into());
        }
        true
    }

    fn schema_array(&mut self, x: &Rc<Schema>, accept: &Rc<Schema>, at: &At) -> bool {
        let mut ok = true;
        let (xp, ap) = (&x.prefix_items, &accept.prefix_items);
        let common = xp.len().min(ap.len());
        for i in 0..common {
            let a = at.index(self.xs, i);
            ok &= self.schema_type(Some(&xp[i]), Some(&ap[i]), &a);
        }
        if xp.len() > common {
            for (i, s) in xp.iter().enumerate().skip(common) {
                let a = at.index(self.xs, i);
                ok &= self.schema_type(Some(s), accept.items.as_ref(), &a);
            }
        } else {
            for (i, s) in ap.iter().enumerate().skip(common) {
                let a = at.index(self.xs, i);
                ok &= self.schema_type(x.items.as_ref(), Some(s), &a);
            }
        }
        if let Some(items) = &x.items
            && !items.never
        {
            ok &= self.schema_type(Some(items), accept.items.as_ref(), at);
        }
        ok
    }

    fn schema_object(&mut self, x: &Rc<Schema>, accept: &Rc<Schema>, at: &At) -> bool {
        let mut ok = true;
        for (name, px) in &x.properties {
            let a = at.property(self.xs, name);
            let pa = accept
                .properties
                .get(name)
                .or(accept.additional_properties.as_ref());
            ok &= self.schema_type(Some(px), pa, &a);
        }
        match &x.additional_properties {
            None => {
                let has = |n: &String| x.required.contains(n);
                let check = |v: &mut Validator<'a>, names: &[String]| {
                    let mut good = true;
                    for n in names {
                        if !has(n) {
                            let a = at.property(v.xs, n);
                            v.error(&a, "missing required property".into());
                            good = false;
                        }
                    }
                    good
                };
                ok &= check(self, &accept.required);
                for (name, req) in &accept.dependent_required {
                    if has(name) {
                        ok &= check(self, req);
                    }
                }
            }
            Some(ap) if !ap.never => {
                ok &= self.schema_type(Some(ap), accept.additional_properties.as_ref(), at);
            }
            Some(_) => {}
        }
        ok
    }
}
