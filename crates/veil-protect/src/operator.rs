//! Operators: what to do with a detected value, and the policy that picks one per class.

use std::{collections::HashMap, fmt, str::FromStr};

use veil_detect::DataClass;

/// Default number of trailing characters `mask` keeps.
pub const DEFAULT_MASK_KEEP: usize = 4;
/// Default mask character.
pub const DEFAULT_MASK_CHAR: char = '*';
/// Default length of a keyed hash, in hex digits (64 bits: collisions are negligible for
/// joins over millions of values, and the output stays short).
pub const DEFAULT_HASH_HEX: usize = 16;

/// What to do with one detected value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `<EMAIL_ADDRESS_1>`: numbered per class; the same value gets the same tag within a
    /// scope. Reversible through the scope's mapping.
    Tag,
    /// `<EMAIL_ADDRESS>`: the class only. Irreversible.
    Redact,
    /// Replace every letter and digit but the last `keep_last` (at most half of them) with
    /// `with`; punctuation and spaces stay. Irreversible.
    Mask {
        /// How many trailing letters/digits stay visible.
        keep_last: usize,
        /// The replacement character.
        with: char,
    },
    /// HMAC-SHA256 under the tenant's pseudonym key, truncated to `hex_len` hex digits.
    /// Irreversible; stable per tenant, so hashed columns still join.
    Hash {
        /// Output length in hex digits, 8 to 64.
        hex_len: usize,
    },
    /// AES-256-GCM-SIV under the tenant's field key, as a `<veil:enc:v1:CLASS:...>` token.
    /// Reversible with the key.
    Encrypt,
    /// FF1 format-preserving encryption of the digits (at least 6); other characters stay.
    /// Reversible with the key.
    Fpe,
    /// A realistic fake of the same class, stable per value within a scope. Reversible
    /// through the scope's mapping.
    Surrogate,
    /// Leave the value as it is.
    Keep,
}

impl Operator {
    /// The operator's name as written on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Operator::Tag => "tag",
            Operator::Redact => "redact",
            Operator::Mask { .. } => "mask",
            Operator::Hash { .. } => "hash",
            Operator::Encrypt => "encrypt",
            Operator::Fpe => "fpe",
            Operator::Surrogate => "surrogate",
            Operator::Keep => "keep",
        }
    }

    /// Whether the operator needs key material.
    pub fn needs_key(&self) -> bool {
        matches!(
            self,
            Operator::Hash { .. } | Operator::Encrypt | Operator::Fpe | Operator::Surrogate
        )
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operator::Mask { keep_last, with } => write!(f, "mask:{keep_last}:{with}"),
            Operator::Hash { hex_len } => write!(f, "hash:{hex_len}"),
            other => f.write_str(other.name()),
        }
    }
}

/// An operator specification that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OperatorParseError {
    /// The name is not one of the operators.
    #[error(
        "unknown operator `{0}` (expected tag, redact, mask[:N[:C]], hash[:N], encrypt, fpe, surrogate or keep)"
    )]
    Unknown(String),
    /// The parameters do not fit the operator.
    #[error("bad parameters for `{op}`: {reason}")]
    Parameters {
        /// The operator name.
        op: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A `CLASS=OP` rule without `=` or with a bad class.
    #[error("bad rule `{0}` (expected CLASS=OP, e.g. `US_SSN=mask:4`)")]
    Rule(String),
}

impl FromStr for Operator {
    type Err = OperatorParseError;

    /// Parses `tag`, `redact`, `mask`, `mask:N`, `mask:N:C`, `hash`, `hash:N`, `encrypt`,
    /// `fpe`, `surrogate`, `keep`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, ':');
        let name = parts.next().unwrap_or_default();
        let first = parts.next();
        let second = parts.next();
        let bad = |reason| OperatorParseError::Parameters {
            op: name.chars().take(32).collect(),
            reason,
        };
        let no_params = |op: Operator| {
            if first.is_some() {
                Err(bad("this operator takes no parameters"))
            } else {
                Ok(op)
            }
        };
        match name {
            "tag" => no_params(Operator::Tag),
            "redact" => no_params(Operator::Redact),
            "encrypt" => no_params(Operator::Encrypt),
            "fpe" => no_params(Operator::Fpe),
            "surrogate" => no_params(Operator::Surrogate),
            "keep" => no_params(Operator::Keep),
            "mask" => {
                let keep_last = match first {
                    None => DEFAULT_MASK_KEEP,
                    Some(n) => n
                        .parse()
                        .map_err(|_| bad("N must be a number of characters to keep"))?,
                };
                let with = match second {
                    None => DEFAULT_MASK_CHAR,
                    Some(c) => {
                        let mut chars = c.chars();
                        match (chars.next(), chars.next()) {
                            (Some(ch), None) => ch,
                            _ => return Err(bad("the mask character must be one character")),
                        }
                    }
                };
                Ok(Operator::Mask { keep_last, with })
            }
            "hash" => {
                if second.is_some() {
                    return Err(bad("expected hash or hash:N"));
                }
                let hex_len = match first {
                    None => DEFAULT_HASH_HEX,
                    Some(n) => n.parse().map_err(|_| bad("N must be a number"))?,
                };
                if !(8..=64).contains(&hex_len) {
                    return Err(bad("N must be between 8 and 64 hex digits"));
                }
                Ok(Operator::Hash { hex_len })
            }
            _ => Err(OperatorParseError::Unknown(s.chars().take(32).collect())),
        }
    }
}

