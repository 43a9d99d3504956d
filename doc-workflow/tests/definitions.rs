//! Loading definitions: the shipped ones load; every kind of broken definition is an error that
//! says what and where.

use doc_workflow::definition::{Definition, DefinitionError};
use doc_workflow::{DocumentKind, Engine, STANDARD_DEFINITIONS};
use serde_json::{Value, json};

fn bill() -> Value {
    serde_json::from_str(STANDARD_DEFINITIONS[0].1).unwrap()
}

fn load(value: &Value) -> Result<Definition, DefinitionError> {
    Definition::from_json("test.json", &value.to_string())
}

/// Index of the first transition with `action`.
fn at(def: &Value, action: &str) -> usize {
    def["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .position(|t| t["action"] == action)
        .unwrap()
}

#[track_caller]
fn load_err(value: &Value) -> DefinitionError {
    load(value).expect_err("the definition must be refused")
}

#[test]
fn shipped_definitions_load_and_hash_stably() {
    let engine = Engine::standard();
    for kind in DocumentKind::ALL {
        assert!(engine.definition(kind).is_some(), "{kind}");
    }
    let json = engine.definitions_json();
    assert_eq!(json, Engine::standard().definitions_json());
    assert_eq!(
        engine.definitions_hash(),
        Engine::standard().definitions_hash()
    );
    let parsed: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed.len(), 3);
    assert_eq!(parsed[0]["kind"], "BILL_OF_LADING");
}

#[test]
fn malformed_json_and_unknown_fields() {
    let err = Definition::from_json("broken.json", "{").unwrap_err();
    assert!(
        matches!(&err, DefinitionError::Json { name, .. } if name == "broken.json"),
        "{err}"
    );
    let mut def = bill();
    def["colour"] = json!("blue");
    assert!(matches!(load_err(&def), DefinitionError::Json { .. }));
}

#[test]
fn unknown_kind() {
    let mut def = bill();
    def["kind"] = json!("AIR_WAYBILL");
    assert!(
        matches!(load_err(&def), DefinitionError::UnknownKind { name, .. } if name == "AIR_WAYBILL")
    );
}

#[test]
fn duplicate_kind() {
    let a = load(&bill()).unwrap();
    let err = Engine::from_definitions([a.clone(), a]).unwrap_err();
    assert_eq!(
        err,
        DefinitionError::DuplicateKind {
            kind: DocumentKind::BillOfLading
        }
    );
}

#[test]
fn unknown_action_says_where() {
    let mut def = bill();
    def["transitions"][3]["action"] = json!("SELL");
    let err = load_err(&def);
    assert!(matches!(&err, DefinitionError::UnknownAction { name, .. } if name == "SELL"));
    assert_eq!(
        err.to_string(),
        "definition BILL_OF_LADING, transition #3: unknown action \"SELL\""
    );
}

#[test]
fn action_of_another_document_class() {
    let mut def = bill();
    def["transitions"][0]["action"] = json!("GATE_OUT");
    assert!(matches!(
        load_err(&def),
        DefinitionError::ActionOfOtherClass { .. }
    ));
}

#[test]
fn unknown_guard_says_which_and_where() {
    let mut def = bill();
    let i = at(&def, "TRANSFER");
    def["transitions"][i]["guards"]
        .as_array_mut()
        .unwrap()
        .push(json!("actor_is_lucky"));
    let err = load_err(&def);
    assert!(matches!(&err, DefinitionError::UnknownGuard { name, .. } if name == "actor_is_lucky"));
    assert_eq!(
        err.to_string(),
        format!(
            "definition BILL_OF_LADING, transition #{i} (TRANSFER): unknown guard \"actor_is_lucky\""
        )
    );
}

#[test]
fn unknown_effect() {
    let mut def = bill();
    let i = at(&def, "SIGN");
    def["transitions"][i]["effects"]
        .as_array_mut()
        .unwrap()
        .insert(0, json!("notify_everyone"));
    assert!(
        matches!(load_err(&def), DefinitionError::UnknownEffect { name, .. } if name == "notify_everyone")
    );
}

#[test]
fn bad_parameters() {
    for (list, item) in [
        ("guards", "actor_has_role:CAPTAIN"),
        ("guards", "actor_has_role"),
        ("guards", "actor_is_carrier:YES"),
        ("guards", "mode_is:SIDEWAYS"),
        ("guards", "actor_is_party:not a code"),
        ("effects", "set_possessor:anyone"),
        ("effects", "set_endorsee_may_endorse:maybe"),
    ] {
        let mut def = bill();
        let i = at(&def, "TRANSFER");
        def["transitions"][i][list]
            .as_array_mut()
            .unwrap()
            .insert(0, json!(item));
        let err = load_err(&def);
        assert!(
            matches!(&err, DefinitionError::BadParameter { item: got, .. } if got == item),
            "{item}: {err}"
        );
    }
}

