//! Tidy checks: the layout ARCHITECTURE.md describes is the layout `src/`
//! has. The allowed dependencies are read from ARCHITECTURE.md itself (the
//! first `text` block under "Direction of dependencies"), so the map and
//! this test cannot drift apart. Production code only: items under
//! `#[cfg(test)]` are left out.
//!
//! - every `crate::`/`super::`/`self::` path from a top-level module goes to
//!   a module its line allows, and to none its `never` line forbids;
//! - no cycle between sibling modules at any level (a child using its parent,
//!   or a parent its child, is not an edge);
//! - only `config` reads the environment, only `store` names `sqlx`, `cli`
//!   spawns no task;
//! - no production function over 120 lines, no production file over 1,000
//!   lines unless ARCHITECTURE.md's size exceptions name it.
//!
//! `cargo test --locked --test lapse tidy -- --nocapture` also prints the
//! longest functions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FUNCTION_LINES: usize = 120;
const MAX_FILE_LINES: usize = 1_000;

/// One source file: its module path (`["probe", "rdap"]`) and its
/// production code with comments and literals blanked (newlines kept).
struct SourceFile {
    path: PathBuf,
    module: Vec<String>,
    code: String,
    production_lines: usize,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The sources, read and lexed once for all the checks.
fn read_sources() -> &'static [SourceFile] {
    static SOURCES: std::sync::OnceLock<Vec<SourceFile>> = std::sync::OnceLock::new();
    SOURCES.get_or_init(lex_sources)
}

