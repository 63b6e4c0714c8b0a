//! Fixtures shared by the driver's integration tests.

use koophone_ureq::{Endpoint, IamPassword, IssueProjectToken, Password, ProjectScope};

/// The password credentials of `user` in `domain`, scoped to `project`, for
/// the IAM at `url`.
pub fn iam_password(
    url: &str,
    (user, domain): (&str, &str),
    password: &str,
    project: ProjectScope,
) -> IamPassword {
    IamPassword::new(
        Endpoint::parse(url).unwrap(),
        IssueProjectToken::new(user, domain, Password::new(password).unwrap(), project).unwrap(),
    )
}
