//! `import`: capture files into the history (placeholder until the importer is written).
