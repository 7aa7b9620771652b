//! The OpenAPI 3 description of the HTTP API, served at `/api/openapi.json`.
//!
//! Written by hand next to the routes, and kept in step by a test that sends a request to every
//! path and method it lists and checks the router has a handler for it (a route missing from
//! the router would hit the JSON fallback instead).

use axum::Json;
use serde_json::{Value, json};

/// `GET /api/openapi.json`.
pub(crate) async fn serve_openapi() -> Json<Value> {
    Json(openapi_document())
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn id_parameter() -> Value {
    json!({
        "name": "id", "in": "path", "required": true,
        "description": "Document id (the room name), percent-encoded: any UTF-8 of 1 to 512 bytes without control characters; `/` as %2F.",
        "schema": {"type": "string"}
    })
}

fn version_parameter() -> Value {
    json!({"name": "version", "in": "path", "required": true, "schema": {"type": "string"}})
}

fn snapshot_parameters(of_version: bool) -> Value {
    let mut parameters = vec![id_parameter()];
    if of_version {
        parameters.push(version_parameter());
    }
    parameters.extend(export_parameters());
    Value::Array(parameters)
}

fn export_parameters() -> Vec<Value> {
    vec![
        json!({"name": "format", "in": "query", "description": "every kind: update, update-v2, json, markdown (a text document's text as it is); text documents: text; rich documents: html, prosemirror-json", "schema": {"type": "string", "enum": ["update", "update-v2", "json", "text", "html", "markdown", "prosemirror-json"], "default": "update"}}),
        json!({"name": "since", "in": "query", "description": "base64url state vector: return only what it lacks (update formats)", "schema": {"type": "string"}}),
        json!({"name": "name", "in": "query", "description": "root to export with format=text or a text document's markdown (a text), html, prosemirror-json or a rich document's markdown (an XML fragment), json (any root; default: all); default: for rich documents `default` when present, else the only root of that kind", "schema": {"type": "string"}}),
    ]
}

fn snapshot_responses() -> Value {
    json!({
        "200": {"description": "The content", "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "object"}},
            "text/plain": {"schema": {"type": "string"}},
            "text/html": {"schema": {"type": "string"}},
            "text/markdown": {"schema": {"type": "string"}}
        }},
        "400": error_response("Unknown format (invalid_format), a format the document's kind lacks (format_not_for_kind, naming the kinds that have it), bad `since`, no single root text (no_such_text), or a named root that is not rich text (not_rich_text)"),
        "404": error_response("No such document or version")
    })
}

