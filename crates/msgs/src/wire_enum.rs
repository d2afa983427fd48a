//! A macro for enumerations sent as one `uint8` (ROS 2 `.msg` files have no enums).

/// Declares a `u8`-coded enum with `as_u8`, `from_u8`, `name` and `ALL`.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in wire-code order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire code.
            pub fn as_u8(self) -> u8 {
                match self { $($name::$variant => $value),+ }
            }

            /// The value for a wire code, if it has one.
            pub fn from_u8(code: u8) -> Option<Self> {
                match code { $($value => Some($name::$variant),)+ _ => None }
            }

            /// Lower-case name used in logs and on the command line.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Reads the wire code, rejecting unknown values.
            pub(crate) fn read(
                r: &mut $crate::cdr::CdrReader<'_>,
                field: &'static str,
            ) -> Result<Self, $crate::error::DecodeError> {
                let code = r.u8(field)?;
                Self::from_u8(code).ok_or_else(|| {
                    $crate::error::ValidationError::UnknownValue {
                        field: field.into(),
                        value: code.to_string(),
                    }
                    .into()
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

pub(crate) use wire_enum;
