//! The profile file parser: the files the official SDKs read, the errors a
//! user can act on (with line numbers), and no secret in any error or `Debug`.

use koophone_proto::InvalidReason;
use koophone_proto::auth::profile::{ProfileErrorKind, parse};
use proptest::prelude::*;

const SK: &str = "sk-S3CRET-profile-0123";

#[test]
fn reads_basic_with_every_key() {
    let text = format!(
        "# the SDKs' file\n[global]\nak = GLOBAL-AK\n\n[basic]\nAK = AK-1\nsk: {SK}\n\
         security_token = session-S3CRET\nproject_id = proj-1\n\
         iam_endpoint = https://iam.cn-north-4.myhuaweicloud.com\nother = ignored\n"
    );
    let profile = parse(&text).unwrap();
    assert_eq!(profile.credentials().access_key(), "AK-1");
    assert_eq!(profile.credentials().project_id(), Some("proj-1"));
    assert_eq!(
        profile.iam_endpoint(),
        Some("https://iam.cn-north-4.myhuaweicloud.com")
    );
    let shown = format!("{profile:?}");
    assert!(
        !shown.contains(SK) && !shown.contains("session-S3CRET"),
        "{shown}"
    );
}

#[test]
fn empty_optional_values_count_as_absent() {
    let profile = parse(&format!(
        "[basic]\nak=AK\nsk={SK}\nproject_id=\nsecurity_token =\n"
    ))
    .unwrap();
    assert_eq!(profile.credentials().project_id(), None);
}

#[test]
fn errors_name_the_line_and_never_the_value() {
    let cases: &[(String, Option<usize>, ProfileErrorKind)] = &[
        (
            format!("[basic]\nak=AK\n{SK}\n"),
            Some(3),
            ProfileErrorKind::Syntax,
        ),
        (
            format!("ak=AK\n[basic]\nsk={SK}\n"),
            Some(1),
            ProfileErrorKind::OutsideSection,
        ),
        (
            format!("[basic]\nak=AK\nsk={SK}\nsk={SK}\n"),
            Some(4),
            ProfileErrorKind::DuplicateKey("sk"),
        ),
        (
            format!("[basic]\nak=AK\n[basic]\nsk={SK}\n"),
            Some(3),
            ProfileErrorKind::DuplicateSection,
        ),
        (
            format!("[basic]\nak=AK\n  {SK}\n"),
            Some(3),
            ProfileErrorKind::Continuation,
        ),
        (
            format!("[other]\nak=AK\nsk={SK}\n"),
            None,
            ProfileErrorKind::MissingSection,
        ),
        (
            format!("[basic]\nsk={SK}\n"),
            None,
            ProfileErrorKind::MissingKey("ak"),
        ),
        (
            "[basic]\nak=AK\n".to_owned(),
            None,
            ProfileErrorKind::MissingKey("sk"),
        ),
        (
            format!("[basic]\nak=AK 1\nsk={SK}\n"),
            Some(2),
            ProfileErrorKind::InvalidValue {
                key: "ak",
                reason: InvalidReason::Unencodable,
            },
        ),
        (
            format!("[basic]\nak=AK\nsk={SK}\nsecurity_token=caf\u{e9}-{SK}\n"),
            Some(4),
            ProfileErrorKind::InvalidValue {
                key: "security_token",
                reason: InvalidReason::NotAscii,
            },
        ),
        (
            format!("[basic\nak=AK\nsk={SK}\n"),
            Some(1),
            ProfileErrorKind::Syntax,
        ),
    ];
    for (text, line, kind) in cases {
        let err = parse(text).unwrap_err();
        assert_eq!((err.line, &err.kind), (*line, kind), "{text:?}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(SK), "{shown}");
        if let Some(line) = line {
            assert!(shown.starts_with(&format!("line {line}: ")), "{shown}");
        }
    }
    assert!(parse("[other]\n").unwrap_err().is_missing_section());
}

proptest! {
    /// Any text: a profile or an error, never a panic, and no error repeats
    /// the secret key written in the file.
    #[test]
    fn any_text_parses_or_fails_without_the_secret(
        before in "[ -~\n\t\\[\\]=:#;]{0,200}",
        after in "[ -~\n\t\\[\\]=:#;]{0,200}",
    ) {
        let text = format!("{before}\nsk = {SK}\n{after}");
        match parse(&text) {
            Ok(profile) => {
                let shown = format!("{profile:?}");
                prop_assert!(!shown.contains(SK));
            }
            Err(err) => {
                let shown = format!("{err} {err:?}");
                prop_assert!(!shown.contains(SK), "{}", shown);
                if let Some(line) = err.line {
                    prop_assert!(line >= 1 && line <= text.lines().count());
                }
            }
        }
    }

    /// Well-formed files round-trip, whatever the spacing, separator and
    /// case of keys, and whatever comes in other sections.
    #[test]
    fn written_profiles_read_back(
        ak in "[A-Z0-9]{1,24}",
        sk in "[A-Za-z0-9+/]{1,40}",
        project in proptest::option::of("[a-f0-9]{32}"),
        sep in prop_oneof![Just("="), Just(" = "), Just(": "), Just(":")],
        upper in any::<bool>(),
        other in "[a-z]{1,8}",
    ) {
        let key = |k: &str| if upper { k.to_uppercase() } else { k.to_owned() };
        let mut text = format!("[{other}x]\nak = nope\n[basic]\n{}{sep}{ak}\n{}{sep}{sk}\n", key("ak"), key("sk"));
        if let Some(p) = &project {
            text.push_str(&format!("project_id{sep}{p}\n"));
        }
        let profile = parse(&text).unwrap();
        prop_assert_eq!(profile.credentials().access_key(), ak.as_str());
        prop_assert_eq!(profile.credentials().project_id(), project.as_deref());
    }
}
