//! The source tree keeps its shape: each folder of `src/` imports only from its own layer
//! and the ones below it, the two commands do not import each other, and no file grows past
//! 500 lines besides its unit tests.

use std::path::{Path, PathBuf};

/// The layers, from the bottom: a module may use what is on its own line or above it.
const LAYERS: &[&[&str]] = &[
    &["events", "wire"],
    &["oslo"],
    &["broker"],
    &["engine"],
    &["tool"],
    &["listen", "notify"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Every `.rs` file below `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The top-level modules of the crate that `text` names as `crate::<module>`, outside
/// comments.
fn crate_modules(text: &str) -> Vec<String> {
    let mut modules = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            modules.push(name);
        }
    }
    modules
}

/// The lines of `text` before its unit tests.
fn lines_besides_tests(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].trim_start().starts_with("mod "))
        .unwrap_or(lines.len())
}

#[test]
fn imports_point_down_the_layers_and_the_commands_stay_apart() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    for file in sources(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let own = first.to_string_lossy().trim_end_matches(".rs").to_owned();
        let Some(own_layer) = layer_of(&own) else {
            continue; // lib.rs and the binaries stand above every layer.
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for module in crate_modules(&text) {
            let layer = layer_of(&module)
                .unwrap_or_else(|| panic!("{}: crate::{module} is in no layer", file.display()));
            assert!(
                layer <= own_layer,
                "{} (layer {own_layer}) imports crate::{module} (layer {layer}) above it",
                relative.display()
            );
            assert!(
                layer < own_layer || module == own || own_layer != layer_of("listen").unwrap(),
                "{}: the commands do not import each other (crate::{module})",
                relative.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked > 100,
        "only {checked} imports read: is the reader right?"
    );
}

#[test]
fn no_file_passes_500_lines_besides_its_unit_tests() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for file in sources(&src) {
        let lines = lines_besides_tests(&std::fs::read_to_string(&file).unwrap());
        assert!(
            lines <= 500,
            "{} has {lines} lines besides its tests: split it by what it holds",
            file.display()
        );
    }
}

#[test]
fn the_readers_see_what_they_should() {
    let text = "use crate::wire::envelope;\n// crate::cli in a comment\nlet x = crate::oslo::mask::MASK;\n";
    assert_eq!(crate_modules(text), ["wire", "oslo"]);
    assert_eq!(
        lines_besides_tests("a\nb\n#[cfg(test)]\nmod tests {\n}\n"),
        2
    );
    assert_eq!(layer_of("broker"), Some(2));
    assert_eq!(layer_of("listen"), layer_of("notify"));
}
