//! The byte streams under rmcp: bulk tool arguments lifted out of incoming
//! lines ([`bulk_args`]) and bulk results spliced into outgoing ones
//! ([`bulk_out`]), both through text parked under tickets ([`parked`]).
//! Nothing here knows a tool's meaning; the adapters only name
//! [`bulk_args::BulkParams`] and return results through
//! [`super::output::Summarized`], which parks them.

pub mod bulk_args;
pub mod bulk_out;
pub mod parked;