/// The whole OpenAPI document.
pub fn openapi_document() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Quire HTTP API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Documents of a Quire server: export, import, list, delete, versions and the change feed. Errors are JSON {error, code}."
        },
        "paths": {
            "/api/docs": {"get": {
                "summary": "List documents, in id order",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 100, "description": "0 counts as 1"}},
                    {"name": "after", "in": "query", "description": "the last id of the previous page", "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "A page of documents", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Document"}}}}}}
            }, "post": {
                "summary": "Create an empty document of a kind (text or rich); durable before the answer",
                "requestBody": {"content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {
                    "id": {"type": "string", "description": "default: a random UUID"},
                    "kind": {"type": "string", "enum": ["text", "rich"], "default": "text"}}}}}},
                "responses": {
                    "201": {"description": "Created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Document"}}}},
                    "400": error_response("invalid_kind, invalid_document_id or invalid_body"),
                    "409": error_response("document_exists: the id is taken; nothing changed"),
                    "503": error_response("storage_unavailable: storage takes no writes now; nothing changed")}
            }},
            "/api/docs/{id}": {
                "get": {"summary": "A document's metadata", "parameters": [id_parameter()], "responses": {
                    "200": {"description": "Metadata", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Document"}}}},
                    "404": error_response("No such document")}},
                "delete": {"summary": "Delete a document; live clients are closed with 4410", "parameters": [id_parameter()], "responses": {
                    "204": {"description": "Deleted"}, "404": error_response("No such document")}}
            },
            "/api/docs/{id}/snapshot": {"get": {"summary": "Export the document", "parameters": snapshot_parameters(false), "responses": snapshot_responses()}},
            "/api/docs/{id}/state-vector": {"get": {"summary": "The binary Yjs state vector", "parameters": [id_parameter()], "responses": {
                "200": {"description": "State vector", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                "404": error_response("No such document")}}},
            "/api/docs/{id}/update": {"post": {
                "summary": "Apply a Yjs update: durable before the answer, broadcast to live clients",
                "parameters": [id_parameter(), {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["update", "update-v2"], "default": "update"}}],
                "requestBody": {"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                "responses": {
                    "200": {"description": "Applied", "content": {"application/json": {"schema": {"type": "object", "properties": {"changed": {"type": "boolean"}}}}}},
                    "400": error_response("Not a Yjs update; nothing changed"),
                    "413": error_response("Body over the limit"),
                    "415": error_response("Body not application/octet-stream"),
                    "503": error_response("storage_unavailable: storage takes no writes now; nothing changed")}
            }},
            "/api/docs/{id}/versions": {
                "get": {"summary": "Versions, oldest first", "parameters": [id_parameter()], "responses": {
                    "200": {"description": "Versions", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Version"}}}}},
                    "404": error_response("No such document")}},
                "post": {"summary": "Keep the current state as a version", "parameters": [id_parameter()],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"label": {"type": "string", "maxLength": 256}}}}}},
                    "responses": {
                        "201": {"description": "Created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Version"}}}},
                        "400": error_response("Bad label"), "404": error_response("No such document"), "413": error_response("Body over the limit"), "415": error_response("Body not JSON")}}
            },
            "/api/docs/{id}/versions/{version}/snapshot": {"get": {"summary": "Export a version", "parameters": snapshot_parameters(true), "responses": snapshot_responses()}},
            "/api/docs/{id}/versions/{version}/restore": {"post": {
                "summary": "Make the content equal the version's with new edits (history kept), broadcast to live clients",
                "parameters": [id_parameter(), version_parameter()],
                "responses": {
                    "200": {"description": "Restored", "content": {"application/json": {"schema": {"type": "object", "properties": {"version_id": {"type": "string"}, "changed": {"type": "boolean"}}}}}},
                    "400": error_response("too_deeply_nested: the version or document nests shared types deeper than 128 levels; nothing changed"),
                    "404": error_response("No such document or version"),
                    "503": error_response("storage_unavailable: storage takes no writes now; nothing changed")}
            }},
            "/api/changes": {"get": {
                "summary": "Change events as Server-Sent Events: stored events after the cursor, then live ones (see docs/webhooks.md)",
                "parameters": [
                    {"name": "since", "in": "query", "description": "cursor: the id of the last event already seen (0: from the first kept event); omitted: live events only. The Last-Event-ID header wins over it.", "schema": {"type": "string"}},
                    {"name": "Last-Event-ID", "in": "header", "description": "cursor, as an EventSource sends it on reconnecting", "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {"description": "An endless text/event-stream: each event has `id:` (the cursor), `event:` (its type) and `data:` (a ChangeEvent); `: keepalive` comments every 15 s; a final `expired` event if the reader falls behind retention",
                        "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/ChangeEvent"}}}},
                    "400": error_response("invalid_cursor: not a whole number"),
                    "401": error_response("Token required (with --auth-secret); events are filtered to the documents the token covers"),
                    "501": error_response("no_change_log: the change feed is off (--change-feed auto without a --webhook-url, or off)"),
                    "410": error_response("cursor_expired: events after the cursor are no longer kept; cursor_unknown: the cursor is past the last event. Resync from the documents and follow from the current end")}
            }},
            "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3"}}}},
            "/healthz": {"get": {"summary": "Alive", "responses": {"200": {"description": "ok"}}}},
            "/readyz": {"get": {"summary": "Ready: storage takes writes, the cluster link (if any) is up, accepting connections", "responses": {"200": {"description": "ready"}, "503": error_response("shutting_down, storage_unavailable with the reason, or cluster_unavailable")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition format"}}}}
        },
        "security": [{"bearer": []}],
        "components": {
          "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "Required when the server runs with --auth-secret; see quire token."}},
          "schemas": {
            "Error": {"type": "object", "required": ["error", "code"], "properties": {"error": {"type": "string"}, "code": {"type": "string"}}},
            "Document": {"type": "object", "properties": {
                "id": {"type": "string"}, "bytes": {"type": "integer"},
                "updated_at": {"type": "string", "format": "date-time"}, "clients": {"type": "integer"},
                "in_memory": {"type": "boolean"}, "damaged": {"type": "boolean"},
                "kind": {"type": "string", "enum": ["text", "rich"], "description": "chosen at creation; documents created by a first edit are text"}}},
            "ChangeEvent": {"type": "object", "required": ["id", "type", "document", "time"], "properties": {
                "id": {"type": "string", "description": "the event's sequence: unique, increasing, the SSE cursor"},
                "type": {"type": "string", "enum": ["document.created", "document.updated", "document.deleted", "version.created"]},
                "document": {"type": "string"}, "time": {"type": "string", "format": "date-time"},
                "state_vector": {"type": "string", "format": "byte", "description": "Yjs v1 state vector after the change (not on document.deleted)"},
                "version_id": {"type": "string", "description": "version.created only"}}},
            "Version": {"type": "object", "properties": {
                "version_id": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
                "label": {"type": "string"}, "bytes": {"type": "integer"}}}
        }}
    })
}
