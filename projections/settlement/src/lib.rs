//! The settlement projection.
