//! Which endpoint answers a path. Paths are compared as sent (not percent-decoded); the HTTP
//! layer has already answered methods other than GET and HEAD.

use super::params::Params;
use super::{Api, ApiError, files, health, history, metrics, realtime, summary, top_ips};
use crate::serve::{Request, Response};

/// The longest piece of a request path quoted back in a 404.
const QUOTED_PATH: usize = 120;

/// Answer `request`.
pub fn route(api: &Api, request: &Request<'_>) -> Response {
    let params = Params::new(request.query);
    let answer = match request.path {
        b"/api/summary" => summary::answer(api, &params),
        b"/api/query" => history::query(api, &params),
        b"/api/history/30days" => history::last_30_days(api, &params),
        b"/api/history/12months" => history::last_12_months(api, &params),
        b"/api/history/today_hours" => history::today_hours(api, &params),
        b"/api/date_range" => history::date_range(api, &params),
        b"/api/top_ips" => top_ips::answer(api, &params),
        b"/api/realtime" => realtime::answer(api, &params),
        b"/api/health" => health::answer(api, &params),
        b"/metrics" => metrics::answer(api, &params),
        path if path == b"/api" || path.starts_with(b"/api/") => Err(not_found(path)),
        path => return files::answer(request).unwrap_or_else(|| not_found(path).into_response()),
    };
    answer.unwrap_or_else(ApiError::into_response)
}

fn not_found(path: &[u8]) -> ApiError {
    let quoted = &path[..path.len().min(QUOTED_PATH)];
    ApiError::NotFound(String::from_utf8_lossy(quoted).into_owned())
}
