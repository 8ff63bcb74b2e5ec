//! The election driver (written by the election work).
