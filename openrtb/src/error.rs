//! Everything that can be wrong with a bid request's bytes, each naming
//! where: the JSON path of the field (`imp[0].banner.format[1].w`), or `$`
//! for the document as a whole.

/// Why a request body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not JSON, or JSON of the wrong shape for a BidRequest.
    #[error("{path}: {message}")]
    Json {
        /// JSON path of the offending value.
        path: String,
        /// What the parser expected.
        message: String,
    },
    /// Well-formed, but breaks a rule of the OpenRTB spec.
    #[error("{path}: {message}")]
    Invalid {
        /// JSON path of the offending value.
        path: String,
        /// The rule broken.
        message: String,
    },
    /// The body inflates past the size cap.
    #[error("$: body larger than {limit} bytes once decompressed")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The gzip stream is corrupt.
    #[error("$: gzip body: {0}")]
    Corrupt(String),
}

impl Error {
    /// JSON path of the offending value; `$` for the whole body.
    pub fn path(&self) -> &str {
        match self {
            Error::Json { path, .. } | Error::Invalid { path, .. } => path,
            Error::TooLarge { .. } | Error::Corrupt(_) => "$",
        }
    }

    /// What is wrong, without the path.
    pub fn message(&self) -> String {
        match self {
            Error::Json { message, .. } | Error::Invalid { message, .. } => message.clone(),
            Error::TooLarge { limit } => {
                format!("body larger than {limit} bytes once decompressed")
            }
            Error::Corrupt(m) => format!("gzip body: {m}"),
        }
    }

    pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}
