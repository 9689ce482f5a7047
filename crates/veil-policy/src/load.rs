//! Loading and checking policy sources: `.cedar` files, the schema, class groups.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    path::Path,
    str::FromStr,
};

use cedar_policy::{Authorizer, Entity, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use veil_detect::DataClass;

use crate::decide::{Actions, ClassMemo, PseudonymMode};

/// The embedded default set, also found in `crates/veil-policy/policies/`.
const DEFAULT_POLICIES: &str = include_str!("../policies/default.cedar");
const DEFAULT_SCHEMA: &str = include_str!("../policies/schema.cedarschema");
const DEFAULT_GROUPS: &str = include_str!("../policies/groups.toml");
const DEFAULT_TESTS: &str = include_str!("../policies/default.tests.toml");

/// File names looked for in a policy directory.
pub const SCHEMA_FILE: &str = "schema.cedarschema";
/// The class groups file of a policy directory.
pub const GROUPS_FILE: &str = "groups.toml";

/// The text of a policy set: each file as `(name, text)`.
#[derive(Debug, Clone)]
pub struct Sources {
    /// `.cedar` files, in load order.
    pub policies: Vec<(String, String)>,
    /// The Cedar schema.
    pub schema: (String, String),
    /// The class groups (`GROUP = ["CLASS", ...]`).
    pub groups: (String, String),
    /// `.tests.toml` files.
    pub tests: Vec<(String, String)>,
}

impl Sources {
    /// The embedded default set.
    pub fn default_set() -> Self {
        Self {
            policies: vec![("default.cedar".to_owned(), DEFAULT_POLICIES.to_owned())],
            schema: (SCHEMA_FILE.to_owned(), DEFAULT_SCHEMA.to_owned()),
            groups: (GROUPS_FILE.to_owned(), DEFAULT_GROUPS.to_owned()),
            tests: vec![("default.tests.toml".to_owned(), DEFAULT_TESTS.to_owned())],
        }
    }

    /// Reads `*.cedar`, `*.tests.toml`, `schema.cedarschema` and `groups.toml` from `dir`
    /// (files sorted by name). A missing schema or groups file falls back to the embedded one.
    pub fn from_dir(dir: &Path) -> Result<Self, LoadError> {
        let io = |path: &Path, err: std::io::Error| {
            LoadError::one(Diagnostic {
                file: path.display().to_string(),
                line: 0,
                column: 0,
                message: format!("cannot read: {err}"),
            })
        };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
            let entry = entry.map_err(|e| io(dir, e))?;
            names.push(entry.path());
        }
        names.sort();
        let mut sources = Self {
            policies: Vec::new(),
            schema: (SCHEMA_FILE.to_owned(), DEFAULT_SCHEMA.to_owned()),
            groups: (GROUPS_FILE.to_owned(), DEFAULT_GROUPS.to_owned()),
            tests: Vec::new(),
        };
        for path in names {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let read = || std::fs::read_to_string(&path).map_err(|e| io(&path, e));
            let shown = path.display().to_string();
            if name.ends_with(".cedar") {
                sources.policies.push((shown, read()?));
            } else if name.ends_with(".tests.toml") {
                sources.tests.push((shown, read()?));
            } else if name == SCHEMA_FILE {
                sources.schema = (shown, read()?);
            } else if name == GROUPS_FILE {
                sources.groups = (shown, read()?);
            }
        }
        if sources.policies.is_empty() {
            return Err(LoadError::one(Diagnostic {
                file: dir.display().to_string(),
                line: 0,
                column: 0,
                message: "no `.cedar` policy file in directory".to_owned(),
            }));
        }
        Ok(sources)
    }
}

