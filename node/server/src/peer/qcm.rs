//! QuorumCnxManager: the election port (written by the election work).
