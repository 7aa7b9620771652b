//! The HTTP API driven in-process: every `/api` route (and health, readiness, metrics, the
//! fallback) answered by [`server::router`] over a [`storage::MemoryStore`], requests sent with
//! `tower::ServiceExt::oneshot`, no socket bound.
//!
//! Each module takes one part of the API: what a user sees when a request succeeds, and each
//! refusal `docs/http-api.md` documents, with its status and JSON `code`.

/// The tests; being declared inside `mod http_api`, their files are in `tests/http_api/`.
mod http_api {
    mod failing_store;
    mod support;
    mod yjs;

    mod authorization;
    mod bad_input;
    mod changes;
    mod documents;
    mod failures;
    mod kinds;
    mod rich_text;
    mod service_routes;
    mod snapshots;
    mod updates;
    mod versions;
}
