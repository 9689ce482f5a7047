//! Data classes: one vocabulary for detection, policy, audit and reports.

use std::{fmt, str::FromStr, sync::Arc};

macro_rules! data_classes {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, )*) => {
        /// A kind of sensitive data.
        ///
        /// Names follow Microsoft Presidio's entity names so that migrating users recognise
        /// them. Deployments can add their own classes (custom recognizers loaded from TOML);
        /// those are [`DataClass::Custom`] and must be written in `UPPER_SNAKE_CASE`.
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum DataClass {
            $( $(#[$doc])* $variant, )*
            /// A class defined by a deployment's custom recognizer.
            Custom(Arc<str>),
        }

        impl DataClass {
            /// Every built-in class, in a stable order.
            pub const BUILT_IN: &'static [DataClass] = &[$(DataClass::$variant,)*];

            /// The Presidio-compatible name, e.g. `EMAIL_ADDRESS`.
            pub fn as_str(&self) -> &str {
                match self {
                    $( DataClass::$variant => $name, )*
                    DataClass::Custom(name) => name,
                }
            }
        }

        impl FromStr for DataClass {
            type Err = UnknownDataClass;

            /// Parses a built-in name. Custom classes are created with
            /// [`DataClass::custom`], which validates the spelling.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $name => Ok(DataClass::$variant), )*
                    _ => Err(UnknownDataClass { name: s.chars().take(64).collect() }),
                }
            }
        }
    };
}

data_classes! {
    /// An e-mail address.
    EmailAddress => "EMAIL_ADDRESS",
    /// A telephone number, international or national format, with optional extension.
    PhoneNumber => "PHONE_NUMBER",
    /// A payment card number that passes the Luhn check and matches an issuer range.
    CreditCard => "CREDIT_CARD",
    /// A US Social Security number.
    UsSsn => "US_SSN",
    /// An International Bank Account Number (mod-97 checked).
    IbanCode => "IBAN_CODE",
    /// An IPv4 or IPv6 address.
    IpAddress => "IP_ADDRESS",
    /// A MAC (EUI-48) address.
    MacAddress => "MAC_ADDRESS",
    /// A URL, with or without scheme.
    Url => "URL",
    /// A calendar date, date of birth or timestamp.
    DateTime => "DATE_TIME",
    /// A person's age, in context.
    Age => "AGE",
    /// A whole postal address.
    StreetAddress => "STREET_ADDRESS",
    /// A postal code, in context.
    ZipCode => "ZIP_CODE",
    /// A US driver's licence number.
    UsDriverLicense => "US_DRIVER_LICENSE",
    /// A US passport number.
    UsPassport => "US_PASSPORT",
    /// A US bank account number.
    UsBankNumber => "US_BANK_NUMBER",
    /// A US Individual Taxpayer Identification Number.
    UsItin => "US_ITIN",
    /// A UK National Health Service number (mod-11 checked).
    UkNhs => "UK_NHS",
    /// A UK National Insurance number.
    UkNino => "UK_NINO",
    /// An Indian Aadhaar number (Verhoeff checked).
    InAadhaar => "IN_AADHAAR",
    /// An Indian Permanent Account Number.
    InPan => "IN_PAN",
    /// A medical record number (context-driven).
    MedicalRecordNumber => "MEDICAL_RECORD_NUMBER",
    /// A cryptocurrency wallet address (BTC, ETH) with a valid checksum.
    Crypto => "CRYPTO",
    /// A credential: provider API keys, private keys, JWTs, passwords, high-entropy tokens.
    Secret => "SECRET",
    /// A person's name.
    Person => "PERSON",
    /// A place: city, region, country, or the place part of an address.
    Location => "LOCATION",
    /// A company, hospital, institution or agency.
    Organization => "ORGANIZATION",
    /// A nationality, religious or political group.
    Nrp => "NRP",
}

impl DataClass {
    /// A deployment-defined class. The name must be 1–64 characters of `A-Z`, `0-9` and `_`,
    /// starting with a letter, and must not collide with a built-in name.
    pub fn custom(name: &str) -> Result<Self, UnknownDataClass> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_uppercase())
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(UnknownDataClass {
                name: name.chars().take(64).collect(),
            });
        }
        Ok(name
            .parse()
            .unwrap_or_else(|_| DataClass::Custom(Arc::from(name))))
    }

    /// Parses a built-in name, or accepts a well-formed custom name.
    pub fn parse_any(name: &str) -> Result<Self, UnknownDataClass> {
        name.parse().or_else(|_| Self::custom(name))
    }
}

impl fmt::Display for DataClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for DataClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for DataClass {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for DataClass {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        DataClass::parse_any(&name).map_err(serde::de::Error::custom)
    }
}

/// A data class name that is neither built in nor a well-formed custom name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown data class `{name}` (expected a name such as `EMAIL_ADDRESS`, or UPPER_SNAKE_CASE for a custom class)"
)]
pub struct UnknownDataClass {
    name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for class in DataClass::BUILT_IN {
            assert_eq!(class.as_str().parse::<DataClass>().as_ref(), Ok(class));
        }
        assert_eq!(DataClass::BUILT_IN.len(), 27);
    }

    #[test]
    fn custom_names_are_validated() {
        assert_eq!(
            DataClass::custom("EMPLOYEE_ID").map(|c| c.to_string()).ok(),
            Some("EMPLOYEE_ID".into())
        );
        assert_eq!(DataClass::custom("US_SSN").ok(), Some(DataClass::UsSsn));
        assert!(DataClass::custom("lower").is_err());
        assert!(DataClass::custom("").is_err());
        assert!(DataClass::custom("1ABC").is_err());
    }

    #[test]
    fn serde_uses_the_name() {
        let json = serde_json::to_string(&DataClass::UkNhs).unwrap_or_default();
        assert_eq!(json, "\"UK_NHS\"");
        let back: DataClass = serde_json::from_str(&json).unwrap_or(DataClass::Age);
        assert_eq!(back, DataClass::UkNhs);
    }
}
