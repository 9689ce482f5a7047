use super::*;

fn found(text: &str) -> Vec<(String, String)> {
    let r = NameRecognizer::new().unwrap();
    let mut out = Vec::new();
    r.recognize(text, &mut out);
    out.iter()
        .map(|c| (c.class.to_string(), text[c.bytes.clone()].to_string()))
        .collect()
}

fn has(found: &[(String, String)], class: &str, value: &str) -> bool {
    found.iter().any(|(c, v)| c == class && v == value)
}

#[test]
fn finds_people_places_and_organizations() {
    let f = found(
        "Patient Maria Gonzalez was transferred from St. Luke's Hospital in Chicago, Illinois.",
    );
    assert!(has(&f, "PERSON", "Maria Gonzalez"), "{f:?}");
    assert!(has(&f, "LOCATION", "Chicago"), "{f:?}");
    assert!(has(&f, "LOCATION", "Illinois"), "{f:?}");
    assert!(f.iter().any(|(c, _)| c == "ORGANIZATION"), "{f:?}");
}

#[test]
fn eponyms_are_not_people() {
    let f = found("History of Parkinson's disease. The Apgar score was 9.");
    assert!(!f.iter().any(|(c, _)| c == "PERSON"), "{f:?}");
}

#[test]
fn lower_case_chat_and_document_consistency() {
    let f = found("Dr. Okafor reviewed the scan. okafor's note says to call back.");
    assert!(has(&f, "PERSON", "Okafor"), "{f:?}");
    assert!(has(&f, "PERSON", "okafor"), "{f:?}");
}

