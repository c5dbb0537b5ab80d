use std::path::Path;

use super::*;
use crate::event_docs;

#[test]
fn every_type_file_is_compiled_in_and_its_example_matches_its_schema() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let files = std::fs::read_dir(&dir).expect("events dir").count();
    assert_eq!(
        files,
        FILES.len(),
        "every file in services/model/events is listed in FILES"
    );
    let catalog = EventCatalog::builtin();
    assert_eq!(
        catalog.all().count(),
        FILES.len(),
        "every file parses and its schema compiles"
    );
    for def in catalog.all() {
        assert!(
            catalog.matches(&def.name, &def.example),
            "{}: the example does not match the schema",
            def.name
        );
        assert!(!def.description.is_empty(), "{}", def.name);
        assert_eq!(def.schema["title"], def.name.as_str());
    }
}

#[test]
fn agents_are_held_to_the_catalog_but_free_outside_it() {
    let catalog = EventCatalog::builtin();
    let bad = catalog
        .check("deployment.failed", &json!({"service": "api"}))
        .expect_err("reason is required");
    assert!(bad.contains("reason"), "{bad}");
    let typed = catalog
        .check("deployment.failed", &json!({"service": 7, "reason": "x"}))
        .expect_err("service is a string");
    assert!(typed.contains("/service"), "names the place: {typed}");
    assert!(
        catalog
            .check("deployment.failed", &json!({"service": "api", "reason": "x"}))
            .is_ok()
    );
    assert!(catalog.check("acme.anything", &json!({"x": 1})).is_ok(), "uncatalogued");
    assert!(catalog.check("run.completed", &json!({})).is_err(), "Hookline's own");
}

#[test]
fn operators_declare_their_own_types_on_agents() {
    let text = r#"
[agents.a]
prompt = "x"
runner = { type = "command", command = ["true"] }
emits = { "acme.report" = { description = "A report", schema = { type = "object", required = ["title"] } } }
"#;
    let catalog = Catalog::parse(text).expect("parse");
    let events = EventCatalog::with_declared(&catalog).expect("valid");
    assert_eq!(events.get("acme.report").map(|d| d.source), Some(Origin::Operator));
    assert!(events.check("acme.report", &json!({})).is_err());
    assert!(events.check("acme.report", &json!({"title": "t"})).is_ok());
    assert!(events.get("run.completed").is_some(), "the built-in ones too");
    let clash = Catalog::parse(&text.replace("acme.report", "deployment.failed")).expect("parse");
    let problems = EventCatalog::with_declared(&clash).err().unwrap_or_default();
    assert!(problems.iter().any(|p| p.contains("catalogued type")), "{problems:?}");
    assert!(clash.validate().is_err());
}

/// The generated files: written when HOOKLINE_REGENERATE is set, else
/// compared.
fn generated(path: &str, content: &str) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path);
    if std::env::var_os("HOOKLINE_REGENERATE").is_some() {
        std::fs::write(&file, content).expect("write");
        return;
    }
    let current = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        current == content,
        "{path} is stale: run HOOKLINE_REGENERATE=1 cargo test -p hookline-model event_catalog"
    );
}

#[test]
fn docs_events_md_and_the_openapi_webhooks_are_generated_from_the_catalog() {
    let catalog = EventCatalog::builtin();
    generated("docs/events.md", &event_docs::markdown(catalog));
    // The section is kept last in the document and spliced in as text, so
    // the rest of the hand-written document keeps its order.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let current = std::fs::read_to_string(&path).expect("openapi");
    let head = match current.find(",\n  \"webhooks\": ") {
        Some(at) => current[..at].to_owned(),
        None => current.trim_end().trim_end_matches('}').trim_end().to_owned(),
    };
    let hooks =
        serde_json::to_string_pretty(&event_docs::in_key_order(&event_docs::openapi_webhooks(catalog))).expect("json");
    let text = format!("{head},\n  \"webhooks\": {}\n}}\n", hooks.replace('\n', "\n  "));
    serde_json::from_str::<Value>(&text).expect("the document stays JSON");
    generated("docs/openapi.json", &text);
}
