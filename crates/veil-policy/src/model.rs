//! Inputs of a decision: who asks, for what, to which model, with what found.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use cedar_policy::{Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use serde::Deserialize;
use veil_detect::DataClass;

use crate::PolicyError;

/// Where an upstream model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hosting {
    /// Inside the deployment's own infrastructure.
    OnPrem,
    /// A third-party cloud service.
    Cloud,
}

impl Hosting {
    /// The name policies compare against: `on_prem` or `cloud`.
    pub fn as_str(self) -> &'static str {
        match self {
            Hosting::OnPrem => "on_prem",
            Hosting::Cloud => "cloud",
        }
    }
}

/// What the caller asks for. Request-level actions only; per-class questions are internal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// A chat completion.
    Chat,
    /// A legacy text completion.
    Complete,
    /// An embedding.
    Embed,
}

impl Operation {
    /// The Cedar action name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Chat => "chat",
            Operation::Complete => "complete",
            Operation::Embed => "embed",
        }
    }
}

/// Where a piece of content came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Written by the caller (system, user or assistant messages).
    Caller,
    /// A tool result or tool-call argument.
    Tool,
    /// A retrieved document.
    Document,
}

impl Origin {
    /// The name policies see in `origins`.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Caller => "caller",
            Origin::Tool => "tool",
            Origin::Document => "document",
        }
    }
}

/// Builds the identity string of a principal or model: each part length-prefixed, so no
/// two different lists of parts give the same string.
#[derive(Default)]
struct Identity(String);

impl Identity {
    fn push(&mut self, part: &str) -> &mut Self {
        self.0.push_str(&part.len().to_string());
        self.0.push(':');
        self.0.push_str(part);
        self
    }

    fn finish(self) -> Arc<str> {
        Arc::from(self.0)
    }
}

pub(crate) fn uid(type_name: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(type_name.clone(), EntityId::new(id))
}

/// The caller: one API key. Build it once per key and reuse it; the Cedar entity is built here.
#[derive(Debug, Clone)]
pub struct Principal {
    pub(crate) entity: Entity,
    pub(crate) uid: EntityUid,
    /// Everything the entity was built from (key, tenant, sorted roles and attributes), as
    /// one unambiguous string: equal identities build equal entities, so decisions cached
    /// under it are the ones Cedar would give (see `Policies::decide`).
    pub(crate) identity: Arc<str>,
}

impl Principal {
    /// A key `key_id` of `tenant`, member of `roles`, with deployment `attributes` (Cedar tags).
    pub fn new<'a>(
        key_id: &str,
        tenant: &str,
        roles: impl IntoIterator<Item = &'a str>,
        attributes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, PolicyError> {
        let names = crate::names();
        let uid = uid(&names.key, key_id);
        let roles: Vec<&str> = roles.into_iter().collect();
        let attributes: Vec<(&str, &str)> = attributes.into_iter().collect();
        // In the order given: the same inputs in another order may build the same entity,
        // and then only miss the cache; equal identities always build equal entities.
        let mut identity = Identity::default();
        identity.push(key_id).push(tenant);
        for role in &roles {
            identity.push("role").push(role);
        }
        for (key, value) in &attributes {
            identity.push("tag").push(key).push(value);
        }
        let parents: Vec<EntityUid> = roles
            .into_iter()
            .map(|r| self::uid(&names.role, r))
            .collect();
        let attrs = [(
            "tenant".to_owned(),
            RestrictedExpression::new_string(tenant.to_owned()),
        )];
        let tags = attributes
            .into_iter()
            .map(|(k, v)| (k.to_owned(), RestrictedExpression::new_string(v.to_owned())));
        let entity = Entity::new_with_tags(uid.clone(), attrs, parents, tags)
            .map_err(|e| PolicyError::entity(format!("key `{key_id}`: {e}")))?;
        Ok(Self {
            entity,
            uid,
            identity: identity.finish(),
        })
    }
}