#[test]
fn recipient_guard_on_an_action_without_recipient() {
    let mut def = bill();
    let i = at(&def, "SIGN");
    def["transitions"][i]["guards"]
        .as_array_mut()
        .unwrap()
        .push(json!("recipient_differs_from_actor"));
    assert!(matches!(
        load_err(&def),
        DefinitionError::NeedsRecipient { .. }
    ));
}

#[test]
fn appoint_recipient_after_a_holder_change() {
    let mut def = bill();
    let i = at(&def, "TRANSFER");
    def["transitions"][i]["effects"] =
        json!(["set_possessor:recipient", "appoint_recipient", "set_status"]);
    assert!(matches!(
        load_err(&def),
        DefinitionError::AppointAfterHolderChange { .. }
    ));
}

#[test]
fn a_transition_must_set_its_status_once() {
    for effects in [
        json!(["record_signature"]),
        json!(["set_status", "set_status"]),
    ] {
        let mut def = bill();
        let i = at(&def, "SIGN");
        def["transitions"][i]["effects"] = effects;
        assert!(matches!(
            load_err(&def),
            DefinitionError::StatusEffect { .. }
        ));
    }
}

#[test]
fn unknown_state() {
    let mut def = bill();
    def["states"]
        .as_array_mut()
        .unwrap()
        .push(json!("LOST_AT_SEA"));
    assert!(
        matches!(load_err(&def), DefinitionError::UnknownState { name, field: "states", .. } if name == "LOST_AT_SEA")
    );
}

#[test]
fn transition_to_an_undeclared_state() {
    let mut def = bill();
    let i = at(&def, "SIGN");
    def["transitions"][i]["to"] = json!("COMPLETED");
    let err = load_err(&def);
    assert!(
        matches!(&err, DefinitionError::UndeclaredState { state, field: "to", .. } if state == "COMPLETED"),
        "{err}"
    );
    let mut def = bill();
    def["transitions"][i]["from"] = json!(["RELEASED"]);
    assert!(matches!(
        load_err(&def),
        DefinitionError::UndeclaredState { field: "from", .. }
    ));
}

#[test]
fn empty_from() {
    let mut def = bill();
    def["transitions"][0]["from"] = json!([]);
    assert!(matches!(load_err(&def), DefinitionError::EmptyFrom { .. }));
}

#[test]
fn missing_initial_or_terminal_state() {
    let mut def = bill();
    def["terminal"] = json!([]);
    assert!(matches!(
        load_err(&def),
        DefinitionError::NoTerminalState { .. }
    ));
    let mut def = bill();
    def["initial"] = json!([]);
    assert!(matches!(
        load_err(&def),
        DefinitionError::NoInitialState { .. }
    ));
}

#[test]
fn creation_into_a_non_initial_state() {
    let mut def = bill();
    def["initial"] = json!(["ISSUED"]);
    assert!(matches!(
        load_err(&def),
        DefinitionError::CreatesInNonInitialState { .. }
    ));
}

#[test]
fn unreachable_state() {
    let mut def = bill();
    // Without VOID nothing reaches VOIDED.
    let i = at(&def, "VOID");
    def["transitions"].as_array_mut().unwrap().remove(i);
    let err = load_err(&def);
    assert_eq!(
        err.to_string(),
        "definition BILL_OF_LADING: state VOIDED is unreachable from the initial states"
    );
}

#[test]
fn terminal_state_with_outgoing_transition() {
    let mut def = bill();
    let i = at(&def, "SIGN");
    def["transitions"][i]["from"] = json!(["ISSUED", "VOIDED"]);
    assert!(matches!(
        load_err(&def),
        DefinitionError::TerminalHasOutgoing { .. }
    ));
}

#[test]
fn duplicate_action_and_from() {
    let mut def = bill();
    let i = at(&def, "SIGN");
    let copy = def["transitions"][i].clone();
    def["transitions"].as_array_mut().unwrap().push(copy);
    let err = load_err(&def);
    assert!(
        matches!(&err, DefinitionError::DuplicateTransition { from, .. } if from == "ISSUED"),
        "{err}"
    );
}

#[test]
fn an_engine_without_a_kind_refuses_its_documents() {
    let engine = Engine::from_json_sources(&STANDARD_DEFINITIONS[..1]).unwrap();
    assert!(engine.definition(DocumentKind::SeaWaybill).is_none());
}