/// Which operator applies to which class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    default: Operator,
    per_class: HashMap<DataClass, Operator>,
}

impl Default for Policy {
    /// Tag everything: readable, reversible within the scope, needs no key.
    fn default() -> Self {
        Self::new(Operator::Tag)
    }
}

impl Policy {
    /// A policy applying `default` to every class.
    pub fn new(default: Operator) -> Self {
        Self {
            default,
            per_class: HashMap::new(),
        }
    }

    /// Sets the operator for one class.
    pub fn with(mut self, class: DataClass, op: Operator) -> Self {
        self.per_class.insert(class, op);
        self
    }

    /// Parses a `CLASS=OP` rule (e.g. `US_SSN=mask:4`) and adds it.
    pub fn with_rule(self, rule: &str) -> Result<Self, OperatorParseError> {
        let (class, op) = rule
            .split_once('=')
            .ok_or_else(|| OperatorParseError::Rule(rule.chars().take(64).collect()))?;
        let class = DataClass::parse_any(class.trim())
            .map_err(|_| OperatorParseError::Rule(rule.chars().take(64).collect()))?;
        Ok(self.with(class, op.trim().parse()?))
    }

    /// The operator for `class`.
    pub fn operator_for(&self, class: &DataClass) -> Operator {
        self.per_class.get(class).copied().unwrap_or(self.default)
    }

    /// Whether any operator in the policy needs key material.
    pub fn needs_key(&self) -> bool {
        self.default.needs_key() || self.per_class.values().any(Operator::needs_key)
    }

    /// The first operator (default first, then per class) that needs a key, for messages.
    pub fn first_keyed(&self) -> Option<Operator> {
        std::iter::once(&self.default)
            .chain(self.per_class.values())
            .find(|op| op.needs_key())
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_operators_with_parameters() {
        assert_eq!("tag".parse(), Ok(Operator::Tag));
        assert_eq!(
            "mask".parse(),
            Ok(Operator::Mask {
                keep_last: 4,
                with: '*'
            })
        );
        assert_eq!(
            "mask:2:#".parse(),
            Ok(Operator::Mask {
                keep_last: 2,
                with: '#'
            })
        );
        assert_eq!("hash:32".parse(), Ok(Operator::Hash { hex_len: 32 }));
        assert_eq!("hash".parse(), Ok(Operator::Hash { hex_len: 16 }));
        for op in [
            "tag",
            "redact",
            "mask:3:x",
            "hash:8",
            "encrypt",
            "fpe",
            "surrogate",
            "keep",
        ] {
            let parsed: Operator = op.parse().unwrap();
            assert_eq!(parsed.to_string().parse::<Operator>(), Ok(parsed));
        }
    }

    #[test]
    fn rejects_bad_operators() {
        assert!(matches!(
            "blur".parse::<Operator>(),
            Err(OperatorParseError::Unknown(_))
        ));
        assert!("mask:x".parse::<Operator>().is_err());
        assert!("mask:2:ab".parse::<Operator>().is_err());
        assert!("hash:4".parse::<Operator>().is_err());
        assert!("hash:65".parse::<Operator>().is_err());
        assert!("tag:1".parse::<Operator>().is_err());
    }

    #[test]
    fn policy_rules() {
        let policy = Policy::new(Operator::Redact)
            .with_rule("US_SSN=mask:4")
            .unwrap()
            .with_rule("EMPLOYEE_ID=hash")
            .unwrap();
        assert_eq!(
            policy.operator_for(&DataClass::EmailAddress),
            Operator::Redact
        );
        assert_eq!(
            policy.operator_for(&DataClass::UsSsn),
            Operator::Mask {
                keep_last: 4,
                with: '*'
            }
        );
        assert!(policy.needs_key());
        assert!(!Policy::default().needs_key());
        assert!(Policy::default().with_rule("US_SSN").is_err());
        assert!(Policy::default().with_rule("lower=tag").is_err());
        assert!(Policy::default().with_rule("US_SSN=zap").is_err());
    }
}
