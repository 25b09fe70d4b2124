//! Imports over HTTP: a contact CSV or an NDJSON file of contacts and
//! events as the request body, options in the query string, and the same
//! report the CLI prints (created / updated / skipped and every rejected or
//! repaired record or line with its number and reason).
//!
//! The body is read whole (bounded by `ServerConfig::max_import_bytes`,
//! 413 beyond), parsed and applied in batches inside one blocking task: the
//! parsers are pure functions from bytes, and each batch is one durable
//! command. A file with zero valid rows is a 422 whose `details.report`
//! holds the full report, never "success, 0 imported".
//!
//! Query parameters are the CLI's flags without the dashes (`--map` is
//! `map=`), so messages from the parser that name a flag still point at the
//! right option.

use axum::Json;
use axum::extract::{Request, State};
use segscope_core::engine::{Command, Outcome};
use segscope_core::model::Channel;
use segscope_ingest::{
    ApplyError, CsvImportError, CsvImportOptions, ImportReport, InputLimits, NdjsonImportError, NdjsonImportOptions,
    NdjsonImportReport, ProblemSeverity, parse_assignment, parse_delimiter,
};
use serde_json::json;

use crate::AppState;
use crate::auth::Access;
use crate::error::ApiError;
use crate::params::Params;
use crate::routes::{read_body, segment_id};
use crate::wire::{self, ContactImportOut, EventImportOut};

fn limits(state: &AppState) -> InputLimits {
    InputLimits { max_input_bytes: state.config().max_import_bytes as u64, ..InputLimits::default() }
}

/// The 422 of an import that changed nothing, carrying the whole report.
fn nothing_imported(message: String, report: serde_json::Value) -> ApiError {
    ApiError::invalid(message).with_detail("report", report)
}

fn csv_error(err: CsvImportError, columns: Vec<wire::ColumnOut>, limit: usize) -> ApiError {
    match err {
        CsvImportError::InputTooLarge { .. } => ApiError::payload_too_large(limit),
        CsvImportError::BadOption { option, ref message } => {
            let parameter = option.trim_start_matches('-').replace('-', "_");
            ApiError::bad_parameter(&parameter, format!("invalid `{parameter}`: {message}"))
        }
        CsvImportError::NoValidRows { ref problems, omitted, .. } => {
            let message = err.to_string();
            let problems = problems.clone();
            let report = ImportReport {
                skipped: problems.iter().filter(|p| p.severity == ProblemSeverity::Rejected).count() + omitted.rejected,
                problems,
                omitted,
                ..ImportReport::default()
            };
            nothing_imported(message, json!(wire::contact_import_out(report, columns)))
        }
        other => ApiError::invalid(other.to_string()),
    }
}

