//! Why a service call was refused or failed: [`ServiceError`], and the
//! [`FieldError`] that names one bad field of an input.
//!
//! Typed reasons only. Never picks a status code or a body; `crate::error`
//! turns these into HTTP answers, in one place.

use creative::native::NativeMismatch;
use serde::Serialize;

use crate::control::auth::Missing;
use crate::state::StateError;
use crate::store::StoreError;

/// One bad field of an input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON path of the field, e.g. `targeting.countries[2]`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why a service call did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No such resource (or one the caller may not know exists).
    #[error("not found")]
    NotFound,
    /// The caller may not do this; says what it lacks.
    #[error("forbidden: {0}")]
    Forbidden(Missing),
    /// The version the caller expected is no longer current.
    #[error("version {expected} is not current (current is {current})")]
    Stale {
        /// The version the caller named.
        expected: i64,
        /// The version in the store.
        current: i64,
    },
    /// A write that named no version to replace: refused, so that no
    /// write blindly overwrites another.
    #[error("the write names no version to replace")]
    PreconditionRequired,
    /// The input breaks rules; every bad field is listed.
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// The write conflicts with what is stored (a row still in use, a
    /// version already reviewed).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Shared state cannot be reached now; nothing was changed.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The store failed: a fault of ours.
    #[error("store: {0}")]
    Store(StoreError),
    /// A preview could not be rendered: a fault of ours.
    #[error("preview: {0}")]
    Render(#[from] NativeMismatch),
}

impl ServiceError {
    /// Refused for one bad field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ServiceError {
        ServiceError::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<Missing> for ServiceError {
    fn from(m: Missing) -> ServiceError {
        ServiceError::Forbidden(m)
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> ServiceError {
        match e {
            StoreError::NotFound => ServiceError::NotFound,
            StoreError::Stale { expected, current } => ServiceError::Stale { expected, current },
            StoreError::InUse(why) => ServiceError::Conflict(why.to_owned()),
            StoreError::MissingParent(what) => {
                ServiceError::invalid(format!("{what}_id"), format!("no such {what}"))
            }
            other => ServiceError::Store(other),
        }
    }
}

impl From<StateError> for ServiceError {
    fn from(e: StateError) -> ServiceError {
        match e {
            StateError::Store(e) => e.into(),
            StateError::Unavailable(why) => ServiceError::Unavailable(why),
        }
    }
}

/// `Ok` when `errors` is empty, else all of them.
pub(super) fn all_valid(errors: Vec<FieldError>) -> Result<(), ServiceError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Invalid(errors))
    }
}
