//! The answers the simulator writes: JSON bodies, the service's and the
//! gateway's error shapes, throttling and gateway pages.

use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};
use serde::Serialize;

/// The content type of every JSON answer.
pub(crate) const JSON: &str = "application/json;charset=UTF-8";

/// KooPhone's 400 for a body it cannot read: `KOOPHONE.API.1000` saying why.
pub(crate) fn invalid_parameter(why: &str) -> Response<Vec<u8>> {
    service_error(
        StatusCode::BAD_REQUEST,
        "KOOPHONE.API.1000",
        &format!("The request parameter is incorrect: {why}."),
    )
}

pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Vec<u8>> {
    // Serializing these plain structs cannot fail; an empty body would be
    // caught by any client as malformed, never a panic here.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(bytes);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// `{"error_code","error_msg"}`, the services' own error shape.
pub(crate) fn service_error(status: StatusCode, code: &str, msg: &str) -> Response<Vec<u8>> {
    #[derive(Serialize)]
    struct Body<'a> {
        error_code: &'a str,
        error_msg: &'a str,
    }
    json(
        status,
        &Body {
            error_code: code,
            error_msg: msg,
        },
    )
}

/// The API gateway's shape, which also carries the request id.
pub(crate) fn gateway_error(
    status: StatusCode,
    code: &str,
    msg: &str,
    request_id: &str,
) -> Response<Vec<u8>> {
    #[derive(Serialize)]
    struct Body<'a> {
        error_code: &'a str,
        error_msg: &'a str,
        request_id: &'a str,
    }
    json(
        status,
        &Body {
            error_code: code,
            error_msg: msg,
            request_id,
        },
    )
}

pub(crate) fn too_large(request_id: &str) -> Response<Vec<u8>> {
    gateway_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "APIGW.0201",
        "Request entity too large",
        request_id,
    )
}

/// 429 as documented: a plain string, plus Retry-After in seconds.
pub(crate) fn throttled(retry_after_s: u64) -> Response<Vec<u8>> {
    let mut response =
        Response::new(b"Too Many Requests: the request rate limit was exceeded".to_vec());
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain;charset=UTF-8"),
    );
    headers.insert(RETRY_AFTER, HeaderValue::from(retry_after_s));
    response
}

/// What a load balancer in front of the service sends: HTML, not JSON.
pub(crate) fn html_error(status: StatusCode, retry_after_s: Option<u64>) -> Response<Vec<u8>> {
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = status.as_u16();
    let page = format!(
        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    let mut response = Response::new(page.into_bytes());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    if let Some(secs) = retry_after_s {
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}