pub async fn contacts(
    access: Access,
    mut params: Params,
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<ContactImportOut>, ApiError> {
    let mut options = CsvImportOptions { limits: limits(&state), ..CsvImportOptions::default() };
    if let Some(raw) = params.one("delimiter")? {
        options.delimiter =
            Some(parse_delimiter(&raw).map_err(|err| csv_error(err, Vec::new(), state.config().max_import_bytes))?);
    }
    options.encoding = params.one("encoding")?;
    for raw in params.all("map") {
        options.column_map.push(parse_assignment(&raw).map_err(|message| ApiError::bad_parameter("map", message))?);
    }
    options.ignore_columns = params.all("ignore");
    for raw in params.all("type") {
        options.column_types.push(parse_assignment(&raw).map_err(|message| ApiError::bad_parameter("type", message))?);
    }
    options.date_format = params.one("date_format")?;
    options.time_zone = params.one("time_zone")?;
    let list = params.one("list")?.map(|raw| segment_id(&raw)).transpose()?;
    params.finish()?;
    let limit = state.config().max_import_bytes;
    let bytes = read_body(request, &state, limit).await?;
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| {
            let schema = backend.schema(&ws)?;
            if options.time_zone.is_none() {
                options.time_zone = Some(backend.settings(&ws)?.time_zone);
            }
            if let Some(list) = list {
                // Refuse before parsing: a wrong list must not half-import.
                let info = backend.segment(&ws, list, now)?;
                if !info.is_static {
                    return Err(ApiError::bad_parameter(
                        "list",
                        format!("segment {} is dynamic: only static lists take imported members", list.0),
                    ));
                }
            }
            let parsed = segscope_ingest::parse_contacts_csv(&bytes, &options, &schema)
                .map_err(|err| csv_error(err, Vec::new(), limit))?;
            let columns = wire::columns_out(&parsed.mapping);
            let result = segscope_ingest::apply_contact_import(
                parsed,
                segscope_ingest::DEFAULT_BATCH_SIZE,
                |contacts| match backend.apply(&ws, Command::UpsertContacts { contacts, channel: Channel::Import, list }, now) {
                    Ok(Outcome::Upserted(report)) => Ok(report),
                    Ok(other) => Err(segscope_core::Error::internal(format!("an upsert answered {other:?}"))),
                    Err(err) => Err(err),
                },
                |_| {},
            );
            match result {
                Ok(report) => Ok(Json(wire::contact_import_out(report, columns))),
                Err(ApplyError::NothingImported { report, .. }) => {
                    let message = "nothing to import: the workspace rejected every record".to_owned();
                    Err(nothing_imported(message, json!(wire::contact_import_out(*report, columns))))
                }
                Err(ApplyError::Batch { first_item, source, report_so_far, .. }) => {
                    let err = ApiError::from(source);
                    if err.status.is_server_error() {
                        return Err(err);
                    }
                    Err(ApiError { message: format!("{first_item}: {}", err.message), ..err }
                        .with_detail("report", json!(wire::contact_import_out(*report_so_far, columns))))
                }
                Err(other @ ApplyError::UnexpectedOutcome { .. }) => Err(ApiError::internal(other.to_string())),
            }
        })
        .await
}

fn ndjson_report_json(report: NdjsonImportReport) -> serde_json::Value {
    json!(wire::event_import_out(report))
}

pub async fn events(
    access: Access,
    mut params: Params,
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<EventImportOut>, ApiError> {
    let channel = params
        .parsed("channel", |raw| {
            Channel::parse(raw).ok_or_else(|| {
                segscope_core::Error::invalid(format!(
                    "unknown channel `{raw}`: use manual, import, api, form, integration or tracking"
                ))
            })
        })?
        .unwrap_or(Channel::Api);
    params.finish()?;
    let limit = state.config().max_import_bytes;
    let options = NdjsonImportOptions { limits: limits(&state) };
    let bytes = read_body(request, &state, limit).await?;
    let ws = access.workspace;
    let now = state.now();
    state
        .blocking(move |backend| {
            let parsed = match segscope_ingest::parse_ndjson(&bytes, &options) {
                Ok(parsed) => parsed,
                Err(NdjsonImportError::InputTooLarge { .. }) => return Err(ApiError::payload_too_large(limit)),
                Err(err @ NdjsonImportError::NoValidLines { .. }) => {
                    let message = err.to_string();
                    let NdjsonImportError::NoValidLines { problems, omitted, .. } = err else { unreachable!("matched above") };
                    let skipped = problems.iter().filter(|p| p.severity == ProblemSeverity::Rejected).count() + omitted.rejected;
                    let report =
                        NdjsonImportReport { skipped, n_lines: skipped, problems, omitted, ..NdjsonImportReport::default() };
                    return Err(nothing_imported(message, ndjson_report_json(report)));
                }
            };
            let result = segscope_ingest::apply_ndjson_import(
                parsed,
                channel,
                segscope_ingest::DEFAULT_BATCH_SIZE,
                |command| backend.apply(&ws, command, now),
                |_| {},
            );
            match result {
                Ok(report) => Ok(Json(wire::event_import_out(report))),
                Err(ApplyError::NothingImported { report, .. }) => {
                    let message = "nothing to import: the workspace rejected every line".to_owned();
                    Err(nothing_imported(message, ndjson_report_json(*report)))
                }
                Err(ApplyError::Batch { first_item, source, report_so_far, .. }) => {
                    let err = ApiError::from(source);
                    if err.status.is_server_error() {
                        return Err(err);
                    }
                    Err(ApiError { message: format!("{first_item}: {}", err.message), ..err }
                        .with_detail("report", ndjson_report_json(*report_so_far)))
                }
                Err(other @ ApplyError::UnexpectedOutcome { .. }) => Err(ApiError::internal(other.to_string())),
            }
        })
        .await
}
