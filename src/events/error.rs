//! The events subsystem's errors. `Invalid` names the argument at fault so the
//! MCP layer can hand it to the model unchanged; the rest are operational.

/// What can go wrong in the event bus.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum EventsError {
    /// An argument is wrong: which one, and what is accepted.
    #[error("invalid argument `{field}`: {message}")]
    Invalid { field: String, message: String },
    /// No subscription with that id (never existed or unsubscribed).
    #[error("unknown subscription `{0}`: subscribe first, or check the id returned by subscribe")]
    UnknownSubscription(String),
    /// The store failed.
    #[error("event store: {0}")]
    Store(String),
    /// The bus is shutting down or its writer stopped.
    #[error("event bus is not running: {0}")]
    Stopped(String),
    /// The bus's queue is full (only for fire-and-forget publishes).
    #[error("event bus queue is full")]
    Busy,
}

impl EventsError {
    /// An invalid argument.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        EventsError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<rusqlite::Error> for EventsError {
    fn from(e: rusqlite::Error) -> Self {
        EventsError::Store(e.to_string())
    }
}

impl From<crate::store::StoreError> for EventsError {
    fn from(e: crate::store::StoreError) -> Self {
        EventsError::Store(e.to_string())
    }
}
