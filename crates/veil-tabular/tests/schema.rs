//! Schema and hierarchy errors name the file, line and column; good schemas resolve.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use veil_tabular::{Schema, Table, infer_schema};

fn table() -> Table {
    let csv = "name,age,zip,sex,diagnosis\nann,34,02139,F,flu\nbob,35,02138,M,cold\n";
    Table::read_csv_from(csv.as_bytes(), Path::new("in.csv")).unwrap()
}

fn position(text: &str) -> (usize, usize) {
    let err = Schema::parse(text, Path::new("s.toml"))
        .and_then(|s| s.resolve(&table(), text, Path::new("s.toml")))
        .unwrap_err();
    let loc = err
        .location()
        .unwrap_or_else(|| panic!("no location in `{err}`"));
    assert_eq!(loc.file, Path::new("s.toml"));
    assert!(
        err.to_string()
            .contains(&format!("s.toml:{}:{}", loc.line, loc.column)),
        "{err}"
    );
    (loc.line, loc.column)
}

#[test]
fn unknown_field_points_to_it() {
    let text =
        "[[column]]\nname = \"age\"\nrole = \"quasi_identifier\"\nhierachy = { kind = \"flat\" }\n";
    assert_eq!(position(text).0, 4);
}

#[test]
fn unknown_role_points_to_it() {
    let text = "[[column]]\nname = \"age\"\nrole = \"quasi\"\n";
    assert_eq!(position(text), (3, 8));
}

#[test]
fn unknown_hierarchy_kind_and_bad_widths_point_to_the_hierarchy() {
    let text = "[[column]]\nname = \"age\"\nrole = \"quasi_identifier\"\ntype = \"integer\"\nhierarchy = { kind = \"intervals\", widths = [5, 7] }\n";
    assert_eq!(position(text), (5, 13));
    let text = "[[column]]\nname = \"age\"\nrole = \"quasi_identifier\"\nhierarchy = { kind = \"magic\" }\n";
    assert_eq!(position(text).0, 4);
}

#[test]
fn missing_column_and_duplicates_point_to_the_name() {
    let text = "[[column]]\nname = \"agee\"\nrole = \"quasi_identifier\"\n";
    assert_eq!(position(text), (2, 8));
    let text = "[[column]]\nname = \"age\"\nrole = \"quasi_identifier\"\n\n[[column]]\nname = \"age\"\nrole = \"sensitive\"\n";
    assert_eq!(position(text), (6, 8));
}

#[test]
fn non_numeric_integer_column_points_to_the_name() {
    let text = "[[column]]\nname = \"sex\"\nrole = \"quasi_identifier\"\ntype = \"integer\"\n";
    assert_eq!(position(text), (2, 8));
}

#[test]
fn bad_hierarchy_file_points_into_that_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sex.csv"), "F;*\nM\n").unwrap();
    let text = "[[column]]\nname = \"sex\"\nrole = \"quasi_identifier\"\nhierarchy = { kind = \"file\", path = \"sex.csv\" }\n";
    let path = dir.path().join("s.toml");
    let err = Schema::parse(text, &path)
        .unwrap()
        .resolve(&table(), text, &path)
        .unwrap_err();
    let loc = err.location().unwrap();
    assert_eq!(
        (loc.file.clone(), loc.line, loc.column),
        (dir.path().join("sex.csv"), 2, 2),
        "{err}"
    );
}

#[test]
fn a_good_schema_resolves_and_an_inferred_one_parses() {
    let text = "[privacy]\nk = 2\n\n[[column]]\nname = \"name\"\nrole = \"identifier\"\naction = \"drop\"\n\n\
                [[column]]\nname = \"zip\"\nrole = \"quasi_identifier\"\nhierarchy = { kind = \"prefix\" }\n\n\
                [[column]]\nname = \"sex\"\nrole = \"quasi_identifier\"\nhierarchy = { kind = \"tree\", levels = [{ F = \"person\", M = \"person\" }] }\n\n\
                [[column]]\nname = \"diagnosis\"\nrole = \"sensitive\"\n";
    let schema = Schema::parse(text, Path::new("s.toml")).unwrap();
    let plan = schema.resolve(&table(), text, Path::new("s.toml")).unwrap();
    assert_eq!(plan.quasi.len(), 2);
    assert_eq!(plan.quasi[1].hierarchy.label(1, 0), Some("person"));
    assert_eq!(plan.identifiers.len(), 1);
    assert_eq!(schema.privacy.unwrap().k, Some(2));

    let inferred = infer_schema(&table());
    let schema = Schema::parse(&inferred, Path::new("inferred.toml")).unwrap();
    let plan = schema
        .resolve(&table(), &inferred, Path::new("inferred.toml"))
        .unwrap();
    assert_eq!(plan.identifiers.len(), 1, "{inferred}"); // `name`
    assert_eq!(plan.quasi.len(), 4, "{inferred}");
}

#[test]
fn data_errors_point_to_the_record() {
    let err = Table::read_csv_from("a,b\n1,2\n3\n".as_bytes(), Path::new("d.csv")).unwrap_err();
    assert_eq!(err.location().map(|l| l.line), Some(3), "{err}");
    let err = Table::read_csv_from("a,a\n1,2\n".as_bytes(), Path::new("d.csv")).unwrap_err();
    assert_eq!(
        err.location().map(|l| (l.line, l.column)),
        Some((1, 2)),
        "{err}"
    );
}

#[test]
fn the_shipped_adult_schema_and_hierarchies_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/adult");
    let (schema, _) = Schema::read(&dir.join("schema.toml")).unwrap();
    assert_eq!(schema.columns.len(), 9);
    for name in [
        "workclass",
        "education",
        "marital-status",
        "race",
        "sex",
        "native-country",
        "salary-class",
    ] {
        let path = dir.join(format!("{name}.csv"));
        let text = std::fs::read_to_string(&path).unwrap();
        let domain: Vec<String> = text
            .lines()
            .map(|l| l.split(';').next().unwrap().to_owned())
            .collect();
        let h = veil_tabular::Hierarchy::parse_arx(&text, &path, &domain).unwrap();
        assert!(h.height() >= 1, "{name}");
    }
}