fn lex_sources() -> Vec<SourceFile> {
    let src = root().join("src");
    let mut paths = Vec::new();
    collect_rs(&src, &mut paths);
    paths.sort();
    let test_only = test_only_files(&paths);
    let mut files = Vec::new();
    for path in paths {
        if test_only.contains(&path) {
            continue;
        }
        let rel = path.strip_prefix(&src).expect("under src");
        let mut module: Vec<String> = rel
            .with_extension("")
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        if module == ["lib"] || module == ["main"] {
            module = vec![module[0].clone()];
        }
        if module.last().is_some_and(|m| m == "mod") {
            module.pop();
        }
        let text = std::fs::read_to_string(&path).expect("read source");
        let (code, test_lines) = strip_test_items(&blank_comments_and_literals(&text));
        let production_lines = text.lines().count().saturating_sub(test_lines);
        files.push(SourceFile {
            path,
            module,
            code,
            production_lines,
        });
    }
    files
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Files declared as `#[cfg(test)] mod name;` (and everything below them).
fn test_only_files(paths: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for path in paths {
        let text = std::fs::read_to_string(path).expect("read source");
        let code = blank_comments_and_literals(&text);
        let mut rest = code.as_str();
        while let Some(at) = rest.find("#[cfg(test)]") {
            rest = &rest[at + "#[cfg(test)]".len()..];
            let item = rest.trim_start();
            let Some(decl) = item.strip_prefix("mod ") else {
                continue;
            };
            let name: String = decl
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let after = decl.trim_start()[name.len()..].trim_start();
            if !after.starts_with(';') {
                continue;
            }
            let dir = module_dir(path);
            for candidate in [dir.join(format!("{name}.rs")), dir.join(&name)] {
                for p in paths {
                    if p == &candidate || p.starts_with(&candidate) {
                        out.insert(p.clone());
                    }
                }
            }
        }
    }
    out
}

/// Where the children of the module in `path` live.
fn module_dir(path: &Path) -> PathBuf {
    let stem = path.file_stem().expect("stem").to_string_lossy();
    let parent = path.parent().expect("parent");
    if stem == "mod" || stem == "lib" || stem == "main" {
        parent.to_path_buf()
    } else {
        parent.join(stem.as_ref())
    }
}

/// Comments, string and char literals replaced by spaces; newlines kept so
/// line numbers stay true.
fn blank_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, slice: &[char]| {
        for c in slice {
            out.push(if *c == '\n' { '\n' } else { ' ' });
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let prev_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if c == '/' && next == Some('/') {
            let end = (i..chars.len())
                .find(|&j| chars[j] == '\n')
                .unwrap_or(chars.len());
            blank(&mut out, &chars[i..end]);
            i = end;
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            let mut j = i;
            while j < chars.len() {
                if chars[j] == '/' && chars.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if chars[j] == '*' && chars.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &chars[i..j.min(chars.len())]);
            i = j;
        } else if !prev_ident && raw_string_start(&chars, i).is_some() {
            let (open_len, hashes) = raw_string_start(&chars, i).expect("checked");
            let mut j = i + open_len;
            while j < chars.len() {
                if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            blank(&mut out, &chars[i..j.min(chars.len())]);
            i = j;
        } else if c == '"' || (c == 'b' && next == Some('"') && !prev_ident) {
            let mut j = if c == 'b' { i + 2 } else { i + 1 };
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(chars.len());
            blank(&mut out, &chars[i..end]);
            i = end;
        } else if c == '\'' {
            let len = char_literal_len(&chars, i);
            if len > 0 {
                blank(&mut out, &chars[i..i + len]);
                i += len;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// `r"`, `r#"`, `br##"`...: the length of the opening and the hash count.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (chars.get(j) == Some(&'"')).then_some((j + 1 - i, hashes))
}

/// The length of a char literal at `i` (`'a'`, `'\n'`, `'\u{1F}'`), or 0
/// for a lifetime or label.
fn char_literal_len(chars: &[char], i: usize) -> usize {
    match chars.get(i + 1) {
        Some('\\') => (i + 2..chars.len().min(i + 12))
            .find(|&j| chars[j] == '\'')
            .map_or(0, |j| j + 1 - i),
        Some(_) if chars.get(i + 2) == Some(&'\'') => 3,
        _ => 0,
    }
}

/// Drops every item marked `#[cfg(test)]` (a `mod tests { .. }`, a test-only
/// function or import), keeping newlines; also says how many lines it dropped.
fn strip_test_items(code: &str) -> (String, usize) {
    let marker = "#[cfg(test)]";
    let bytes = code.as_bytes();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    let mut dropped = 0;
    while let Some(found) = code[i..].find(marker) {
        let start = i + found;
        out.push_str(&code[i..start]);
        let mut j = start + marker.len();
        let mut depth = 0usize;
        while j < bytes.len() {
            match bytes[j] {
                b'{' => depth += 1,
                b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        j += 1;
                        break;
                    }
                }
                b';' if depth == 0 => {
                    j += 1;
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        let end = j.min(bytes.len());
        let newlines = code[start..end].matches('\n').count();
        dropped += newlines;
        out.extend(std::iter::repeat_n('\n', newlines));
        i = end;
    }
    out.push_str(&code[i..]);
    (out, dropped)
}

/// `path` relative to the repository, as the messages show it.
fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The 1-based line of byte offset `at`.
fn line_of(code: &str, at: usize) -> usize {
    code.as_bytes()[..at]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Every path that starts with `crate::`, `super::` or `self::`, resolved
/// to an absolute module path, with the line it is on. Brace groups
/// (`use super::{a, b::c}`) are expanded.
fn paths_used(file: &SourceFile) -> Vec<(Vec<String>, usize)> {
    let mut out = Vec::new();
    let bytes = file.code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b':');
        let head = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|h| file.code[i..].starts_with(h));
        let (Some(_), true) = (head, boundary) else {
            i += 1;
            continue;
        };
        let line = line_of(&file.code, i);
        let (paths, end) = parse_path_tree(&file.code, i);
        for path in paths {
            if let Some(abs) = resolve(&file.module, &path) {
                out.push((abs, line));
            }
        }
        i = end.max(i + 1);
    }
    out
}

/// Parses `a::b::{c, d::e}` from `start`; returns the expanded paths (as
/// segments) and where parsing stopped.
fn parse_path_tree(code: &str, start: usize) -> (Vec<Vec<String>>, usize) {
    let bytes = code.as_bytes();
    let mut prefix = Vec::new();
    let mut i = start;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'{' {
            let mut out = Vec::new();
            i += 1;
            loop {
                while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
                    i += 1;
                }
                if i >= bytes.len() || bytes[i] == b'}' {
                    return (out, i + 1);
                }
                let (subs, end) = parse_path_tree(code, i);
                for sub in subs {
                    let mut full = prefix.clone();
                    full.extend(sub);
                    out.push(full);
                }
                i = end.max(i + 1);
            }
        }
        let ident_end = (i..bytes.len())
            .find(|&j| !(bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_'))
            .unwrap_or(bytes.len());
        if ident_end == i {
            return (vec![prefix], i);
        }
        prefix.push(code[i..ident_end].to_owned());
        i = ident_end;
        if code[i..].starts_with("::") {
            i += 2;
        } else {
            return (vec![prefix], i);
        }
    }
}

/// An absolute module path (without `crate`) for `path` used in `module`.
fn resolve(module: &[String], path: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String> = match path.first().map(String::as_str) {
        Some("crate") => Vec::new(),
        Some("self" | "super") => module.to_vec(),
        _ => return None,
    };
    if base == ["lib"] || base == ["main"] {
        base.clear();
    }
    let mut rest = &path[usize::from(path.first().map(String::as_str) == Some("crate"))..];
    while let Some(first) = rest.first() {
        match first.as_str() {
            "self" => {}
            "super" => {
                base.pop()?;
            }
            _ => break,
        }
        rest = &rest[1..];
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The longest prefix of `path` that is a module of `modules`.
fn target_module(modules: &BTreeSet<Vec<String>>, path: &[String]) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
}

/// The rules from ARCHITECTURE.md: `a -> b c` lines and `never a -> x::y` lines.
struct Rules {
    allowed: BTreeMap<String, BTreeSet<String>>,
    never: Vec<(String, Vec<String>)>,
    size_exceptions: BTreeSet<String>,
}

fn read_rules() -> Rules {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let block = fenced_block_after(&doc, "## Direction of dependencies");
    let mut rules = Rules {
        allowed: BTreeMap::new(),
        never: Vec::new(),
        size_exceptions: BTreeSet::new(),
    };
    for line in block.lines() {
        let line = line.trim();
        let (lhs, rhs) = match line.split_once("->") {
            Some(parts) => parts,
            None => continue,
        };
        let targets: Vec<String> = rhs
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(from) = lhs.trim().strip_prefix("never ") {
            for target in targets {
                let path = target.split("::").map(str::to_owned).collect();
                rules.never.push((from.trim().to_owned(), path));
            }
        } else {
            rules
                .allowed
                .insert(lhs.trim().to_owned(), targets.into_iter().collect());
        }
    }
    let sizes = fenced_block_after(&doc, "## Size exceptions");
    for line in sizes.lines() {
        if let Some(path) = line.split_whitespace().next() {
            rules.size_exceptions.insert(path.to_owned());
        }
    }
    rules
}

fn fenced_block_after(doc: &str, heading: &str) -> String {
    let at = doc
        .find(heading)
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has no `{heading}` section"));
    let rest = &doc[at..];
    let open = rest.find("```text\n").expect("a ```text block") + "```text\n".len();
    let close = rest[open..].find("```").expect("the block's end");
    rest[open..open + close].to_owned()
}

#[test]
fn every_import_follows_the_direction_in_architecture_md() {
    let rules = read_rules();
    let files = read_sources();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    let mut wrong = Vec::new();
    for file in files {
        let from = &file.module[0];
        if from == "lib" {
            continue;
        }
        let Some(allowed) = rules.allowed.get(from) else {
            wrong.push(format!(
                "{}: module `{from}` has no line in ARCHITECTURE.md's direction block",
                rel(&file.path)
            ));
            continue;
        };
        for (path, line) in paths_used(file) {
            let Some(target) = target_module(&modules, &path) else {
                continue;
            };
            let to = &target[0];
            if to != from && !allowed.contains(to) {
                wrong.push(format!(
                    "{}:{line}: `{from}` uses `{}`, but ARCHITECTURE.md allows `{from} -> {}` only",
                    rel(&file.path),
                    target.join("::"),
                    allowed.iter().cloned().collect::<Vec<_>>().join(" "),
                ));
            }
            for (never_from, never_to) in &rules.never {
                if never_from == from && target.starts_with(never_to) {
                    wrong.push(format!(
                        "{}:{line}: `{from}` uses `{}`, which ARCHITECTURE.md forbids (`never {from} -> {}`)",
                        rel(&file.path),
                        target.join("::"),
                        never_to.join("::"),
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the map:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_direction_in_architecture_md_has_no_cycle() {
    let rules = read_rules();
    let edges: BTreeMap<String, BTreeSet<String>> = rules.allowed.clone();
    if let Some(cycle) = find_cycle(&edges) {
        panic!(
            "ARCHITECTURE.md's direction has a cycle: {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn no_module_cycle_anywhere_in_src() {
    let files = read_sources();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    // Edges between siblings, per parent: parent path -> (child -> children).
    let mut levels: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut witness: BTreeMap<(Vec<String>, String, String), String> = BTreeMap::new();
    for file in files {
        if file.module == ["lib"] || file.module == ["main"] {
            continue;
        }
        for (path, line) in paths_used(file) {
            let Some(target) = target_module(&modules, &path) else {
                continue;
            };
            let common = file
                .module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common >= file.module.len() || common >= target.len() {
                continue; // a module using its ancestor, or its own child
            }
            let parent = file.module[..common].to_vec();
            let (a, b) = (file.module[common].clone(), target[common].clone());
            levels
                .entry(parent.clone())
                .or_default()
                .entry(a.clone())
                .or_default()
                .insert(b.clone());
            witness
                .entry((parent, a, b))
                .or_insert_with(|| format!("{}:{line}", rel(&file.path)));
        }
    }
    let mut cycles = Vec::new();
    for (parent, edges) in &levels {
        if let Some(cycle) = find_cycle(edges) {
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| {
                    let at = &witness[&(parent.clone(), w[0].clone(), w[1].clone())];
                    format!("{} -> {} ({at})", w[0], w[1])
                })
                .collect();
            cycles.push(format!(
                "in `crate::{}`: {}",
                parent.join("::"),
                steps.join(", ")
            ));
        }
    }
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

/// A cycle in `edges` as `[a, b, .., a]`, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

/// Lines of `needle` in production code of modules other than `owner`.
fn uses_outside<'a>(
    files: impl IntoIterator<Item = &'a SourceFile>,
    needle: &str,
    owners: &[&str],
) -> Vec<String> {
    let mut out = Vec::new();
    for file in files {
        if owners.contains(&file.module[0].as_str()) {
            continue;
        }
        for (n, line) in file.code.lines().enumerate() {
            if line.contains(needle) {
                out.push(format!("{}:{}: {}", rel(&file.path), n + 1, line.trim()));
            }
        }
    }
    out
}

#[test]
fn only_config_reads_the_environment() {
    let files = read_sources();
    let mut found = uses_outside(files, "env::var", &["config"]);
    found.extend(uses_outside(files, "env::vars", &["config"]));
    assert!(
        found.is_empty(),
        "environment read outside config:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_store_knows_sql() {
    let files = read_sources();
    let found = uses_outside(files, "sqlx", &["store"]);
    assert!(
        found.is_empty(),
        "sqlx outside store:\n{}",
        found.join("\n")
    );
}

#[test]
fn cli_owns_no_lifecycle() {
    let cli = || read_sources().iter().filter(|f| f.module[0] == "cli");
    let mut found = Vec::new();
    for needle in ["tokio::spawn", "select!", "shutdown_signal"] {
        found.extend(uses_outside(cli(), needle, &[]));
    }
    assert!(
        found.is_empty(),
        "lifecycle in cli (belongs in app):\n{}",
        found.join("\n")
    );
}

/// Every production function: (lines, file:line, name).
fn function_lengths(files: &[SourceFile]) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for file in files {
        let code = file.code.as_bytes();
        let mut from = 0;
        while let Some(found) = file.code[from..].find("fn ") {
            let at = from + found;
            from = at + 3;
            if at > 0 && (code[at - 1].is_ascii_alphanumeric() || code[at - 1] == b'_') {
                continue;
            }
            let name: String = file.code[at + 3..]
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                continue;
            }
            let Some(open) = body_start(code, at + 3) else {
                continue;
            };
            let Some(close) = matching_brace(code, open) else {
                continue;
            };
            let first = line_of(&file.code, at);
            let last = line_of(&file.code, close);
            out.push((
                last - first + 1,
                format!(
                    "{}:{first}",
                    file.path
                        .strip_prefix(root())
                        .unwrap_or(&file.path)
                        .display()
                ),
                name,
            ));
        }
    }
    out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    out
}

/// The `{` that opens a function body, or None for a declaration (`;`).
fn body_start(code: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0i32;
    while i < code.len() {
        match code[i] {
            b'(' | b'[' | b'<' => depth += 1,
            b')' | b']' => depth -= 1,
            b'>' if i > 0 && code[i - 1] != b'-' && code[i - 1] != b'=' => depth -= 1,
            b';' if depth <= 0 => return None,
            b'{' if depth <= 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn matching_brace(code: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in code.iter().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[test]
fn no_production_function_is_over_120_lines() {
    let lengths = function_lengths(read_sources());
    println!("longest production functions:");
    for (lines, at, name) in lengths.iter().take(15) {
        println!("{lines:5}  {at}  {name}");
    }
    let over: Vec<String> = lengths
        .iter()
        .filter(|(lines, _, _)| *lines > MAX_FUNCTION_LINES)
        .map(|(lines, at, name)| format!("{at} {name}: {lines} lines"))
        .collect();
    assert!(
        over.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines:\n{}",
        over.join("\n")
    );
}

#[test]
fn no_production_file_is_over_1000_lines_unless_architecture_md_says_why() {
    let rules = read_rules();
    let files = read_sources();
    let over: Vec<String> = files
        .iter()
        .filter(|f| f.production_lines > MAX_FILE_LINES)
        .filter_map(|f| {
            let path = rel(&f.path);
            (!rules.size_exceptions.contains(&path))
                .then(|| format!("{path}: {} production lines", f.production_lines))
        })
        .collect();
    assert!(
        over.is_empty(),
        "files over {MAX_FILE_LINES} production lines (name the reason in ARCHITECTURE.md's size exceptions):\n{}",
        over.join("\n")
    );
}

#[test]
fn the_checker_sees_what_it_checks() {
    // The parser itself: a use inside a string or comment is not a use; a
    // brace group expands; `super` resolves against the file's module.
    let file = SourceFile {
        path: PathBuf::from("src/probe/rdap.rs"),
        module: vec!["probe".into(), "rdap".into()],
        code: strip_test_items(&blank_comments_and_literals(
            "use super::{lookup::Exchange, dns};\n// use crate::store::Store;\nlet s = \"crate::api::x\";\nuse crate::domain::names as n;\n#[cfg(test)]\nmod tests { use crate::store::Store; }\n",
        ))
        .0,
        production_lines: 0,
    };
    let used: Vec<String> = paths_used(&file)
        .into_iter()
        .map(|(p, _)| p.join("::"))
        .collect();
    assert_eq!(
        used,
        ["probe::lookup::Exchange", "probe::dns", "domain::names"],
        "{used:?}"
    );
    let lengths = function_lengths(&[SourceFile {
        path: PathBuf::from("x.rs"),
        module: vec!["x".into()],
        code: blank_comments_and_literals(
            "fn a() -> Vec<u8> {\n let c = '{';\n vec![]\n}\nfn b();\n",
        ),
        production_lines: 0,
    }]);
    assert_eq!(lengths.len(), 1);
    assert_eq!((lengths[0].0, lengths[0].2.as_str()), (4, "a"));
}
