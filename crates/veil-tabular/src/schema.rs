//! The schema file: one entry per column with its role, type and hierarchy.
//!
//! ```toml
//! [[column]]
//! name = "zip"
//! role = "quasi_identifier"
//! type = "string"
//! hierarchy = { kind = "prefix" }
//! ```
//!
//! A schema is parsed once, then resolved against the data into a [`Plan`] (hierarchies
//! built, names checked); every fault found on the way names the file, line and column.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::error::{Error, Location, Result, line_col};
use crate::hierarchy::{DateLevel, Hierarchy, parse_date};
use crate::table::{Column, Table};

/// A whole schema file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// One entry per column of the data that is not insensitive; columns not listed are
    /// passed through unchanged (insensitive).
    #[serde(default, rename = "column")]
    pub columns: Vec<ColumnSpec>,
    /// Privacy models; command-line flags override these.
    #[serde(default)]
    pub privacy: Option<PrivacySpec>,
}

/// How one column is treated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// The header name in the data.
    pub name: Spanned<String>,
    /// What the column is, for the attacker model.
    pub role: Role,
    /// The value type; decides ordering, generated hierarchies and distances.
    #[serde(rename = "type", default)]
    pub value_type: ValueType,
    /// The generalization hierarchy (quasi-identifiers; sensitive columns for hierarchical
    /// t-closeness). Generated from the data when absent.
    #[serde(default)]
    pub hierarchy: Option<Spanned<HierarchySpec>>,
    /// What to do with an identifier column: `drop` (default) or `hash`.
    #[serde(default)]
    pub action: Option<IdentifierAction>,
}

/// The role of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Directly identifies a person: dropped or pseudonymized.
    Identifier,
    /// Could identify in combination (age, zip, sex): generalized.
    QuasiIdentifier,
    /// The attribute to protect (diagnosis): kept, constrained by l-diversity / t-closeness.
    Sensitive,
    /// Kept as is.
    Insensitive,
}

/// Value types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// Categorical text.
    #[default]
    String,
    /// Whole numbers.
    Integer,
    /// Decimal numbers.
    Decimal,
    /// `YYYY-MM-DD` dates.
    Date,
}

/// What happens to an identifier column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierAction {
    /// Removed from the release.
    Drop,
    /// Replaced by a keyed HMAC-SHA256 pseudonym (needs a key).
    Hash,
}

/// A hierarchy, from a file or generated.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum HierarchySpec {
    /// ARX-format CSV, path relative to the schema file.
    File {
        /// The CSV file.
        path: PathBuf,
    },
    /// Numeric intervals of these widths, each a multiple of the one before.
    Intervals {
        /// Widths from fine to coarse.
        widths: Vec<f64>,
    },
    /// Mask one character from the right per level.
    Prefix,
    /// Truncate `YYYY-MM-DD` dates.
    Dates {
        /// Steps from fine to coarse.
        levels: Vec<DateLevel>,
    },
    /// A categorical tree, level by level: each table maps a label to its parent.
    Tree {
        /// Child -> parent maps, from the values upwards.
        levels: Vec<HashMap<String, String>>,
    },
    /// The value, then `*`.
    Flat,
}

/// l-diversity variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LVariant {
    /// At least l distinct sensitive values per class.
    #[default]
    Distinct,
    /// Entropy of the sensitive values at least ln(l).
    Entropy,
    /// Recursive (c,l): the most frequent value is rarer than c times the l-th onwards.
    Recursive,
}

/// Ground distances for t-closeness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TDistance {
    /// Ordered for numbers, hierarchical when a hierarchy is given, equal otherwise.
    #[default]
    Auto,
    /// Every pair of distinct values is at distance 1.
    Equal,
    /// Distance through the sensitive column's hierarchy.
    Hierarchical,
    /// Distance by rank in the value order.
    Ordered,
}

/// The `[privacy]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySpec {
    /// Minimum equivalence-class size.
    pub k: Option<usize>,
    /// l for l-diversity.
    pub l: Option<f64>,
    /// The l-diversity variant.
    pub l_variant: Option<LVariant>,
    /// c for recursive (c,l)-diversity.
    pub c: Option<f64>,
    /// t for t-closeness.
    pub t: Option<f64>,
    /// The ground distance for t-closeness.
    pub t_distance: Option<TDistance>,
    /// The largest share of records that may be suppressed, 0 to 1.
    pub suppression: Option<f64>,
}

