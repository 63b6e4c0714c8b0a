//! What the simulator's request log says about AK/SK signing, for the
//! credential-rotation tests of every driver.

use std::collections::BTreeSet;

use koophone_sim::LoggedRequest;

/// The access keys the logged requests were signed with.
pub fn access_keys_signed(log: &[LoggedRequest]) -> BTreeSet<String> {
    log.iter()
        .filter_map(|r| r.header("authorization"))
        .filter_map(|a| a.split("Access=").nth(1))
        .map(|rest| rest.split(',').next().unwrap_or_default().to_owned())
        .collect()
}

/// A long wait on rotating temporary credentials: signed with at least
/// three credential sets, and no request refused with a 401 on the way.
pub fn assert_rotated_unrefused(log: &[LoggedRequest]) {
    let keys = access_keys_signed(log);
    assert!(
        keys.len() >= 3,
        "signed with {} credential sets",
        keys.len()
    );
    assert!(
        log.iter().all(|r| r.status != 401),
        "no request was refused"
    );
}
