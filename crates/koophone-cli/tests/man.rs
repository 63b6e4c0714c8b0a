//! Black-box tests of `koophone man`: a roff page that names every command,
//! a page per command, and never a credential from the environment (clap
//! knows the values of the variables it reads).

use std::process::{Command, Output, Stdio};

const SECRET: &str = "tok-S3CRET-man-page";

fn koophone(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_koophone"))
        .env_clear()
        .env("KOOPHONE_TOKEN", SECRET)
        .env(
            "HUAWEICLOUD_SDK_IAM_ENDPOINT",
            format!("https://{SECRET}.example.com"),
        )
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run koophone")
}

fn page(args: &[&str]) -> String {
    let out = koophone(args);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8 page");
    assert!(!text.contains(SECRET), "a credential in the man page");
    text
}

#[test]
fn man_prints_a_roff_page_naming_every_command() {
    let text = page(&["man"]);
    assert!(text.contains(".TH koophone 1"), "{text}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(text.contains(section), "{section} missing");
    }
    for command in [
        "progress",
        "wait",
        "status",
        "wait\\-state",
        "sim",
        "token",
        "completions",
        "man",
    ] {
        assert!(
            text.contains(&format!("koophone\\-{command}(1)")),
            "{command} missing"
        );
    }
    for variable in ["KOOPHONE_ENDPOINT", "KOOPHONE_TOKEN", "KOOPHONE_REGION"] {
        assert!(text.contains(variable), "{variable} missing");
    }
}

#[test]
fn man_prints_a_commands_own_page() {
    let text = page(&["man", "wait-state"]);
    assert!(text.contains(".TH koophone-wait-state 1"), "{text}");
    assert!(text.contains("\\-\\-state"), "{text}");
    assert!(
        text.contains(concat!("koophone ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
}

#[test]
fn man_of_an_unknown_command_exits_2_naming_the_commands() {
    let out = koophone(&["man", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wait-state"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// `koophone man | man -l -` renders, where `man` is installed.
#[test]
fn the_page_renders_with_man_when_it_is_installed() {
    let Ok(status) = Command::new("man").arg("--version").output() else {
        return;
    };
    if !status.status.success() {
        return;
    }
    let page = std::env::temp_dir().join(format!("koophone-man-{}.1", std::process::id()));
    std::fs::write(&page, koophone(&["man"]).stdout).expect("write page");
    let rendered = Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .output()
        .expect("run man");
    let _ = std::fs::remove_file(&page);
    assert!(rendered.status.success(), "{rendered:?}");
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(text.contains("NAME"), "{text}");
    assert!(text.contains("koophone-wait-state(1)"), "{text}");
    assert!(!text.contains(".SH"), "roff left unrendered: {text}");
}