#[test]
fn plain_prose_has_no_names() {
    let f = found("Please update the invoice before Friday. Total due is 42 dollars.");
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn nrp_is_found() {
    let f = found("The patient is a Brazilian Catholic and speaks Portuguese.");
    assert!(has(&f, "NRP", "Brazilian"), "{f:?}");
}

#[test]
fn model_round_trips_and_rejects_garbage() {
    let m = model::Model::from_bytes(MODEL).unwrap();
    let again = model::Model::from_bytes(&m.to_bytes()).unwrap();
    assert_eq!(again.feature_count(), m.feature_count());
    assert!(model::Model::from_bytes(b"VEILNER1\x01\x00\x00\x00").is_err());
    assert!(model::Model::from_bytes(b"nonsense").is_err());
    assert!(NameRecognizer::with_model(b"").is_err());
}

#[test]
fn spans_of_bio() {
    // O B-PER I-PER B-LOC I-PER(orphan, starts a new span) O
    assert_eq!(
        spans_of(&[0, 1, 2, 3, 2, 0]),
        vec![(1, 1..3), (2, 3..4), (1, 4..5)]
    );
}

#[test]
fn issue_7_default_analyzer_finds_names_and_entities_turns_them_off() {
    use crate::Analyzer;
    let text = "Patient Maria Gonzalez moved to Chicago; email maria.gonzalez@example.com.";
    let on = Analyzer::builder().build().unwrap();
    let found = on.analyze(text);
    let classes: Vec<(&str, &str)> = found
        .iter()
        .map(|f| (f.class.as_str(), &text[f.bytes.clone()]))
        .collect();
    assert!(
        classes.contains(&("PERSON", "Maria Gonzalez")),
        "{classes:?}"
    );
    assert!(classes.contains(&("LOCATION", "Chicago")), "{classes:?}");
    // The name inside the e-mail address stays part of the address.
    assert!(
        classes.iter().any(|(c, _)| *c == "EMAIL_ADDRESS"),
        "{classes:?}"
    );

    let person_only = Analyzer::builder()
        .entities([DataClass::Person])
        .build()
        .unwrap();
    let found = person_only.analyze(text);
    assert!(!found.is_empty());
    assert!(
        found.iter().all(|f| f.class == DataClass::Person),
        "{found:?}"
    );

    let off = Analyzer::builder()
        .entities([DataClass::EmailAddress])
        .build()
        .unwrap();
    let found = off.analyze(text);
    assert!(
        found.iter().all(|f| f.class == DataClass::EmailAddress),
        "{found:?}"
    );
}

#[test]
fn names_stay_out_of_technical_strings() {
    let f = found("badge EMP-001234 for jane.doe@example.com at www.acme.com/jane");
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn issue_7_split_names_are_joined_and_handles_found() {
    let f = found("Invoice payable to Roger A. Jonsson. Plan per Dr. Chandler.");
    assert!(has(&f, "PERSON", "Roger A. Jonsson"), "{f:?}");
    assert!(has(&f, "PERSON", "Chandler"), "{f:?}");
    // Not an e-mail address (no dotted domain): no other recognizer would find the name.
    let f = found("login ok user=Maria.Gonzalez@corp tenant=\"Acme\"");
    assert!(has(&f, "PERSON", "Maria"), "{f:?}");
    assert!(has(&f, "PERSON", "Gonzalez"), "{f:?}");
}

#[test]
fn streets_named_after_people_are_not_people() {
    let f = found("Meet us at 49410 Martin Luther King Blvd or use Franklin Avenue instead.");
    assert!(!f.iter().any(|(c, _)| c == "PERSON"), "{f:?}");
    let f = found("A technician will visit 47189 Kennedy Drive tomorrow. Call Maria Gonzalez.");
    assert!(!has(&f, "PERSON", "Kennedy"), "{f:?}");
    assert!(has(&f, "PERSON", "Maria Gonzalez"), "{f:?}");
}

#[test]
fn a_name_after_an_honorific_is_carried() {
    // The tagger finds the lower-case "mir" only through the name after "Dr.".
    let text =
        "Care passed from Dr. Mir to the night team. The Doppler ultrasound was normal, per mir.";
    let f = found(text);
    assert!(has(&f, "PERSON", "Mir"), "{f:?}");
    assert!(has(&f, "PERSON", "mir"), "{f:?}");
}

#[test]
fn chat_u_is_not_part_of_a_name() {
    let f = found("miss u joelle!! the office isnt the same without u");
    assert!(
        !f.iter().any(|(_, v)| v.split(' ').any(|w| w == "u")),
        "{f:?}"
    );
    let f = found("MISS U AARAV!! SEE U SOON");
    assert!(
        !f.iter().any(|(_, v)| v.split(' ').any(|w| w == "U")),
        "{f:?}"
    );
}

#[test]
fn surname_first_names_are_one_person() {
    // Two one-word persons joined by a comma.
    let f = found("Board members: Kowalczyk, Agnieszka; Hegedűs, Gyöngyi; Brennan, Patrick.");
    assert!(has(&f, "PERSON", "Hegedűs, Gyöngyi"), "{f:?}");
    // "Surname, Given" tagged as an organization.
    let f = found("The lessee, Tóth, Zita, shall pay on the first day of each month.");
    assert!(has(&f, "PERSON", "Tóth, Zita"), "{f:?}");
    // The surname tagged as an organization, the given name as a person.
    let f = found("Admitted for observation: patient Awolowo, Moyosore (bed 4).");
    assert!(has(&f, "PERSON", "Awolowo, Moyosore"), "{f:?}");
    // A given name after the comma that the tagger missed.
    let f = found("Credit limit raised for कौल, दीप्ति; approved by the bank.");
    assert!(has(&f, "PERSON", "कौल, दीप्ति"), "{f:?}");
    // A surname at the start of a field that the tagger missed.
    let f = found("Patient name: Rice, Antoin\nDate of birth: 1970");
    assert!(has(&f, "PERSON", "Rice, Antoin"), "{f:?}");
    // A list of given names stays a list.
    let f = found("Maria, John and Peter came to the party.");
    assert!(has(&f, "PERSON", "Maria"), "{f:?}");
    assert!(has(&f, "PERSON", "John"), "{f:?}");
}

#[test]
fn streets_in_any_casing_and_after_jr_are_not_people() {
    let f = found("DRIVE NORTH ON JEFFERSON AVENUE UNTIL THE BRIDGE.");
    assert!(!f.iter().any(|(c, _)| c == "PERSON"), "{f:?}");
    let f = found("turn right onto jefferson street after the bank.");
    assert!(!f.iter().any(|(c, _)| c == "PERSON"), "{f:?}");
    let f = found("Turn left onto Martin Luther King Jr. Boulevard at the lights.");
    assert!(!f.iter().any(|(c, _)| c == "PERSON"), "{f:?}");
}

#[test]
fn unlisted_eponyms_before_a_clinical_head_are_not_people() {
    let f = found("Gleason score 4+3, Wells score 1; repeat in a month.");
    assert!(!f.iter().any(|(c, _)| c == "PERSON"), "{f:?}");
    // After an honorific the name stays a person's.
    let f = found("Dr. Wells reviewed the chart.");
    assert!(has(&f, "PERSON", "Wells"), "{f:?}");
}

#[test]
fn possessive_endings_are_not_part_of_names() {
    let f = found("The endocrine team (Garcia's firm) will call.");
    assert!(has(&f, "PERSON", "Garcia"), "{f:?}");
    assert!(!f.iter().any(|(_, v)| v.contains("'s")), "{f:?}");
}

#[test]
fn a_given_name_runs_on_into_its_surname() {
    let f = found("Is Zsuzsanna Soós the new manager at the plant?");
    assert!(has(&f, "PERSON", "Zsuzsanna Soós"), "{f:?}");
    let f = found("is klára dušková the one who moved to brno?");
    assert!(has(&f, "PERSON", "klára dušková"), "{f:?}");
}

#[test]
fn spans_are_split_at_brackets_and_colons() {
    let f = found("Escalation: Renée Henry (Meridian plc, priority account)");
    assert!(has(&f, "PERSON", "Renée Henry"), "{f:?}");
    assert!(has(&f, "ORGANIZATION", "Meridian plc"), "{f:?}");
}

#[test]
fn short_acronyms_in_mixed_case_text_are_not_people() {
    let f = found("We are pleased to announce that Ana Lima has joined Northwind as CTO.");
    assert!(has(&f, "PERSON", "Ana Lima"), "{f:?}");
    assert!(!has(&f, "PERSON", "CTO"), "{f:?}");
}

#[test]
fn a_name_after_an_honorific_is_found_when_the_tagger_misses_it() {
    let f = found("Transferred care from Dr. Trần to Dr. McMaster at shift change.");
    assert!(has(&f, "PERSON", "Trần"), "{f:?}");
    let f = found(
        "Counsel for the respondent, Ms Kimachu of Meridian Labs, applied for an adjournment.",
    );
    assert!(has(&f, "PERSON", "Kimachu"), "{f:?}");
    let f = found("Mr. Justice Nguyen dismissed the appeal.");
    assert!(has(&f, "PERSON", "Nguyen"), "{f:?}");
}

#[test]
fn a_part_of_a_full_name_found_with_another_class_is_the_person() {
    let f = found("Welcome email sent to Blake Mckinney. Mckinney replied on Monday.");
    assert!(has(&f, "PERSON", "Mckinney"), "{f:?}");
    assert!(!f.iter().any(|(c, _)| c == "ORGANIZATION"), "{f:?}");
}

#[test]
fn a_given_name_runs_on_into_its_surname_in_scripts_without_case() {
    // Thai and Devanagari have no capitals: the surname is not "lower-case".
    let f = found("Rewrite this paragraph so that นุจรี ทศโยธิน sounds less formal.");
    assert!(has(&f, "PERSON", "นุจรี ทศโยธิน"), "{f:?}");
    let f = found("Please call आनन्दा बोस today.");
    assert!(has(&f, "PERSON", "आनन्दा बोस"), "{f:?}");
    // Two words outside ASCII: the given name need not be in a list.
    let f = found("did u see what תמר אסרף posted");
    assert!(has(&f, "PERSON", "תמר אסרף"), "{f:?}");
}

#[test]
fn organization_keywords_alone_are_not_people() {
    let f = found("Referring: Porto Alegre Community Clinic");
    assert!(!f.iter().any(|(c, _)| c == "PERSON"), "{f:?}");
    assert!(
        has(&f, "ORGANIZATION", "Porto Alegre Community Clinic"),
        "{f:?}"
    );
}

#[test]
fn one_word_given_names_are_carried_through_the_document() {
    // A listed given name that names nothing else.
    let f = found("Juan: ok\nElżbieta: see u at 7\nJuan: 👍");
    assert_eq!(
        f.iter()
            .filter(|(c, v)| c == "PERSON" && v == "Juan")
            .count(),
        2,
        "{f:?}"
    );
    // An unlisted word in a non-Latin script.
    let f = found("อารีย์ told me acme s.a. is hiring อารีย์ told me so");
    assert_eq!(
        f.iter()
            .filter(|(c, v)| c == "PERSON" && v == "อารีย์")
            .count(),
        2,
        "{f:?}"
    );
}
