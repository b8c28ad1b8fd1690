//! The checks that annotate a plan's report through the cache: [`verify`] (each Harbor
//! reference resolves, by registry API) and [`scan`] (Trivy on each image, by digest).
//! They sit above `pipeline` and `report`: they read the plan's report and fill in its
//! verify and scan results, so neither of those imports them.

pub mod scan;
pub mod verify;
