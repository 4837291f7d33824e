//! No crate of the workspace has an import circle: within every module, the submodules' uses of
//! each other (`crate::a::..`, `super::a::..`, in `use` lines and in code) form no cycle. A
//! circle means no file of it can be read, changed or tested without the others; it usually
//! comes from one type living in the wrong module.
//!
//! Read from the sources, not from rustc: a module's reference to an item of one of its
//! ancestors (`crate::Error`, `super::Env`) is not an edge (a parent declares its children),
//! nor is a parent's reference to its child; test modules (`#[cfg(test)] mod ...`, the rest of
//! the file after it) are left out. Paths through re-exports count where the re-export is
//! named (`crate::X` re-exported at the root counts as the root, so as no edge).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support;

/// A module as its path from the crate root (`[]` is the root).
type Module = Vec<String>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file under `src` is (`a/b.rs` and `a/b/mod.rs` are `a::b`).
fn module_of(src: &Path, file: &Path) -> Option<Module> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    match (parts.is_empty(), stem) {
        (true, "lib" | "main") => {}
        (_, "mod") => {}
        _ => parts.push(stem.to_owned()),
    }
    Some(parts)
}

/// The file's text without comments and without its test module (everything from the
/// `#[cfg(test)]` that opens it).
fn code_of(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod "))
        {
            break;
        }
        let line = line.split("//").next().unwrap_or("");
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// Splits a `use` tree into its paths: `crate::{a::X, b::{Y, Z}}` gives `crate::a::X`,
/// `crate::b::Y` and `crate::b::Z`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.split_whitespace().collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{prefix}{p}")))
        .collect()
}

/// Every `crate::`/`super::` path the code names, in `use` trees and inline.
fn paths_in(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    // `use` trees first (they may group paths in braces), then the code without them.
    let mut without_uses = String::new();
    while let Some(at) = rest.find("use ") {
        let starts_word = at == 0
            || !rest[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let Some(end) = rest[at..].find(';') else {
            break;
        };
        without_uses.push_str(&rest[..at]);
        let tree = &rest[at + 4..at + end];
        if starts_word
            && (tree.trim_start().starts_with("crate") || tree.trim_start().starts_with("super"))
        {
            out.extend(expand(tree));
        } else {
            without_uses.push_str(&rest[at..at + end]);
        }
        rest = &rest[at + end..];
    }
    without_uses.push_str(rest);
    let bytes = without_uses.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = without_uses[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            if at > 0
                && (bytes[at - 1].is_ascii_alphanumeric()
                    || bytes[at - 1] == b'_'
                    || bytes[at - 1] == b':')
            {
                continue;
            }
            let end = without_uses[at..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(without_uses.len(), |e| at + e);
            out.push(without_uses[at..end].trim_end_matches(':').to_owned());
        }
    }
    out
}

/// The module a path names (its longest prefix that is a module), from `from`.
fn target(path: &str, from: &Module, modules: &BTreeSet<Module>) -> Option<Module> {
    let mut segments = path.split("::").filter(|s| !s.is_empty());
    let mut module: Module = match segments.next()? {
        "crate" => Vec::new(),
        "super" => from[..from.len().checked_sub(1)?].to_vec(),
        _ => return None,
    };
    for segment in segments {
        if segment == "super" {
            module.pop();
            continue;
        }
        let mut next = module.clone();
        next.push(segment.to_owned());
        if !modules.contains(&next) {
            break;
        }
        module = next;
    }
    Some(module)
}

/// The circles of one crate: for each scope (module), its children that reach each other.
fn circles(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let has_lib = src.join("lib.rs").exists();
    let files: Vec<(Module, PathBuf)> = files
        .into_iter()
        // With a library, main.rs is a crate of its own that uses the library by name.
        .filter(|f| !(has_lib && f == &src.join("main.rs")))
        .filter_map(|f| Some((module_of(src, &f)?, f)))
        .collect();
    let modules: BTreeSet<Module> = files.iter().map(|(m, _)| m.clone()).collect();
    // (scope, child, child) -> the first file and path that made the edge.
    let mut edges: BTreeMap<(Module, String, String), String> = BTreeMap::new();
    for (from, file) in &files {
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        for path in paths_in(&code) {
            let Some(to) = target(&path, from, &modules) else {
                continue;
            };
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            // An ancestor's item, or a child of this module: not an edge.
            if common == from.len() || common == to.len() {
                continue;
            }
            let scope = from[..common].to_vec();
            let file = file.strip_prefix(src).unwrap().display().to_string();
            edges
                .entry((scope, from[common].clone(), to[common].clone()))
                .or_insert_with(|| format!("{file}: {path}"));
        }
    }
    let mut found = Vec::new();
    let scopes: BTreeSet<&Module> = edges.keys().map(|(s, _, _)| s).collect();
    for scope in scopes {
        let graph: BTreeMap<&str, Vec<&str>> = edges.keys().filter(|(s, _, _)| s == scope).fold(
            BTreeMap::new(),
            |mut g, (_, a, b)| {
                g.entry(a.as_str()).or_default().push(b.as_str());
                g
            },
        );
        for (a, b) in cycle_members(&graph) {
            let name = |m: &str| {
                let mut full = scope.clone();
                full.push(m.to_owned());
                full.join("::")
            };
            found.push(format!(
                "{} -> {} ({})",
                name(a),
                name(b),
                edges[&(scope.clone(), a.to_owned(), b.to_owned())]
            ));
        }
    }
    found
}

/// The edges that lie on a cycle: `a -> b` where `b` reaches `a`.
fn cycle_members<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Vec<(&'a str, &'a str)> {
    let reaches = |from: &'a str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(n) = stack.pop() {
            if n == to {
                return true;
            }
            if seen.insert(n) {
                stack.extend(graph.get(n).into_iter().flatten());
            }
        }
        false
    };
    let mut out = Vec::new();
    for (a, targets) in graph {
        for b in targets {
            if reaches(b, a) {
                out.push((*a, *b));
            }
        }
    }
    out
}

