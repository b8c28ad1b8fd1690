//! The stages every command composes, in the order data flows through them:
//! [`walk`] finds the files, [`locate`] finds the image sites in one file (one module per
//! shape of file), [`plan`] decides each site's edit (through [`crate::mapping`]),
//! [`engine`] plans whole trees into a [`engine::Plan`] and applies it (re-reading each
//! file and refusing one that changed), and [`render`] proves Helm and kustomize edits by
//! rendering before they are written (the checks through the cache and Trivy are one
//! layer up, in `checks`). Nothing here knows the command line.

pub mod engine;
pub mod kustomize_matchers;
pub mod locate;
pub mod plan;
pub mod render;
pub mod template;
pub mod walk;
