//! Version control and code hosting: the local git repository ([`git`]) and GitHub's pull
//! requests ([`github`]). Commands publish their change through here; nothing here knows
//! the command line.

pub mod git;
pub mod github;
