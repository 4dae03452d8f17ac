//! Scale under the real rate limit: waits and refreshes of one provider process share list
//! requests, and a value the list masks is never taken for drift. In process, against the
//! in-process emulator (see `safety.rs` for the rig).

use serde_json::json;

use super::safety::{Rig, config};
use tfplugin::framework::value::Value;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn requests(rig: &Rig) -> Vec<serde_json::Value> {
    rig.admin("GET", "/requests", json!(null)).await["requests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn count(log: &[serde_json::Value], method: &str, path: &str) -> usize {
    log.iter()
        .filter(|r| r["method"] == method && r["path"] == path)
        .count()
}

fn by_id(log: &[serde_json::Value], prefix: &str) -> usize {
    log.iter()
        .filter(|r| {
            r["method"] == "GET"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with(prefix) && p.len() > prefix.len())
        })
        .count()
}

#[test]
fn concurrent_creates_and_refreshes_share_list_requests() {
    rt().block_on(async {
        let rig = Rig::start(300).await;
        rig.admin(
            "PUT",
            "/config",
            json!({"task_stage_ms": 20, "activation_ms": 40}),
        )
        .await;
        let applies = (0..10).map(|i| {
            let cfg = config(&format!("scale-{i}"), &format!("AKIASCALE{i:04}"), None);
            let rig = &rig;
            async move { rig.apply(&Value::Null, &cfg).await }
        });
        let created = futures::future::join_all(applies).await;
        for c in &created {
            assert!(c.errors.is_empty(), "{:?}", c.errors);
        }
        let log = requests(&rig).await;
        assert_eq!(
            by_id(&log, "/v1/tasks/"),
            0,
            "waits poll the shared task list"
        );
        assert_eq!(
            by_id(&log, "/v1/cloud-accounts/"),
            0,
            "and the shared account list"
        );
        let lists = count(&log, "GET", "/v1/tasks") + count(&log, "GET", "/v1/cloud-accounts");
        // Ten tasks run one at a time (about 0.5 s); polled one by one, each wait would cost
        // a request per poll of its own.
        assert!(lists < 60, "{lists} list requests for ten creates");

        // A refresh wave: ten reads at once cost one list request.
        let before = requests(&rig).await.len();
        let reads = created.iter().map(|c| rig.read(&c.state));
        for (read, c) in futures::future::join_all(reads)
            .await
            .into_iter()
            .zip(&created)
        {
            assert!(read.1.is_empty(), "{:?}", read.1);
            assert_eq!(
                read.0, c.state,
                "a refresh right after apply changes nothing"
            );
        }
        let log = requests(&rig).await;
        let wave = &log[before..];
        assert!(count(wave, "GET", "/v1/cloud-accounts") <= 2, "{wave:?}");
        assert_eq!(by_id(wave, "/v1/cloud-accounts/"), 0, "{wave:?}");
    });
}

#[test]
fn a_masked_list_value_is_never_taken_for_drift() {
    rt().block_on(async {
        let rig = Rig::start(300).await;
        rig.admin("PUT", "/config", json!({"mask_list_access_keys": true}))
            .await;
        let created = rig
            .apply(&Value::Null, &config("masked", "AKIAMASKED0001", None))
            .await;
        assert!(created.errors.is_empty(), "{:?}", created.errors);
        assert_eq!(
            created.state.attr("access_key_id"),
            &Value::string("AKIAMASKED0001")
        );
        let before = requests(&rig).await.len();
        let (read, errors) = rig.read(&created.state).await;
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(read, created.state, "the masked key was taken for drift");
        let log = requests(&rig).await;
        assert!(
            by_id(&log[before..], "/v1/cloud-accounts/") >= 1,
            "the masked entry must be read by ID"
        );
        // The plan after it is empty: nothing to change.
        let plan = rig
            .plan(&read, &config("masked", "AKIAMASKED0001", None))
            .await;
        let planned = super::safety::decode(&plan.planned_state);
        assert_eq!(planned, read, "a masked key planned a change");
    });
}