/// One problem in a policy source, with its place (1-based line and column; 0 if unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file name as given in [`Sources`].
    pub file: String,
    /// 1-based line, 0 when the problem has no single place.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Policy sources that do not load: every problem found, each with file and line.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub struct LoadError {
    /// The problems, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadError {
    fn one(diagnostic: Diagnostic) -> Self {
        Self {
            diagnostics: vec![diagnostic],
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for d in &self.diagnostics {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Line and column (1-based) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Turns a Cedar (miette) diagnostic into ours, placed by its first label.
fn place(err: &dyn miette::Diagnostic, file: &str, text: &str, out: &mut Vec<Diagnostic>) {
    let mut message = err.to_string();
    if let Some(help) = err.help() {
        message.push_str(&format!(" (help: {help})"));
    }
    let offset = err
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| label.offset());
    let (line, column) = offset.map_or((0, 0), |o| line_col(text, o));
    out.push(Diagnostic {
        file: file.to_owned(),
        line,
        column,
        message,
    });
    if let Some(related) = err.related() {
        for inner in related {
            place(inner, file, text, out);
        }
    }
}

/// A loaded, schema-validated policy set, ready to [`decide`](Policies::decide).
pub struct Policies {
    /// The whole set, as loaded and validated.
    pub(crate) set: PolicySet,
    /// Built once: Cedar's authorizer holds only its extensions.
    pub(crate) authorizer: Authorizer,
    pub(crate) schema: Schema,
    pub(crate) class_entities: HashMap<DataClass, Entity>,
    pub(crate) actions: Actions,
    pub(crate) pseudonym_mode: PseudonymMode,
    pub(crate) origins: BTreeMap<String, (String, usize)>,
    pub(crate) sources: Sources,
    /// The per-class answers of recent decisions (see `Policies::decide`).
    pub(crate) class_memo: ClassMemo,
}

impl fmt::Debug for Policies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policies")
            .field("policies", &self.origins.keys().collect::<Vec<_>>())
            .field("pseudonym_mode", &self.pseudonym_mode)
            .finish_non_exhaustive()
    }
}

impl Policies {
    /// The embedded default set.
    pub fn default_set() -> Result<Self, LoadError> {
        Self::load(Sources::default_set())
    }

    /// Loads the policy directory `dir` (see [`Sources::from_dir`]).
    pub fn from_dir(dir: &Path) -> Result<Self, LoadError> {
        Self::load(Sources::from_dir(dir)?)
    }

