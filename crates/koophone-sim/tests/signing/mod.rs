//! What the tests that build or change signed requests share.

use std::time::SystemTime;

/// `t` as an `X-Sdk-Date` value (`YYYYMMDDTHHMMSSZ`, UTC), as the signers
/// write it.
pub fn sdk_date(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    let t = time::OffsetDateTime::from_unix_timestamp(secs as i64).unwrap();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
