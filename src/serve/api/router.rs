//! Which endpoint answers a path. Paths are compared as sent (not percent-decoded); the HTTP
//! layer has already answered methods other than GET and HEAD.

use super::params::{self, Params};
use super::{
    Api, ApiError, devices, export, files, health, history, local_ips, metrics, networks, quota,
    realtime, services, summary, top_ips,
};
use crate::export::Format;
use crate::serve::{Request, Response};
use crate::store::Granularity;

/// The longest piece of a request path quoted back in a 404.
const QUOTED_PATH: usize = 120;

/// A `/api/query` series of more points is expensive (see [`is_expensive`]): a year by day (365)
/// or a month by hour (744) stays cheap, a quarter by hour does not.
pub const CHEAP_POINTS: u64 = 1_000;

/// A `/api/top_ips` over more local days is expensive: it reads every stored day's list.
pub const CHEAP_DAYS: u64 = 31;

/// Answer `request`.
pub fn route(api: &Api, request: &Request<'_>) -> Response {
    let params = Params::new(request.query);
    let answer = match request.path {
        b"/api/summary" => summary::answer(api, &params),
        b"/api/quota" => quota::answer(api, &params),
        b"/api/query" => history::query(api, &params),
        b"/api/export.csv" => export::answer(api, &params, Format::Csv),
        b"/api/export.jsonl" => export::answer(api, &params, Format::Jsonl),
        b"/api/history/30days" => history::last_30_days(api, &params),
        b"/api/history/12months" => history::last_12_months(api, &params),
        b"/api/history/today_hours" => history::today_hours(api, &params),
        b"/api/date_range" => history::date_range(api, &params),
        b"/api/top_ips" => top_ips::answer(api, &params),
        b"/api/devices" => devices::answer(api, &params),
        b"/api/services" => services::answer(api, &params),
        b"/api/networks" => networks::answer(api, &params),
        b"/api/realtime" => realtime::answer(api, &params),
        b"/api/health" => health::answer(api, &params),
        b"/api/debug/local_ips" => local_ips::answer(api, &params),
        b"/metrics" => metrics::answer(api, &params),
        path if path == b"/api" || path.starts_with(b"/api/") => Err(not_found(path)),
        path => return files::answer(request).unwrap_or_else(|| not_found(path).into_response()),
    };
    answer.unwrap_or_else(ApiError::into_response)
}

/// Whether `request` takes long or builds a large answer: the HTTP layer runs such requests one
/// at a time. Bad parameters are cheap (they are refused at once).
pub fn is_expensive(api: &Api, request: &Request<'_>) -> bool {
    match request.path {
        // An export is made while it is sent (bounded pieces on the connection's coroutine);
        // what runs here is its start: the parameters, the read view and the days with traffic.
        b"/api/query" | b"/api/export.csv" | b"/api/export.jsonl" => {
            let params = Params::new(request.query);
            match (params::required_range(&params), params.granularity()) {
                // A device's series reads one stored list of devices per day of the range.
                (Ok((start, end)), Ok(_))
                    if request.path == b"/api/query" && matches!(params.device(), Ok(Some(_))) =>
                {
                    params::points(start, end, Granularity::Day) > CHEAP_POINTS
                }
                (Ok((start, end)), Ok(granularity)) => {
                    params::points(start, end, granularity) > CHEAP_POINTS
                }
                _ => false,
            }
        }
        // Every kept address of the range is looked up as well: never cheap.
        b"/api/networks" => true,
        b"/api/top_ips" | b"/api/devices" => top_ips::days(api, &Params::new(request.query))
            .is_ok_and(|(start, end)| params::points(start, end, Granularity::Day) > CHEAP_DAYS),
        _ => false,
    }
}

fn not_found(path: &[u8]) -> ApiError {
    let quoted = &path[..path.len().min(QUOTED_PATH)];
    ApiError::NotFound(String::from_utf8_lossy(quoted).into_owned())
}
