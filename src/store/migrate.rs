//! `migrate-sqlite`: the original's SQLite history into ours (placeholder until written).
