//! The unauthenticated `/admin` API that tests and demos use to inspect and steer the emulator:
//! state, request log, reset, runtime knobs, fault injection and out-of-band account changes.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::model::{
    Changes, INTERNAL_ACCOUNT_ID, KNOWN_STATUSES, Provider, TASK_ERROR_TYPES, is_novel_status,
};
use super::state::{EmulatorState, Fault};

pub(crate) fn router() -> Router<EmulatorState> {
    Router::new()
        .route("/state", get(state))
        .route("/requests", get(requests).delete(clear_requests))
        .route("/reset", post(reset))
        .route("/config", get(config).put(put_config))
        .route("/faults", post(add_fault).delete(clear_faults))
        .route("/accounts", post(create_account))
        .route("/accounts/{id}/delete", post(delete_account))
        .route("/accounts/{id}/status", post(force_status))
        .route("/task-errors", post(add_task_errors))
        .route("/rate/spend", post(spend_rate))
}

fn admin_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

fn parse_json(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))
}

fn bad_id() -> Response {
    admin_error(StatusCode::BAD_REQUEST, "account id must be an integer")
}

async fn state(State(st): State<EmulatorState>) -> Response {
    Json(st.admin_snapshot()).into_response()
}

async fn requests(State(st): State<EmulatorState>) -> Response {
    Json(json!({"requests": st.requests()})).into_response()
}

async fn clear_requests(State(st): State<EmulatorState>) -> Response {
    Json(json!({"cleared": st.clear_requests()})).into_response()
}

async fn reset(State(st): State<EmulatorState>) -> Response {
    st.reset();
    Json(json!({"reset": true})).into_response()
}

async fn config(State(st): State<EmulatorState>) -> Response {
    Json(st.knobs()).into_response()
}

async fn put_config(State(st): State<EmulatorState>, body: Bytes) -> Response {
    let patch = match parse_json(&body) {
        Ok(v) => v,
        Err(msg) => return admin_error(StatusCode::BAD_REQUEST, msg),
    };
    match st.knobs().merged(&patch) {
        Ok(knobs) => {
            st.set_knobs(knobs.clone());
            Json(knobs).into_response()
        }
        Err(msg) => admin_error(StatusCode::BAD_REQUEST, msg),
    }
}

async fn add_fault(State(st): State<EmulatorState>, body: Bytes) -> Response {
    let fault = match parse_json(&body).and_then(|v| Fault::parse(&v)) {
        Ok(f) => f,
        Err(msg) => return admin_error(StatusCode::BAD_REQUEST, msg),
    };
    Json(json!({"faults": st.add_fault(fault)})).into_response()
}

/// `{"count": n, "key": "..."}`: another client of the key (the configured one by default)
/// spends `n` requests of its current rate window; answers `{"remaining": r, "resets_in_ms": t}`
/// (a count of 0 only reads the window).
async fn spend_rate(State(st): State<EmulatorState>, body: Bytes) -> Response {
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(msg) => return admin_error(StatusCode::BAD_REQUEST, msg),
    };
    let Some(count) = v
        .get("count")
        .and_then(Value::as_u64)
        .and_then(|c| u32::try_from(c).ok())
    else {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "`count` must be a whole number of requests".to_owned(),
        );
    };
    let key = v.get("key").and_then(Value::as_str);
    let (remaining, resets_in_ms) = st.rate_spend(key, count);
    Json(json!({"remaining": remaining, "resets_in_ms": resets_in_ms})).into_response()
}

async fn clear_faults(State(st): State<EmulatorState>) -> Response {
    st.clear_faults();
    Json(json!({"faults": []})).into_response()
}