/// A quasi-identifier resolved against the data.
#[derive(Debug, Clone)]
pub struct QuasiPlan {
    /// Index of the column in the input.
    pub column: usize,
    /// Its hierarchy over the column's dictionary.
    pub hierarchy: Hierarchy,
    /// Numeric value per dictionary code, for numeric columns.
    pub numbers: Option<Vec<f64>>,
    /// True when the hierarchy was generated flat (value, then `*`).
    pub flat: bool,
}

/// A sensitive column resolved against the data.
#[derive(Debug, Clone)]
pub struct SensitivePlan {
    /// Index of the column in the input.
    pub column: usize,
    /// Numeric value per dictionary code, for numeric columns.
    pub numbers: Option<Vec<f64>>,
    /// A hierarchy, for hierarchical t-closeness.
    pub hierarchy: Option<Hierarchy>,
}

/// Every column's treatment, validated against the data.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Quasi-identifiers in schema order.
    pub quasi: Vec<QuasiPlan>,
    /// Sensitive columns.
    pub sensitive: Vec<SensitivePlan>,
    /// Identifier columns and their action, by input index.
    pub identifiers: Vec<(usize, IdentifierAction)>,
}

impl Schema {
    /// Reads and parses a schema file.
    pub fn read(path: &Path) -> Result<(Self, String)> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let schema = Self::parse(&text, path)?;
        Ok((schema, text))
    }

    /// Parses schema text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            Error::at(
                Location {
                    file: path.to_path_buf(),
                    line,
                    column,
                },
                "schema",
                e.message().to_owned(),
            )
        })
    }

    /// Resolves the schema against the data: checks names and builds hierarchies.
    /// `text` is the schema's text (for error positions), `path` its file.
    pub fn resolve(&self, table: &Table, text: &str, path: &Path) -> Result<Plan> {
        let at = |span: std::ops::Range<usize>, msg: String| {
            let (line, column) = line_col(text, span.start);
            Error::at(
                Location {
                    file: path.to_path_buf(),
                    line,
                    column,
                },
                "schema",
                msg,
            )
        };
        let mut plan = Plan {
            quasi: Vec::new(),
            sensitive: Vec::new(),
            identifiers: Vec::new(),
        };
        let mut seen: HashMap<&str, ()> = HashMap::new();
        let base = path.parent().unwrap_or(Path::new("."));
        for spec in &self.columns {
            let name = spec.name.get_ref().as_str();
            if seen.insert(name, ()).is_some() {
                return Err(at(
                    spec.name.span(),
                    format!("column `{name}` is listed twice"),
                ));
            }
            let Some(index) = table.columns().iter().position(|c| c.name() == name) else {
                return Err(at(
                    spec.name.span(),
                    format!("column `{name}` is not in the data"),
                ));
            };
            let Some(column) = table.columns().get(index) else {
                continue;
            };
            if spec.action.is_some() && spec.role != Role::Identifier {
                return Err(at(
                    spec.name.span(),
                    format!("column `{name}`: `action` applies to identifiers only"),
                ));
            }
            let numbers = match spec.value_type {
                ValueType::Integer | ValueType::Decimal => Some(
                    crate::hierarchy::parse_numbers(column.dict(), name)
                        .map_err(|e| at(spec.name.span(), e.to_string()))?,
                ),
                ValueType::Date => {
                    if column.dict().iter().any(|v| parse_date(v).is_none()) {
                        return Err(at(
                            spec.name.span(),
                            format!("column `{name}` has a value that is not a `YYYY-MM-DD` date"),
                        ));
                    }
                    None
                }
                ValueType::String => None,
            };
            let build = |h: &Spanned<HierarchySpec>| {
                build_hierarchy(h.get_ref(), column, spec.value_type, base).map_err(|e| {
                    match e.location() {
                        Some(_) => e,
                        None => at(h.span(), e.to_string()),
                    }
                })
            };
            match spec.role {
                Role::Identifier => plan
                    .identifiers
                    .push((index, spec.action.unwrap_or(IdentifierAction::Drop))),
                Role::QuasiIdentifier => {
                    let (hierarchy, flat) = match &spec.hierarchy {
                        Some(h) => (build(h)?, *h.get_ref() == HierarchySpec::Flat),
                        None => {
                            let auto = auto_hierarchy(column, spec.value_type);
                            let flat = auto == HierarchySpec::Flat;
                            (build_hierarchy(&auto, column, spec.value_type, base)?, flat)
                        }
                    };
                    plan.quasi.push(QuasiPlan {
                        column: index,
                        hierarchy,
                        numbers,
                        flat,
                    });
                }
                Role::Sensitive => {
                    let hierarchy = spec.hierarchy.as_ref().map(build).transpose()?;
                    plan.sensitive.push(SensitivePlan {
                        column: index,
                        numbers,
                        hierarchy,
                    });
                }
                Role::Insensitive => {
                    if spec.hierarchy.is_some() {
                        return Err(at(
                            spec.name.span(),
                            format!("column `{name}`: an insensitive column takes no hierarchy"),
                        ));
                    }
                }
            }
        }
        if plan.quasi.is_empty() {
            return Err(Error::in_file(
                path,
                "schema",
                "no column has the role `quasi_identifier`",
            ));
        }
        Ok(plan)
    }
}

