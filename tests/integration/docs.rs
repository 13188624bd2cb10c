//! The documentation holds together: every relative link of README.md and `docs/` leads to a
//! file that exists and, with a `#fragment`, to a heading of it; the README stays short
//! enough to read in five minutes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The project's Markdown pages: README.md and every page of `docs/`.
fn pages() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("a docs folder") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages.sort();
    pages
}

/// The text outside code blocks and code spans, where links are links.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            // Code spans hold no links.
            let mut in_code = false;
            for c in line.chars() {
                if c == '`' {
                    in_code = !in_code;
                } else if !in_code {
                    out.push(c);
                }
            }
            out.push('\n');
        }
    }
    out
}

/// The targets of the `[text](target)` links of `text`.
fn link_targets(text: &str) -> Vec<String> {
    let prose = prose(text);
    let mut targets = Vec::new();
    let mut rest = prose.as_str();
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            targets.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    targets
}

/// The anchors GitHub gives the headings of `text`: lower case, punctuation dropped, spaces
/// as dashes.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut anchors = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim();
        let anchor: String = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        anchors.insert(anchor);
    }
    anchors
}

#[test]
fn every_relative_link_leads_to_a_file_and_a_heading() {
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = match target.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (target.as_str(), None),
            };
            let linked = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            assert!(
                linked.exists(),
                "{}: the link {target:?} leads to no file",
                page.display()
            );
            if let Some(fragment) = fragment {
                let headings = anchors(&std::fs::read_to_string(&linked).unwrap());
                assert!(
                    headings.contains(fragment),
                    "{}: the link {target:?} leads to no heading of {} (it has {headings:?})",
                    page.display(),
                    linked.display()
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "only {checked} links were found: is the parser right?"
    );
}

#[test]
fn the_readme_is_a_five_minute_read_that_links_every_page() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.len() <= 15 * 1024,
        "README.md is {} bytes: move the detail to docs/",
        readme.len()
    );
    let linked: BTreeSet<String> = link_targets(&readme).into_iter().collect();
    for page in pages().iter().skip(1) {
        let name = format!("docs/{}", page.file_name().unwrap().to_string_lossy());
        assert!(linked.contains(&name), "README.md does not link {name}");
    }
}

#[test]
fn links_and_anchors_are_read_as_github_reads_them() {
    let text = "# A live view: `--top`\n\nSee [x](a.md#b-c) and `[not](a link)`.\n\
                ```\n[nor](this)\n```\n## Exit codes\n";
    assert_eq!(link_targets(text), ["a.md#b-c"]);
    let anchors = anchors(text);
    assert!(anchors.contains("a-live-view---top"), "{anchors:?}");
    assert!(anchors.contains("exit-codes"));
}
