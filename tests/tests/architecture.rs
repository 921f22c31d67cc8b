//! The layout holds what ARCHITECTURE.md says: in both crates no file imports another
//! that imports it back, and the runtime's folders depend one way only
//! (contract ← store ← exposition ← facade ← instrument, layers, collector, server).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A crate's module files, by module path (`store::family`; the root is ``).
fn modules(src: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, src, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).unwrap().with_extension("");
                let mut parts: Vec<String> = rel
                    .iter()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect();
                if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                    parts.pop();
                }
                out.insert(parts.join("::"), std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

/// The module a `crate::…` path names: its longest prefix that is a module file.
fn resolve(path: &[&str], modules: &BTreeMap<String, String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| modules.contains_key(m))
}

/// Names the crate root re-exports (`pub use a::b::{C, d}`), mapped to their modules.
fn root_exports(modules: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let root = &modules[""];
    for stmt in root.split(';') {
        let Some(rest) = stmt.trim().rsplit_once("pub use ").map(|(_, r)| r) else {
            continue;
        };
        let rest = rest.split_whitespace().collect::<String>();
        let (prefix, names) = match rest.split_once("::{") {
            Some((p, names)) => (p.to_owned(), names.trim_end_matches('}').to_owned()),
            None => match rest.rsplit_once("::") {
                Some((p, n)) => (p.to_owned(), n.to_owned()),
                None => continue,
            },
        };
        let prefix: Vec<&str> = prefix.trim_start_matches("crate::").split("::").collect();
        for name in names.split(',').filter(|n| !n.is_empty()) {
            let mut full = prefix.clone();
            full.push(name);
            if let Some(m) = resolve(&full, modules) {
                out.insert(name.to_owned(), m);
            }
        }
    }
    out
}

/// Every `crate::…` path mentioned in a file (comments and doc text excluded), with
/// `super::…` rewritten from `parent`, the module `super` names there.
fn crate_paths(text: &str, parent: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let parent = if parent.is_empty() {
        "crate::".to_owned()
    } else {
        format!("crate::{parent}::")
    };
    for line in text.lines() {
        let code = line
            .split("//")
            .next()
            .unwrap_or("")
            .replace("super::", &parent);
        let code = code.as_str();
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let tail = &rest[i + "crate::".len()..];
            let mut path = Vec::new();
            let mut t = tail;
            loop {
                let end = t
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(t.len());
                if end == 0 {
                    // `crate::{a::b, c}`: each item of the group.
                    if let Some(group) = t.strip_prefix('{') {
                        let group = group.split('}').next().unwrap_or("");
                        for item in group.split(',') {
                            let mut p = path.clone();
                            p.extend(
                                item.split("::")
                                    .map(|s| s.trim().to_owned())
                                    .filter(|s| !s.is_empty() && s != "self"),
                            );
                            paths.push(p);
                        }
                    }
                    break;
                }
                path.push(t[..end].to_owned());
                match t[end..].strip_prefix("::") {
                    Some(next) => t = next,
                    None => break,
                }
            }
            if !path.is_empty() {
                paths.push(path);
            }
            rest = tail;
        }
    }
    paths
}

/// The graph of one crate: module → modules it names.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules(src);
    let exports = root_exports(&modules);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in &modules {
        let targets = edges.entry(module.clone()).or_default();
        // A `mod tests` beside the code may use anything: it is not part of the design.
        let text = text
            .split("#[cfg(test)]\nmod tests {")
            .next()
            .unwrap_or(text);
        // `super` in module `a::b` (a::b.rs or a/b/mod.rs alike) is `a`.
        let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
        for path in crate_paths(text, parent) {
            let parts: Vec<&str> = path.iter().map(String::as_str).collect();
            let target = match parts.as_slice() {
                [name, ..] if exports.contains_key(*name) => exports.get(*name).cloned(),
                _ => resolve(&parts, &modules),
            };
            if let Some(target) = target.filter(|t| t != module && !t.is_empty()) {
                targets.insert(target);
            }
        }
    }
    edges
}

/// A cycle in the graph, if any, as the modules along it.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut found = stack[from..].to_vec();
                    found.push(next.clone());
                    return Some(found);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, edges, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if !state.contains_key(node.as_str()) {
            if let Some(c) = visit(node, edges, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

fn src(krate: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src")
}

/// Tests inside the crate (`#[cfg(test)]` files) are left out of the graph.
fn without_tests(mut g: BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let test_module = |m: &str| m == "testing" || m.split("::").any(|p| p == "tests");
    g.retain(|m, _| !test_module(m));
    for targets in g.values_mut() {
        targets.retain(|t| !test_module(t));
    }
    g
}

#[test]
fn no_file_of_the_runtime_imports_one_that_imports_it() {
    let g = without_tests(graph(&src("metrics-runtime")));
    assert!(g.len() > 30, "{} modules found", g.len());
    assert_eq!(cycle(&g), None);
}

#[test]
fn no_file_of_the_macros_imports_one_that_imports_it() {
    let g = graph(&src("metrics-macros"));
    assert!(g.contains_key("expand") && g.contains_key("async_trait"));
    assert_eq!(cycle(&g), None);
}

#[test]
fn the_runtime_folders_depend_one_way() {
    // Lower ranks never name higher ones; render, alloc and trace are leaves.
    let rank = |m: &str| match m.split("::").next().unwrap_or("") {
        "render" | "alloc" | "trace" => 0,
        "contract" => 1,
        "store" => 2,
        "exposition" => 3,
        "facade" => 4,
        "instrument" | "config" => 5,
        "layers" | "collector" | "server" => 6,
        other => panic!("module {other} has no place in the layering"),
    };
    let g = without_tests(graph(&src("metrics-runtime")));
    let mut wrong = Vec::new();
    for (from, targets) in &g {
        if from.is_empty() {
            continue; // lib.rs declares and re-exports everything
        }
        for to in targets {
            let (a, b) = (from.split("::").next(), to.split("::").next());
            if a != b && rank(to) >= rank(from) && !(rank(from) == 6 && rank(to) == 6) {
                wrong.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies pointing the wrong way: {wrong:?}"
    );
}

#[test]
fn the_graph_sees_real_dependencies() {
    // Guards the parser: known edges must be found, or the checks above prove nothing.
    let g = graph(&src("metrics-runtime"));
    assert!(
        g["store::family"].contains("contract::cardinality"),
        "{:?}",
        g["store::family"]
    );
    assert!(
        g["facade::handle"].contains("facade"),
        "{:?}",
        g["facade::handle"]
    );
    assert!(
        g["contract::labels"].contains("contract::cardinality"),
        "{:?}",
        g["contract::labels"]
    );
    assert!(
        g["layers::grpc"].contains("store"),
        "{:?}",
        g["layers::grpc"]
    );
    let mut with_cycle = g.clone();
    with_cycle
        .entry("contract".into())
        .or_default()
        .insert("facade::metrics".into());
    assert!(cycle(&with_cycle).is_some());
}
