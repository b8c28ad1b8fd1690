//! Version control and code hosting: the local git repository ([`git`]), clones of remote
//! repositories ([`clone`]), GitHub's pull requests ([`github`], [`pull_request`]), the one
//! publish flow every committing command goes through ([`publish`]: commit, push, rebuild
//! on a moved remote, retry) and what it tells GitHub Actions ([`outputs`]). Nothing here
//! knows the command line or prints.

pub mod clone;
mod edit_merge;
pub mod git;
pub mod github;
pub mod outputs;
pub mod publish;
pub mod pull_request;
