//! The code's shape, checked: within each crate, no file imports (through
//! any chain of `crate::` paths) the file that imports it, so files form
//! layers. Test modules are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hookline_tests::workspace_root;

/// Cycles known and left for a later change, by crate (none now).
const KNOWN: &[(&str, &[&str])] = &[];

/// Each file's module path (`catalog/agent`, `lib` as ``) and its code
/// before its first `#[cfg(test)]`.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("inside").with_extension("");
            let rel = rel.to_string_lossy().replace("/mod", "");
            let module = if rel == "lib" || rel == "main" {
                String::new()
            } else {
                rel
            };
            let text = std::fs::read_to_string(&path).expect("read");
            let code = text.split("#[cfg(test)]").next().unwrap_or_default().to_owned();
            out.insert(module, code);
        }
    }
    out
}

/// Which files each file imports through `crate::` paths.
fn imports(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for (module, code) in modules {
        let mut targets = BTreeSet::new();
        for (at, _) in code.match_indices("crate::") {
            for path in paths_at(&code[at + 7..]) {
                let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
                let target = (1..=parts.len())
                    .rev()
                    .map(|n| parts[..n].join("/"))
                    .find(|candidate| modules.contains_key(candidate));
                if let Some(target) = target.filter(|t| t != module && !t.is_empty()) {
                    targets.insert(target);
                }
            }
        }
        graph.insert(module.clone(), targets);
    }
    graph
}

/// The paths a `crate::` prefix leads to: `a::b`, or each of a group's
/// (`{a, b::{c, d}}` gives `a`, `b::c`, `b::d`).
fn paths_at(text: &str) -> Vec<String> {
    let head: String = text
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    let rest = &text[head.len()..];
    if !rest.starts_with('{') {
        return vec![head];
    }
    // The group's items, split at top-level commas.
    let (mut depth, mut items, mut item) = (0, Vec::new(), String::new());
    for c in rest[1..].chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut item));
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    items.push(item);
    items
        .iter()
        .map(|i| i.trim())
        .filter(|i| !i.is_empty() && *i != "self")
        .flat_map(|i| {
            paths_at(i)
                .into_iter()
                .map(|p| format!("{head}{p}"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The modules that reach themselves again, grouped by the cycle they are in.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let reaches = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = graph[from].iter().collect();
        while let Some(next) = todo.pop() {
            if seen.insert(next.clone()) {
                todo.extend(graph.get(next).into_iter().flatten());
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> = graph.keys().map(|m| (m, reaches(m))).collect();
    let mut groups: Vec<BTreeSet<String>> = Vec::new();
    for (module, reached) in &reach {
        if !reached.contains(*module) {
            continue;
        }
        let group: BTreeSet<String> = reached
            .iter()
            .filter(|other| reach.get(other).is_some_and(|r| r.contains(*module)))
            .cloned()
            .collect();
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    groups
}

#[test]
fn no_file_of_a_crate_imports_the_file_that_imports_it() {
    let services = workspace_root().join("services");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&services).expect("services").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let src = entry.path().join("src");
        if !src.is_dir() {
            continue;
        }
        let known: Vec<BTreeSet<String>> = KNOWN
            .iter()
            .filter(|(krate, _)| *krate == name)
            .map(|(_, files)| files.iter().map(|f| (*f).to_owned()).collect())
            .collect();
        for group in cycles(&imports(&modules(&src))) {
            if !known.contains(&group) {
                found.push(format!("{name}: {group:?}"));
            }
        }
    }
    assert!(found.is_empty(), "files importing each other: {found:#?}");
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    let modules: BTreeMap<String, String> = [
        ("a".to_owned(), "use crate::b::Thing;".to_owned()),
        ("b".to_owned(), "fn f() { crate::c::g() }".to_owned()),
        ("c".to_owned(), "use crate::{a, d::{X, Y}};".to_owned()),
        ("d".to_owned(), "use crate::a::X;".to_owned()),
    ]
    .into_iter()
    .collect();
    let found = cycles(&imports(&modules));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0], ["a", "b", "c", "d"].into_iter().map(str::to_owned).collect());
    assert_eq!(paths_at("{a, b::{c, d}, self}"), ["a", "b::c", "b::d"]);
}