fn build_hierarchy(
    spec: &HierarchySpec,
    column: &Column,
    ty: ValueType,
    base: &Path,
) -> Result<Hierarchy> {
    let name = column.name();
    let dict = column.dict();
    match spec {
        HierarchySpec::File { path } => Hierarchy::read_arx(&base.join(path), dict),
        HierarchySpec::Intervals { widths } => {
            if widths.is_empty() {
                return Err(Error::config(format!("column `{name}`: `widths` is empty")));
            }
            Hierarchy::intervals(dict, widths, name)
        }
        HierarchySpec::Prefix => Ok(Hierarchy::prefix(dict)),
        HierarchySpec::Dates { levels } => {
            if ty != ValueType::Date && ty != ValueType::String {
                return Err(Error::config(format!(
                    "column `{name}`: date levels need `type = \"date\"`"
                )));
            }
            Hierarchy::dates(dict, levels, name)
        }
        HierarchySpec::Tree { levels } => Hierarchy::tree(dict, levels, Path::new(name)),
        HierarchySpec::Flat => Ok(Hierarchy::flat(dict)),
    }
}

/// The type of a column, guessed from its values.
pub fn infer_type(column: &Column) -> ValueType {
    let dict = column.dict();
    if dict.is_empty() {
        return ValueType::String;
    }
    if dict.iter().all(|v| v.trim().parse::<i64>().is_ok()) {
        ValueType::Integer
    } else if dict
        .iter()
        .all(|v| v.trim().parse::<f64>().is_ok_and(f64::is_finite))
    {
        ValueType::Decimal
    } else if dict.iter().all(|v| parse_date(v).is_some()) {
        ValueType::Date
    } else {
        ValueType::String
    }
}

/// The hierarchy generated for a column when none is given: prefix masking for fixed-width
/// codes (zip codes: equal length and a leading zero, or a name that says so), intervals for
/// numbers, month/year/decade for dates, flat for text.
pub fn auto_hierarchy(column: &Column, ty: ValueType) -> HierarchySpec {
    let dict = column.dict();
    let lname = column.name().to_ascii_lowercase();
    let codeish = ["zip", "post", "plz", "postal"]
        .iter()
        .any(|w| lname.contains(w));
    let first_len = dict.first().map_or(0, String::len);
    let fixed = first_len >= 3 && dict.iter().all(|v| v.len() == first_len);
    match ty {
        ValueType::Integer if fixed && (codeish || dict.iter().any(|v| v.starts_with('0'))) => {
            HierarchySpec::Prefix
        }
        ValueType::String if fixed && codeish => HierarchySpec::Prefix,
        ValueType::Integer | ValueType::Decimal => {
            let nums: Vec<f64> = dict.iter().filter_map(|v| v.trim().parse().ok()).collect();
            let lo = nums.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = nums.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let range = hi - lo;
            if !(range.is_finite() && range > 0.0) {
                return HierarchySpec::Flat;
            }
            let mut w = nice(range / 20.0);
            if ty == ValueType::Integer {
                w = w.max(1.0);
            }
            let mut widths = Vec::new();
            while w < range && widths.len() < 8 {
                widths.push(w);
                w *= 2.0;
            }
            if widths.is_empty() {
                HierarchySpec::Flat
            } else {
                HierarchySpec::Intervals { widths }
            }
        }
        ValueType::Date => HierarchySpec::Dates {
            levels: vec![DateLevel::Month, DateLevel::Year, DateLevel::Decade],
        },
        ValueType::String => HierarchySpec::Flat,
    }
}

/// The smallest of 1, 2, 5 times a power of ten that is at least `x`.
fn nice(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&v| v >= x * (1.0 - 1e-12))
        .unwrap_or(10.0 * p)
}

