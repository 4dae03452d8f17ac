//! Turns client errors into diagnostics that say what happened and what to do.

use rediscloud_api::Error;
use tfplugin::framework::diag::Diagnostics;

/// Adds an error for a failed API operation. `action` completes "Unable to …",
/// e.g. "Create Cloud Account"; `context` says what state was kept; `deadline` says which
/// deadline a timeout ran out of (e.g. `delete = "5s"`) and how to raise it.
pub fn api_error(
    diags: &mut Diagnostics,
    action: &str,
    err: &Error,
    context: &str,
    deadline: &str,
) {
    let mut detail = err.to_string();
    // What ended the operation before anything was sent says what to do.
    let err = match err {
        Error::NotSent(inner) => inner,
        other => other,
    };
    let hint = match err {
        // Waited on as still in progress, which it may not be: say so.
        Error::Timeout {
            last_status: Some(status),
            ..
        } if !rediscloud_api::is_known_status(status) => Some(format!(
            "`{status}` is not a status this provider knows (a newer Redis Cloud may have added it): the wait took it as still in progress until the deadline. {deadline}"
        )),
        Error::Timeout { .. } => Some(deadline.to_owned()),
        _ => hint(err),
    };
    if let Some(hint) = hint {
        detail.push_str("\n\n");
        detail.push_str(&hint);
    }
    if !context.is_empty() {
        detail.push_str("\n\n");
        detail.push_str(context);
    }
    diags.error(format!("Unable to {action}"), detail);
}

fn hint(err: &Error) -> Option<String> {
    Some(match err {
        Error::TaskFailed(f) => {
            let t = f.error_type.as_deref().unwrap_or("");
            let what = match t {
                "CLOUD_ACCOUNT_NAME_EXISTS" => "Another cloud account already has this `name`: choose another name, or import the existing account with `terraform import`.",
                "CLOUD_ACCOUNT_ACCESS_KEY_EXISTS" => "Another cloud account already uses this `access_key_id`: each BYOA cloud account needs its own IAM access key. Import the existing account, or use another key.",
                "CLOUD_ACCOUNT_INVALID_CREDS" => "Redis Cloud could not authenticate with the IAM access key and secret: check `access_key_id` and the secret key.",
                "CLOUD_ACCOUNT_PERMISSION_FAILED" => "The IAM user or console role lacks permissions Redis Cloud needs: check the BYOA IAM policy.",
                "CLOUD_ACCOUNT_USED" => "The cloud account is still used by a subscription: delete or move those subscriptions first.",
                "CLOUD_ACCOUNT_NOT_ACTIVE" => "The cloud account is not active: wait for it, or fix its credentials.",
                _ => "Quote the task ID above when you contact Redis Cloud support.",
            };
            what.to_owned()
        }
        Error::AccountStatus { status, .. } => match status.as_str() {
            "active-error" => "Redis Cloud accepted the account but cannot use its credentials (status `active-error`). Check that the IAM access key and secret, the console username and password, and the sign-in URL are valid and carry the permissions BYOA needs, then update them.".to_owned(),
            "error" => "Redis Cloud could not provision the account (status `error`). Check the credentials and the BYOA setup of the AWS account; if it persists, contact Redis Cloud support with the account ID.".to_owned(),
            "deleted" | "delete-draft" => "The account was deleted while Terraform was waiting for it (outside this Terraform run?).".to_owned(),
            _ => return None,
        },
        Error::NotDeleted { status, .. } => format!("Redis Cloud could not de-provision the account and left it in status `{status}`. Check it in the Redis Cloud console (a subscription may still use it) before destroying again; the next destroy sends the DELETE again."),
        Error::NotVisibleYet { .. } => "Redis Cloud answers \"not found\" for a new account for a while after its create finished, so this is no evidence that it is gone. It stays in state, and the next plan or apply looks for it again. If it was deleted outside Terraform, `terraform state rm <resource address>` forgets it.".to_owned(),
        Error::Cancelled { .. } => "Terraform was interrupted (Ctrl-C or SIGTERM) before the operation finished.".to_owned(),
        Error::Unauthorized { .. } => "Check the provider's `api_key` and `secret_key` (or REDISCLOUD_ACCESS_KEY and REDISCLOUD_SECRET_KEY), and that API access is enabled for the account.".to_owned(),
        Error::Forbidden { .. } => "The API key is not allowed to do this; check its role and any source-IP restrictions.".to_owned(),
        Error::RateLimited { .. } => "Redis Cloud allows 400 API requests per minute per account key. Lower `-parallelism` or retry later.".to_owned(),
        Error::Ambiguous { .. } => "The request was sent but its answer was lost (a dropped connection, a 5xx or 408 from a gateway, or a timeout), so whether Redis Cloud applied it had to be established from the API.".to_owned(),
        Error::UnrecognisedNotFound { .. } => "Check the provider's `url` (or REDISCLOUD_URL): it must include the API version, e.g. `https://api.redislabs.com/v1`.".to_owned(),
        Error::Server { .. } => "Redis Cloud reported a server error, which is usually temporary. Run the same Terraform command again; if it keeps failing, contact Redis Cloud support.".to_owned(),
        Error::Transport { .. } => "Check the network connection and the provider's `url` (or REDISCLOUD_URL), then run the same Terraform command again.".to_owned(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The context of each call says what happened to the state; a hint that said it too would
    /// put two "nothing changed" sentences in one message.
    #[test]
    fn hints_say_what_to_do_never_what_happened_to_the_state() {
        let message = || "m".to_owned();
        let errors = [
            Error::Unauthorized { message: message() },
            Error::Forbidden { message: message() },
            Error::Server {
                status: 503,
                message: message(),
            },
            Error::Transport { message: message() },
            Error::UnrecognisedNotFound {
                method: "GET".into(),
                url: "http://x/cloud-accounts".into(),
                resource: "the cloud account list".into(),
                excerpt: String::new(),
                collection: true,
            },
            Error::AccountStatus {
                id: 2,
                status: "error".into(),
            },
            Error::NotVisibleYet { id: 2, age_s: 3 },
            Error::Cancelled {
                waiting_for: "x".into(),
            },
        ];
        for err in &errors {
            let said = hint(err).unwrap_or_default().to_lowercase();
            for phrase in [
                "nothing was",
                "nothing in state",
                "was changed",
                "left as it was",
            ] {
                assert!(!said.contains(phrase), "{err:?}: {said}");
            }
        }
        let mut diags = Diagnostics::new();
        api_error(
            &mut diags,
            "Read Cloud Account",
            &errors[4],
            "The state was left as it was.",
            "",
        );
        let detail = &diags.0[0].detail;
        assert_eq!(detail.matches("left as it was").count(), 1, "{detail}");
    }
}
