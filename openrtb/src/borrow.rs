//! Deserializers that let optional and repeated strings borrow from the
//! request buffer.
//!
//! serde borrows a bare `Cow<'a, str>` field when told to, but an
//! `Option<Cow<str>>` or `Vec<Cow<str>>` goes through the generic `Cow`
//! impl, which always copies. simd-json unescapes in place, so every string
//! of a request can borrow; these keep it that way (and still copy when a
//! deserializer can only lend a transient string, as serde_json does for
//! strings with escapes).

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Visitor};

/// A string that borrows when the deserializer allows it.
struct CowStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// `Option<Cow<str>>`, borrowed.
pub(crate) fn opt_str<'de: 'a, 'a, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    Ok(Option::<CowStr<'a>>::deserialize(d)?.map(|s| s.0))
}

/// `Vec<Cow<str>>`, each element borrowed.
pub(crate) fn vec_str<'de: 'a, 'a, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<Cow<'a, str>>, D::Error> {
    Ok(Vec::<CowStr<'a>>::deserialize(d)?
        .into_iter()
        .map(|s| s.0)
        .collect())
}
