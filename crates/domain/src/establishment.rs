//! Establishments (schools and their parents) and the UAI code that names them.

use crate::error::DomainError;
use crate::ids::EstablishmentId;
use serde::{Deserialize, Serialize};

/// The letters a UAI check character may take: the alphabet without I, O and Q,
/// which could be read as digits.
const UAI_CHECK_LETTERS: &[u8; 23] = b"ABCDEFGHJKLMNPRSTUVWXYZ";

/// A UAI (Unité Administrative Immatriculée, formerly RNE) code: seven digits and
/// a check letter, the letter being the seven digits' value modulo 23 mapped on
/// [`UAI_CHECK_LETTERS`]. Written in upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Uai(String);

impl Uai {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let code = input.trim().to_ascii_uppercase();
        let bytes = code.as_bytes();
        if bytes.len() != 8 || !bytes[..7].iter().all(u8::is_ascii_digit) {
            return Err(DomainError::field(
                "uai",
                format!("`{}` is not a UAI code: 7 digits followed by a letter are expected", input.trim()),
            ));
        }
        let expected = Self::check_letter(&code[..7]);
        if bytes[7] != expected {
            return Err(DomainError::field(
                "uai",
                format!("`{code}` has a wrong check letter: `{}` expected", expected as char),
            ));
        }
        Ok(Self(code))
    }

    /// The check letter of seven digits (the caller guarantees they are digits).
    pub fn check_letter(digits: &str) -> u8 {
        let value = digits.bytes().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
        UAI_CHECK_LETTERS[(value % 23) as usize]
    }

    /// Builds a valid UAI from a number below 10,000,000 (demo data, tests).
    pub fn from_number(n: u32) -> Self {
        let digits = format!("{:07}", n % 10_000_000);
        let letter = Self::check_letter(&digits) as char;
        Self(format!("{digits}{letter}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Uai {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Uai> for String {
    fn from(value: Uai) -> Self {
        value.0
    }
}

impl std::fmt::Display for Uai {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Establishment {
    pub id: EstablishmentId,
    pub uai: Uai,
    pub name: String,
    pub town: String,
    pub parent: Option<EstablishmentId>,
}

/// A validated establishment about to be stored (its parent given by UAI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEstablishment {
    pub uai: Uai,
    pub name: String,
    pub town: String,
    pub parent_uai: Option<Uai>,
}

impl NewEstablishment {
    pub fn parse(uai: &str, name: &str, town: &str, parent_uai: Option<&str>) -> Result<Self, DomainError> {
        let mut errors = Vec::new();
        let uai = Uai::parse(uai).map_err(|e| push(&mut errors, e)).ok();
        let parent_uai = match parent_uai.map(str::trim).filter(|p| !p.is_empty()) {
            None => None,
            Some(p) => match Uai::parse(p) {
                Ok(p) => Some(p),
                Err(_) => {
                    errors.push(crate::FieldError::new("parent_uai", format!("`{p}` is not a valid parent UAI")));
                    None
                }
            },
        };
        let name = required(&mut errors, "name", name, 200);
        let town = required(&mut errors, "town", town, 100);
        if let (Some(uai), Some(parent)) = (&uai, &parent_uai) {
            if uai == parent {
                errors.push(crate::FieldError::new("parent_uai", "an establishment cannot be its own parent"));
            }
        }
        match uai {
            Some(uai) if errors.is_empty() => Ok(Self { uai, name, town, parent_uai }),
            _ => Err(DomainError::Validation(errors)),
        }
    }
}

fn push(errors: &mut Vec<crate::FieldError>, error: DomainError) {
    if let DomainError::Validation(list) = error {
        errors.extend(list);
    }
}

/// Trims a required text field and checks its length, recording any error.
pub(crate) fn required(errors: &mut Vec<crate::FieldError>, field: &str, value: &str, max: usize) -> String {
    let value = value.trim();
    if value.is_empty() {
        errors.push(crate::FieldError::new(field, format!("`{field}` must not be empty")));
    } else if value.chars().count() > max {
        errors.push(crate::FieldError::new(field, format!("`{field}` is longer than {max} characters")));
    }
    value.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_uai_codes_are_accepted() {
        for code in ["0750655E", "0751710B", "0930124E", "0780422K", "0010001W"] {
            assert!(Uai::parse(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn uai_is_normalised_to_upper_case() {
        assert_eq!(Uai::parse(" 0750655e ").map(|u| u.0), Ok("0750655E".to_owned()));
    }

    #[test]
    fn wrong_check_letter_names_the_expected_one() {
        let err = Uai::parse("0750655F").unwrap_err();
        assert!(err.to_string().contains("`E` expected"), "{err}");
    }

    #[test]
    fn malformed_uai_is_refused() {
        for code in ["", "075065E", "07506555E", "A750655E", "07506555"] {
            assert!(Uai::parse(code).is_err(), "{code}");
        }
    }

    #[test]
    fn generated_uai_codes_are_valid() {
        for n in [0, 1, 750_655, 9_999_999, 1_234_567] {
            let uai = Uai::from_number(n);
            assert_eq!(Uai::parse(uai.as_str()), Ok(uai));
        }
    }

    #[test]
    fn new_establishment_reports_every_bad_field() {
        let Err(DomainError::Validation(errors)) = NewEstablishment::parse("123", " ", "Paris", Some("zz")) else {
            panic!("expected validation errors");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["uai", "parent_uai", "name"]);
    }

    #[test]
    fn establishment_cannot_be_its_own_parent() {
        assert!(NewEstablishment::parse("0750655E", "Lycée", "Paris", Some("0750655E")).is_err());
    }
}
