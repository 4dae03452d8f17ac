//! Which Redis Cloud API the acceptance tests talk to: a fresh local emulator (default) or the real API.

use super::emulator::Emulator;

/// Default base URL of the real Redis Cloud API.
const REAL_API_URL: &str = "https://api.redislabs.com/v1";

/// The API under test.
#[derive(Debug)]
pub enum Target {
    /// A local emulator process owned by the test.
    Emulator(Emulator),
    /// The real Redis Cloud API (`REDISCLOUD_ACC_REAL=1` plus credentials); admin-only checks are skipped.
    Real(RealApi),
}

/// Connection settings for the real API. Keys never appear in Debug output.
pub struct RealApi {
    pub url: String,
    access_key: String,
    secret_key: String,
}

impl std::fmt::Debug for RealApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealApi")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// The real API when `REDISCLOUD_ACC_REAL=1` and both keys are set, otherwise a new emulator with
    /// default (millisecond) latencies.
    #[track_caller]
    pub fn from_env() -> Target {
        Self::from_env_or(|| Emulator::start(&[]))
    }

    /// Like [`Target::from_env`], but starts the emulator with `start` (custom flags, a state file...).
    #[track_caller]
    pub fn from_env_or(start: impl FnOnce() -> Emulator) -> Target {
        match real_api_from_env() {
            Some(real) => Target::Real(real),
            None => Target::Emulator(start()),
        }
    }

    pub fn is_real(&self) -> bool {
        matches!(self, Target::Real(_))
    }

    /// Environment that points the provider at this target.
    pub fn provider_env(&self) -> Vec<(String, String)> {
        match self {
            Target::Emulator(emulator) => emulator.provider_env(),
            Target::Real(real) => vec![
                ("REDISCLOUD_URL".to_owned(), real.url.clone()),
                ("REDISCLOUD_ACCESS_KEY".to_owned(), real.access_key.clone()),
                ("REDISCLOUD_SECRET_KEY".to_owned(), real.secret_key.clone()),
            ],
        }
    }

    /// The emulator, for a check only it can answer (admin state, fault injection). Against the real API this
    /// prints `SKIP (real API): <check>` and returns `None`, so skipped checks are visible in the test output.
    pub fn admin(&self, check: &str) -> Option<&Emulator> {
        match self {
            Target::Emulator(emulator) => Some(emulator),
            Target::Real(_) => {
                eprintln!("SKIP (real API): {check}");
                None
            }
        }
    }
}

fn real_api_from_env() -> Option<RealApi> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if var("REDISCLOUD_ACC_REAL").as_deref() != Some("1") {
        return None;
    }
    let (Some(access_key), Some(secret_key)) =
        (var("REDISCLOUD_ACCESS_KEY"), var("REDISCLOUD_SECRET_KEY"))
    else {
        eprintln!(
            "REDISCLOUD_ACC_REAL=1 without REDISCLOUD_ACCESS_KEY and REDISCLOUD_SECRET_KEY: using the emulator"
        );
        return None;
    };
    Some(RealApi {
        url: var("REDISCLOUD_URL").unwrap_or_else(|| REAL_API_URL.to_owned()),
        access_key,
        secret_key,
    })
}