    /// Parses, names and validates `sources` against their schema (strict mode). Every
    /// problem is reported, each with its file and line.
    pub fn load(sources: Sources) -> Result<Self, LoadError> {
        let mut diagnostics = Vec::new();

        let (schema_file, schema_text) = &sources.schema;
        let schema = match Schema::from_cedarschema_str(schema_text) {
            Ok((schema, _warnings)) => Some(schema),
            Err(err) => {
                place(&err, schema_file, schema_text, &mut diagnostics);
                None
            }
        };

        let (groups_file, groups_text) = &sources.groups;
        let groups = parse_groups(groups_file, groups_text, &mut diagnostics);

        // Each policy is renamed after its `@id`, so that reasons read as names.
        let mut set = PolicySet::new();
        let mut origins: BTreeMap<String, (String, usize)> = BTreeMap::new();
        for (file, text) in &sources.policies {
            let parsed = match PolicySet::from_str(text) {
                Ok(parsed) => parsed,
                Err(err) => {
                    place(&err, file, text, &mut diagnostics);
                    continue;
                }
            };
            if parsed.templates().next().is_some() {
                diagnostics.push(Diagnostic {
                    file: file.clone(),
                    line: 0,
                    column: 0,
                    message: "policy templates are not supported".to_owned(),
                });
            }
            for policy in parsed.policies() {
                let id = match policy.annotation("id") {
                    Some(id) => id.to_owned(),
                    None => format!("{file}#{}", policy.id()),
                };
                let line = text
                    .find(&format!("@id(\"{id}\")"))
                    .map_or(0, |offset| line_col(text, offset).0);
                if let Some((other, other_line)) = origins.get(&id) {
                    diagnostics.push(Diagnostic {
                        file: file.clone(),
                        line,
                        column: 1,
                        message: format!(
                            "duplicate policy id `{id}` (first at {other}:{other_line})"
                        ),
                    });
                    continue;
                }
                origins.insert(id.clone(), (file.clone(), line));
                if let Err(err) = set.add(policy.new_id(PolicyId::new(&id))) {
                    diagnostics.push(Diagnostic {
                        file: file.clone(),
                        line,
                        column: 1,
                        message: err.to_string(),
                    });
                }
            }
        }

        if let Some(schema) = &schema {
            let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
            for err in result.validation_errors() {
                let id = err.policy_id().to_string();
                let (file, text) = origins
                    .get(&id)
                    .and_then(|(file, _)| sources.policies.iter().find(|(f, _)| f == file))
                    .map_or(("<unknown>", ""), |(f, t)| (f.as_str(), t.as_str()));
                let start = diagnostics.len();
                place(err, file, text, &mut diagnostics);
                for d in diagnostics.iter_mut().skip(start) {
                    d.message = format!("policy `{id}`: {}", d.message);
                }
            }
        }

        let Some(schema) = schema else {
            return Err(LoadError { diagnostics });
        };
        if !diagnostics.is_empty() {
            return Err(LoadError { diagnostics });
        }

        let names = crate::names();
        let mut parents: BTreeMap<DataClass, Vec<String>> = DataClass::BUILT_IN
            .iter()
            .map(|c| (c.clone(), Vec::new()))
            .collect();
        for (group, classes) in &groups {
            for class in classes {
                parents
                    .entry(class.clone())
                    .or_default()
                    .push(group.clone());
            }
        }
        let class_entities = parents
            .into_iter()
            .map(|(class, groups)| {
                let uid = crate::model::uid(&names.class, class.as_str());
                let parents = groups
                    .iter()
                    .map(|g| crate::model::uid(&names.group, g))
                    .collect();
                (class, Entity::new_no_attrs(uid, parents))
            })
            .collect();
        let actions = Actions::new(&set, &schema).map_err(|message| {
            LoadError::one(Diagnostic {
                file: schema_file.clone(),
                line: 0,
                column: 0,
                message,
            })
        })?;

        Ok(Self {
            set,
            authorizer: Authorizer::new(),
            schema,
            class_entities,
            actions,
            pseudonym_mode: PseudonymMode::default(),
            origins,
            sources,
            class_memo: ClassMemo::default(),
        })
    }

    /// Sets how pseudonyms look (default: tags).
    pub fn with_pseudonym_mode(mut self, mode: PseudonymMode) -> Self {
        self.pseudonym_mode = mode;
        // Answers remembered so far carry the former mode.
        self.class_memo = ClassMemo::default();
        self
    }

    /// The policy ids with the file and line each comes from.
    pub fn policy_ids(&self) -> impl Iterator<Item = (&str, &str, usize)> {
        self.origins
            .iter()
            .map(|(id, (file, line))| (id.as_str(), file.as_str(), *line))
    }

    /// The sources this set was loaded from (test cases included).
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// The Cedar schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }
}

/// `GROUP = ["CLASS", ...]`; every class name must be a data class name.
fn parse_groups(
    file: &str,
    text: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Vec<DataClass>> {
    let raw: BTreeMap<String, Vec<String>> = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(err) => {
            let (line, column) = err.span().map_or((0, 0), |s| line_col(text, s.start));
            diagnostics.push(Diagnostic {
                file: file.to_owned(),
                line,
                column,
                message: err.message().to_owned(),
            });
            return BTreeMap::new();
        }
    };
    let mut groups = BTreeMap::new();
    for (group, names) in raw {
        let line = text
            .lines()
            .position(|l| l.trim_start().starts_with(group.as_str()))
            .map_or(0, |i| i + 1);
        let mut classes = Vec::new();
        for name in names {
            match DataClass::parse_any(&name) {
                Ok(class) => classes.push(class),
                Err(err) => diagnostics.push(Diagnostic {
                    file: file.to_owned(),
                    line,
                    column: 1,
                    message: format!("group `{group}`: {err}"),
                }),
            }
        }
        groups.insert(group, classes);
    }
    groups
}