/// Out-of-band creation, as in the console or with another API key: the account is `active`
/// at once and no task of this key's made it. Body `{"name", "access_key_id", "provider"?,
/// "sign_in_login_url"?}`; a taken name or key answers 409 with its error type.
async fn create_account(State(st): State<EmulatorState>, body: Bytes) -> Response {
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(msg) => return admin_error(StatusCode::BAD_REQUEST, msg),
    };
    let text = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned)
    };
    let (Some(name), Some(key)) = (text("name"), text("access_key_id")) else {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "name and access_key_id are required non-empty strings",
        );
    };
    let provider = match text("provider") {
        None => Provider::Aws,
        Some(p) => match Provider::parse(&p) {
            Some(p) => p,
            None => return admin_error(StatusCode::BAD_REQUEST, "provider must be AWS or GCP"),
        },
    };
    let changes = Changes {
        name: Some(name),
        provider: Some(provider),
        access_key_id: Some(key),
        sign_in_login_url: text("sign_in_login_url"),
    };
    st.with_world(|w, _, ms, now| match w.create_out_of_band(&changes, now) {
        Ok(a) => {
            let (id, name) = (a.id, a.name.clone());
            ms.changed = true;
            ms.events.push(format!(
                "account {id} ({name:?}): created out of band, active"
            ));
            (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
        }
        Err(ty) => admin_error(StatusCode::CONFLICT, ty),
    })
}

/// Out-of-band deletion: the account disappears at once, as if removed outside Terraform.
async fn delete_account(State(st): State<EmulatorState>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return bad_id();
    };
    if id == INTERNAL_ACCOUNT_ID {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "the internal account cannot be deleted",
        );
    }
    st.with_world(|w, _, ms, _| match w.accounts.remove(&id) {
        Some(_) => {
            ms.changed = true;
            ms.events.push(format!("account {id}: deleted out of band"));
            Json(json!({"deleted": id})).into_response()
        }
        None => admin_error(StatusCode::NOT_FOUND, format!("account {id} not found")),
    })
}

/// Forces a status now; if a lifecycle is still running, it also ends in this status.
async fn force_status(
    State(st): State<EmulatorState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return bad_id();
    };
    let status = match parse_json(&body) {
        Ok(v) => match v.get("status").and_then(Value::as_str) {
            Some(s) if KNOWN_STATUSES.contains(&s) || is_novel_status(s) => s.to_owned(),
            _ => {
                return admin_error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "status must be one of {KNOWN_STATUSES:?} or a status the contract does not know yet (lowercase words joined by hyphens)"
                    ),
                );
            }
        },
        Err(msg) => return admin_error(StatusCode::BAD_REQUEST, msg),
    };
    st.with_world(|w, _, ms, now| {
        let busy = w.in_flight(id);
        let Some(a) = w.accounts.get_mut(&id) else {
            return admin_error(StatusCode::NOT_FOUND, format!("account {id} not found"));
        };
        ms.events
            .push(format!("account {id}: {} -> {status} (forced)", a.status));
        a.status = status.clone();
        a.updated_ms = now;
        if busy {
            a.final_override = Some(status);
        }
        ms.changed = true;
        Json(json!({"id": id, "status": a.status})).into_response()
    })
}

async fn add_task_errors(State(st): State<EmulatorState>, body: Bytes) -> Response {
    let v = match parse_json(&body) {
        Ok(v) => v,
        Err(msg) => return admin_error(StatusCode::BAD_REQUEST, msg),
    };
    let Some(ty) = v
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| TASK_ERROR_TYPES.contains(t))
    else {
        return admin_error(
            StatusCode::BAD_REQUEST,
            format!("type must be one of {TASK_ERROR_TYPES:?}"),
        );
    };
    let count = match v.get("count") {
        None | Some(Value::Null) => 1,
        Some(c) => match c
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .filter(|c| *c > 0)
        {
            Some(c) => c,
            None => {
                return admin_error(StatusCode::BAD_REQUEST, "count must be a positive integer");
            }
        },
    };
    let after_create = match v.get("after_create") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return admin_error(StatusCode::BAD_REQUEST, "after_create must be a boolean"),
    };
    st.add_task_errors(ty.to_owned(), after_create, count);
    Json(json!({"type": ty, "after_create": after_create, "count": count})).into_response()
}
