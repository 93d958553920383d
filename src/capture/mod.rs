//! Sources of frames. `file` reads capture files; the live ring joins it here.

pub mod file;