/// The upstream model a request goes to. Build it once per configured model.
#[derive(Debug, Clone)]
pub struct Model {
    pub(crate) entity: Entity,
    pub(crate) uid: EntityUid,
    name: String,
    /// Name, hosting, region and sorted approved classes, as for [`Principal`].
    pub(crate) identity: Arc<str>,
}

impl Model {
    /// A model `name` hosted `hosting` in `region`, whose configuration approves `approved`
    /// classes in clear.
    pub fn new<'a>(
        name: &str,
        hosting: Hosting,
        region: &str,
        approved: impl IntoIterator<Item = &'a DataClass>,
    ) -> Result<Self, PolicyError> {
        let names = crate::names();
        let uid = uid(&names.model, name);
        let approved: Vec<&DataClass> = approved.into_iter().collect();
        let mut identity = Identity::default();
        identity.push(name).push(hosting.as_str()).push(region);
        for class in &approved {
            identity.push(class.as_str());
        }
        let approved = approved
            .into_iter()
            .map(|c| RestrictedExpression::new_entity_uid(self::uid(&names.class, c.as_str())));
        let attrs = [
            (
                "hosting".to_owned(),
                RestrictedExpression::new_string(hosting.as_str().to_owned()),
            ),
            (
                "region".to_owned(),
                RestrictedExpression::new_string(region.to_owned()),
            ),
            (
                "approved".to_owned(),
                RestrictedExpression::new_set(approved),
            ),
        ];
        let entity = Entity::new_with_tags(uid.clone(), attrs, [], [])
            .map_err(|e| PolicyError::entity(format!("model `{name}`: {e}")))?;
        Ok(Self {
            entity,
            uid,
            name: name.to_owned(),
            identity: identity.finish(),
        })
    }

    /// The `echo` test upstream: on premises, approves nothing, so every class is protected.
    pub fn echo() -> Result<Self, PolicyError> {
        Self::new("echo", Hosting::OnPrem, "local", [])
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What detection found of one data class in the request.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassFindings {
    /// How many findings.
    pub count: u32,
    /// The highest detection score, 0.0..=1.0.
    pub max_score: f32,
    /// Where the findings came from.
    pub origins: BTreeSet<Origin>,
}

/// Injection scores of the request, per origin, from the guard.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Injection {
    /// Highest score over caller content, 0.0..=1.0.
    pub caller: f32,
    /// Highest score over tool results.
    pub tool: f32,
    /// Highest score over retrieved documents.
    pub document: f32,
    /// Whether the guard judged some caller part an attack under its calibrated caller
    /// profile. Policies should prefer these verdicts to a fixed score: the guard's
    /// thresholds are chosen per origin with its model (and move when it is retrained),
    /// and untrusted content also escalates on signals whatever the score.
    pub caller_attack: bool,
    /// Whether the guard judged some tool result an attack (stricter tool profile).
    pub tool_attack: bool,
    /// Whether the guard judged some retrieved document an attack (stricter profile).
    pub document_attack: bool,
    /// Names of the signals that fired.
    pub signals: BTreeSet<String>,
}

/// Everything a decision needs besides the principal and the model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    /// Per data class, what was found.
    pub classes: BTreeMap<DataClass, ClassFindings>,
    /// Injection scores.
    pub injection: Injection,
}

impl Findings {
    /// Adds one finding of `class` with `score` from `origin`.
    pub fn add(&mut self, class: DataClass, score: f32, origin: Origin) {
        let entry = self.classes.entry(class).or_insert(ClassFindings {
            count: 0,
            max_score: 0.0,
            origins: BTreeSet::new(),
        });
        entry.count = entry.count.saturating_add(1);
        if score > entry.max_score {
            entry.max_score = score;
        }
        entry.origins.insert(origin);
    }
}

/// A score in permille: Cedar has integers only. NaN counts as the maximum (fail closed).
pub(crate) fn permille(score: f32) -> i64 {
    if score.is_nan() {
        return 1000;
    }
    // The clamp keeps the cast in range.
    #[allow(clippy::cast_possible_truncation)]
    let value = (score.clamp(0.0, 1.0) * 1000.0).round() as i64;
    value
}