/// Builds a plan from quick flags: hierarchies generated from the data.
pub fn plan_from_flags(
    table: &Table,
    quasi: &[String],
    sensitive: &[String],
    identifiers: &[(String, IdentifierAction)],
) -> Result<Plan> {
    let index = |name: &str| {
        table
            .columns()
            .iter()
            .position(|c| c.name() == name)
            .ok_or_else(|| Error::config(format!("no column `{name}` in the input")))
    };
    let mut all: Vec<&str> = quasi.iter().chain(sensitive).map(String::as_str).collect();
    all.extend(identifiers.iter().map(|(n, _)| n.as_str()));
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = all.iter().find(|n| !seen.insert(**n)) {
        return Err(Error::config(format!(
            "column `{dup}` is given more than one role"
        )));
    }
    if quasi.is_empty() {
        return Err(Error::config(
            "give at least one quasi-identifier with `--qi`",
        ));
    }
    let mut plan = Plan {
        quasi: Vec::new(),
        sensitive: Vec::new(),
        identifiers: Vec::new(),
    };
    for name in quasi {
        let i = index(name)?;
        let column = table.require(name)?;
        let ty = infer_type(column);
        let spec = auto_hierarchy(column, ty);
        let hierarchy = build_hierarchy(&spec, column, ty, Path::new("."))?;
        let numbers = matches!(ty, ValueType::Integer | ValueType::Decimal)
            .then(|| crate::hierarchy::parse_numbers(column.dict(), name))
            .transpose()?;
        plan.quasi.push(QuasiPlan {
            column: i,
            hierarchy,
            numbers,
            flat: spec == HierarchySpec::Flat,
        });
    }
    for name in sensitive {
        let i = index(name)?;
        let column = table.require(name)?;
        let numbers = matches!(infer_type(column), ValueType::Integer | ValueType::Decimal)
            .then(|| crate::hierarchy::parse_numbers(column.dict(), name))
            .transpose()?;
        plan.sensitive.push(SensitivePlan {
            column: i,
            numbers,
            hierarchy: None,
        });
    }
    for (name, action) in identifiers {
        plan.identifiers.push((index(name)?, *action));
    }
    Ok(plan)
}

/// Writes a schema for the data, to be edited: identifier-looking columns (names such as
/// `name`, `email`, `ssn`, `*_id`) are identifiers to drop, every other column a
/// quasi-identifier with a generated hierarchy. Review it: the guess cannot know which column
/// is sensitive.
pub fn infer_schema(table: &Table) -> String {
    let mut out = String::from(
        "# Schema written by `veil anonymize --infer-schema`: review every role before use.\n\
         # Roles: identifier (action = \"drop\" | \"hash\"), quasi_identifier, sensitive, insensitive.\n\
         # Hierarchy kinds: file (ARX CSV), intervals, prefix, dates, tree, flat.\n\n\
         [privacy]\nk = 5\nsuppression = 0.05\n",
    );
    for column in table.columns() {
        let ty = infer_type(column);
        let lname = column.name().to_ascii_lowercase();
        let ident = [
            "name", "email", "e-mail", "ssn", "phone", "id", "passport", "iban",
        ]
        .iter()
        .any(|w| {
            lname == *w || lname.ends_with(&format!("_{w}")) || lname.starts_with(&format!("{w}_"))
        });
        let ty_name = match ty {
            ValueType::String => "string",
            ValueType::Integer => "integer",
            ValueType::Decimal => "decimal",
            ValueType::Date => "date",
        };
        let _ = write!(out, "\n[[column]]\nname = {}\n", toml_str(column.name()));
        if ident {
            let _ = write!(
                out,
                "role = \"identifier\"\naction = \"drop\"\ntype = \"{ty_name}\"\n"
            );
            continue;
        }
        let _ = write!(out, "role = \"quasi_identifier\"\ntype = \"{ty_name}\"\n");
        let h = match auto_hierarchy(column, ty) {
            HierarchySpec::Intervals { widths } => {
                let w: Vec<String> = widths.iter().map(|w| format!("{w}")).collect();
                format!("{{ kind = \"intervals\", widths = [{}] }}", w.join(", "))
            }
            HierarchySpec::Prefix => "{ kind = \"prefix\" }".to_owned(),
            HierarchySpec::Dates { .. } => {
                "{ kind = \"dates\", levels = [\"month\", \"year\", \"decade\"] }".to_owned()
            }
            _ => "{ kind = \"flat\" }".to_owned(),
        };
        let _ = writeln!(out, "hierarchy = {h}");
    }
    out
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}
