//! The crates' top-level modules form no cycle: a module that uses another
//! (`crate::other::...`, or `other` in a `use crate::{...}` list) sits above
//! it, so each can be read, tested and moved knowing only what is below it.
//! Comments and `#[cfg(test)]` code are left out (a test may reach
//! anywhere), and a module's files under its folder count as the module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A source file up to its test module (`#[cfg(test)]` on a `mod` line at
/// the left margin; the attribute elsewhere, on a field or a function, is
/// not the end of the code).
fn before_tests(text: &str) -> &str {
    let end = text.match_indices("#[cfg(test)]\nmod ").map(|(i, _)| i).find(|&i| i == 0 || text.as_bytes()[i - 1] == b'\n');
    &text[..end.unwrap_or(text.len())]
}

/// Top-level module -> the top-level modules its code names.
fn uses(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = vec![src.to_path_buf()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        let module = first.trim_end_matches(".rs").to_string();
        if matches!(module.as_str(), "lib" | "main") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = before_tests(&text);
        let named = graph.entry(module.clone()).or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let rest = &line[i + "crate::".len()..];
                if let Some(list) = rest.strip_prefix('{') {
                    let list = list.split('}').next().unwrap_or_default();
                    named.extend(list.split(',').filter_map(|x| x.trim().split("::").next()).map(str::to_string));
                } else {
                    named.insert(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
                }
            }
        }
        named.retain(|m| !m.is_empty() && *m != module && m.chars().next().is_some_and(char::is_lowercase));
    }
    graph
}

/// A cycle in `graph`, if there is one (depth-first), as the path around it.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        graph: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            return Some(path[i..].iter().cloned().chain([node.to_string()]).collect());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(graph, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|m| visit(graph, m, &mut Vec::new(), &mut done))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

#[test]
fn no_crate_has_a_cycle_among_its_modules() {
    for krate in ["sim", "harness", "reports", "kasim"] {
        let graph = uses(&workspace().join(krate).join("src"));
        assert!(graph.len() > 1 || krate == "kasim", "{krate}: read {} modules", graph.len());
        // The reader sees real uses: the runner parses scenarios, tune runs the
        // runner, the world runs TCP, and its event queue is the 4-ary heap
        // (named after a field's `#[cfg(test)]`, where a cruder cut stopped).
        let edge = |from: &str, to: &str| graph.get(from).is_some_and(|n| n.contains(to));
        match krate {
            "harness" => assert!(edge("runner", "scenario") && edge("tune", "runner"), "harness: {graph:?}"),
            "sim" => assert!(edge("world", "tcp") && edge("world", "heap"), "sim: {graph:?}"),
            _ => {}
        }
        if let Some(c) = cycle(&graph) {
            panic!("{krate}: the modules {} use each other", c.join(" -> "));
        }
    }
}

/// The check itself finds a cycle: a made-up pair that names each other.
#[test]
fn the_cycle_check_finds_one() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
        ("d".to_string(), BTreeSet::new()),
    ]
    .into();
    assert_eq!(cycle(&graph), Some(["a", "b", "c", "a"].map(String::from).to_vec()));
    let acyclic: BTreeMap<String, BTreeSet<String>> =
        [("a".to_string(), BTreeSet::from(["b".to_string()])), ("b".to_string(), BTreeSet::new())].into();
    assert_eq!(cycle(&acyclic), None);
    // The test module is cut off at its `mod`, not at the first attribute.
    let text = "struct A {\n    #[cfg(test)]\n    x: u8,\n}\nuse crate::b;\n#[cfg(test)]\nmod tests {\n    use crate::c;\n}\n";
    assert_eq!(before_tests(text), "struct A {\n    #[cfg(test)]\n    x: u8,\n}\nuse crate::b;\n");
}

/// No source file does several jobs' worth of work: at most 700 lines
/// before its tests (issue 26: split a file past that by what it does).
#[test]
fn no_source_file_is_over_700_lines_before_its_tests() {
    let mut long = Vec::new();
    for krate in ["sim", "harness", "reports", "kasim"] {
        let mut files = vec![workspace().join(krate).join("src")];
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let lines = before_tests(&text).lines().count();
                if lines > 700 {
                    long.push(format!("{} ({lines})", path.display()));
                }
            }
        }
    }
    assert!(long.is_empty(), "over 700 lines before their tests: {}", long.join(", "));
}
