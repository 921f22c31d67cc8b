//! The rules of the layout that ARCHITECTURE.md maps: in both crates no file imports
//! another that imports it back; the runtime's folders depend one way only; the store's
//! rooms likewise; the integrations do not lean on each other.

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

/// The runtime's top-level modules by rank: a module names only lower ranks, or its
/// own folder. The leaves use nothing of the crate.
fn rank(m: &str) -> u8 {
    match m.split("::").next().unwrap_or("") {
        "render" | "alloc" | "clock" | "trace" => 0,
        "contract" => 1,
        "store" => 2,
        "exposition" => 3,
        "facade" => 4,
        "config" => 5,
        "instrument" | "layers" | "collector" | "server" | "otlp" | "recorder" => 6,
        other => panic!("module {other} has no place in the layering"),
    }
}

/// The runtime's edges that cross a folder, as `from -> to`.
fn crossings(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, String)> {
    let top = |m: &str| m.split("::").next().unwrap_or("").to_owned();
    g.iter()
        .filter(|(from, _)| !from.is_empty()) // lib.rs declares and re-exports everything
        .flat_map(|(from, targets)| targets.iter().map(move |to| (from.clone(), to.clone())))
        .filter(|(from, to)| top(from) != top(to))
        .collect()
}

#[test]
fn the_runtime_folders_depend_one_way() {
    let g = without_tests(graph(&src("metrics-runtime")));
    let wrong: Vec<String> = crossings(&g)
        .into_iter()
        .filter(|(from, to)| rank(to) > rank(from) || (rank(to) == rank(from) && rank(to) < 6))
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "dependencies pointing the wrong way: {wrong:?}"
    );
}

#[test]
fn the_integrations_do_not_lean_on_each_other() {
    // The attribute's runtime half, the layers, the collector, the endpoint and the OTLP
    // exporter each stand
    // on the facade alone; the one shared piece is the write-stall timer of the layers,
    // which the endpoint's connections use too.
    let g = without_tests(graph(&src("metrics-runtime")));
    let wrong: Vec<String> = crossings(&g)
        .into_iter()
        .filter(|(from, to)| rank(from) == 6 && rank(to) == 6)
        .filter(|(from, to)| !(from.starts_with("server") && to == "layers::stall"))
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "integrations leaning on each other: {wrong:?}"
    );
}

#[test]
fn the_store_has_three_rooms_that_depend_one_way() {
    // cells (concurrency, no metrics) <- families (series and families) <- caches (the
    // layers' shortcuts) <- the store itself (`store/mod.rs`, the recording methods, and
    // `listing.rs`, how the writers read it).
    let room = |m: &str| -> Option<u8> {
        let mut parts = m.split("::");
        (parts.next() == Some("store")).then_some(())?;
        Some(match parts.next() {
            Some("cells") => 0,
            Some("families") => 1,
            Some("caches") => 2,
            None | Some("listing") => 3,
            Some(other) => panic!("store::{other} is in none of the store's rooms"),
        })
    };
    let g = without_tests(graph(&src("metrics-runtime")));
    let mut wrong = Vec::new();
    for (from, targets) in &g {
        let Some(a) = room(from) else { continue };
        for to in targets {
            if room(to).is_some_and(|b| b > a) {
                wrong.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the store's rooms point the wrong way: {wrong:?}"
    );
    assert!(g.contains_key("store::cells::stripe") && g.contains_key("store::families::family"));
}

#[test]
fn no_file_of_either_crate_is_longer_than_450_lines() {
    let mut long = Vec::new();
    for krate in ["metrics-runtime", "metrics-macros"] {
        for (module, text) in modules(&src(krate)) {
            let lines = text.lines().count();
            if lines > 450 {
                long.push(format!("{krate}: {module} ({lines} lines)"));
            }
        }
    }
    assert!(long.is_empty(), "split these: {long:?}");
}

#[test]
fn the_graph_sees_real_dependencies() {
    // Guards the parser: known edges must be found, or the checks above prove nothing.
    let g = graph(&src("metrics-runtime"));
    assert!(
        g["store::families::family"].contains("contract::cardinality"),
        "{:?}",
        g["store::families::family"]
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
    assert!(
        g["store::cells::striped"].contains("store::cells::lanes"),
        "{:?}",
        g["store::cells::striped"]
    );
    assert!(
        g["layers::http"].contains("clock"),
        "{:?}",
        g["layers::http"]
    );
    let mut with_cycle = g.clone();
    with_cycle
        .entry("contract".into())
        .or_default()
        .insert("facade::metrics".into());
    assert!(cycle(&with_cycle).is_some());
}