#[test]
fn no_crate_has_an_import_circle() {
    let crates = support::workspace().join("crates");
    let mut report = Vec::new();
    let mut checked = 0;
    let mut names: Vec<String> = std::fs::read_dir(&crates)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        let src = crates.join(name).join("src");
        if !src.is_dir() {
            continue;
        }
        checked += 1;
        let found = circles(&src);
        if !found.is_empty() {
            report.push(format!("{name}:\n  {}", found.join("\n  ")));
        }
    }
    assert!(
        checked >= 10,
        "only {checked} crates found under {}",
        crates.display()
    );
    assert!(
        report.is_empty(),
        "import circles (each edge that lies on one, with the first use that makes it):\n{}",
        report.join("\n")
    );
}

#[test]
fn the_check_finds_a_circle_through_grouped_uses_super_and_inline_paths() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("stage")).unwrap();
    std::fs::write(
        src.join("lib.rs"),
        "mod a;\nmod b;\nmod stage;\npub use a::X;\n",
    )
    .unwrap();
    std::fs::write(src.join("a.rs"), "use crate::{Error, b::{Y, Z}};\n").unwrap();
    std::fs::write(src.join("b.rs"), "fn f() { crate::a::g(); }\n").unwrap();
    std::fs::write(
        src.join("stage/mod.rs"),
        "mod c;\nmod d;\nuse self::c::C;\n",
    )
    .unwrap();
    std::fs::write(src.join("stage/c.rs"), "use super::d::D;\n").unwrap();
    std::fs::write(
        src.join("stage/d.rs"),
        "use super::Stage;\n// use super::c::C;\n#[cfg(test)]\nmod tests {\n    use super::super::c::C;\n}\n",
    )
    .unwrap();
    let found = circles(src);
    assert_eq!(
        found,
        ["a -> b (a.rs: crate::b::Y)", "b -> a (b.rs: crate::a::g)"],
        "{found:?}"
    );
    // d's only use of c is in a comment and its tests: c -> d alone is no circle.
    std::fs::write(src.join("stage/d.rs"), "use super::c::C;\n").unwrap();
    assert_eq!(circles(src).len(), 4, "{:?}", circles(src));
}
