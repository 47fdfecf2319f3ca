//! Closed vocabularies (type, priority, channel…) share one shape: a Rust enum
//! whose wire form is a snake_case code, parsed with an error naming the field
//! and the accepted codes.

/// Declares a closed vocabulary: `vocabulary!(Name, "field", { Variant => "code", … })`.
#[macro_export]
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $field:literal, { $($variant:ident => $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $(#[serde(rename = $code)] $variant),+
        }

        // Written by hand: the derive does not read a `rename` given through
        // a macro, and documented the variants' Rust names, not their codes.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($code),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            pub fn parse(code: &str) -> Result<Self, $crate::DomainError> {
                match code {
                    $($code => Ok($name::$variant),)+
                    other => Err($crate::DomainError::field(
                        $field,
                        format!(
                            "unknown {} `{}`; expected one of: {}",
                            $field,
                            other,
                            [$($code),+].join(", ")
                        ),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
