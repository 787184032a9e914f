//! One error type for the protocol layer.

use core::fmt;

/// Why a builder or parser failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AzureError {
    /// The caller's buffer cannot hold the output (azure-sdk-for-c:
    /// `AZ_ERROR_NOT_ENOUGH_SPACE`).
    BufferTooSmall,
    /// The topic is not one this parser reads (`AZ_ERROR_IOT_TOPIC_NO_MATCH`).
    TopicNoMatch,
    /// An argument the protocol forbids (an empty device id, ...): the C
    /// SDK's precondition failures.
    InvalidArgument,
    /// A payload or topic that does not parse (`AZ_ERROR_UNEXPECTED_CHAR`,
    /// `AZ_ERROR_ITEM_NOT_FOUND`, ...).
    Malformed,
    /// A value outside what the field holds (`AZ_ERROR_UNEXPECTED_END`,
    /// an overlong number).
    OutOfRange,
    /// The crypto provider failed.
    Crypto,
}

impl fmt::Display for AzureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AzureError::BufferTooSmall => "buffer too small",
            AzureError::TopicNoMatch => "topic does not match",
            AzureError::InvalidArgument => "invalid argument",
            AzureError::Malformed => "malformed input",
            AzureError::OutOfRange => "value out of range",
            AzureError::Crypto => "crypto provider failed",
        })
    }
}

impl core::error::Error for AzureError {}
