//! `--region` (DESIGN.md, REGIONS): which endpoint a command talks to when
//! no `--endpoint` is given, and where IAM issues tokens. The lookup itself
//! (variable first, then the official table) is `koophone-proto`'s.

use koophone_ureq::{Endpoint, Service};

use crate::args::Global;
use crate::environment::Env;
use crate::exit::Failure;

/// The service endpoint: `--endpoint` (or `KOOPHONE_ENDPOINT`) wins; else the
/// region's endpoint of `service`; else an invalid-input failure saying
/// what to give. Plain `http` to a host that is not loopback needs `--allow-http`,
/// wherever the URL came from.
pub fn service_endpoint(
    global: &Global,
    service: Service,
    env: Env<'_>,
) -> Result<Endpoint, Failure> {
    if let Some(url) = &global.endpoint {
        return Endpoint::parse_with(url, global.allow_http)
            .map_err(|e| Failure::invalid_input(e.to_string()));
    }
    let Some(region) = &global.region else {
        return Err(Failure::invalid_input(
            "no endpoint: give --endpoint URL or KOOPHONE_ENDPOINT, \
             or --region ID or KOOPHONE_REGION, or use --simulate",
        ));
    };
    region_endpoint(service, region, global.allow_http, env)
}

/// The IAM endpoint of an IAM login, unparsed: `--iam-endpoint` (or
/// `HUAWEICLOUD_SDK_IAM_ENDPOINT`) wins; else, with a region, that region's
/// IAM endpoint (`HUAWEICLOUD_SDK_REGION_IAM_{ID}`, the official table, IAM's
/// global endpoint); `None` leaves the choice to the caller.
pub fn iam_url(global: &Global, env: Env<'_>) -> Result<Option<String>, Failure> {
    if let Some(url) = &global.iam_endpoint {
        return Ok(Some(url.clone()));
    }
    let Some(region) = &global.region else {
        return Ok(None);
    };
    Service::Iam
        .endpoint_url(region, env)
        .map(Some)
        .map_err(|e| Failure::invalid_input(e.to_string()))
}

/// The region's endpoint of `service`, a variable's URL checked as
/// `--endpoint` is (the message names the variable, never the URL).
fn region_endpoint(
    service: Service,
    region: &str,
    allow_http: bool,
    env: Env<'_>,
) -> Result<Endpoint, Failure> {
    let url = service
        .endpoint_url(region, env)
        .map_err(|e| Failure::invalid_input(e.to_string()))?;
    Endpoint::parse_with(&url, allow_http).map_err(|e| {
        Failure::invalid_input(format!(
            "invalid region: {} {}",
            service.region_variable(region),
            e.reason
        ))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::{CommandFactory, FromArgMatches};

    use super::*;
    use crate::args::Cli;
    use crate::exit::Kind;

    fn global(args: &[&str]) -> Global {
        let matches = Cli::command()
            .try_get_matches_from(["koophone"].iter().chain(args).chain(&["token"]))
            .unwrap_or_else(|e| panic!("{e}"));
        Cli::from_arg_matches(&matches).unwrap().global
    }

    fn table(vars: &[(&str, &str)]) -> HashMap<String, String> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn endpoint(
        args: &[&str],
        service: Service,
        vars: &[(&str, &str)],
    ) -> Result<Endpoint, Failure> {
        let vars = table(vars);
        service_endpoint(&global(args), service, &|name| vars.get(name).cloned())
    }

    #[test]
    fn the_region_picks_the_endpoint_by_service() {
        let clouddc = endpoint(&["--region", "cn-east-3"], Service::CloudDc, &[]).unwrap();
        assert_eq!(
            clouddc.as_str(),
            "https://clouddc.cn-east-3.myhuaweicloud.com"
        );
        let vars = [(
            "HUAWEICLOUD_SDK_REGION_KOOPHONE_CN_EAST_3",
            "https://koophone.example.com,https://other.example.com",
        )];
        let koophone = endpoint(&["--region", "cn-east-3"], Service::KooPhone, &vars).unwrap();
        assert_eq!(koophone.as_str(), "https://koophone.example.com");
    }

    #[test]
    fn the_endpoint_flag_wins_over_the_region() {
        let args = [
            "--region",
            "no-such-9",
            "--endpoint",
            "https://gw.example.com",
        ];
        let chosen = endpoint(&args, Service::CloudDc, &[]).unwrap();
        assert_eq!(chosen.as_str(), "https://gw.example.com");
    }

    #[test]
    fn a_region_variable_with_plain_http_needs_allow_http() {
        let vars = [(
            "HUAWEICLOUD_SDK_REGION_CLOUDDC_CN_EAST_3",
            "http://10.0.0.7:8080",
        )];
        let refused = endpoint(&["--region", "cn-east-3"], Service::CloudDc, &vars).unwrap_err();
        assert_eq!(refused.kind, Kind::InvalidInput);
        assert!(
            refused
                .line
                .contains("HUAWEICLOUD_SDK_REGION_CLOUDDC_CN_EAST_3"),
            "{}",
            refused.line
        );
        let args = ["--region", "cn-east-3", "--allow-http"];
        let allowed = endpoint(&args, Service::CloudDc, &vars).unwrap();
        assert_eq!(allowed.as_str(), "http://10.0.0.7:8080");
    }

    #[test]
    fn no_endpoint_and_no_region_says_what_to_give() {
        let failure = endpoint(&[], Service::KooPhone, &[]).unwrap_err();
        assert_eq!(failure.exit_code(), 2);
        assert!(failure.line.contains("--region"), "{}", failure.line);
    }

    #[test]
    fn iam_goes_to_the_regions_iam_unless_an_iam_endpoint_is_given() {
        let none = &|_: &str| None;
        let by_region = iam_url(&global(&["--region", "ap-southeast-3"]), none).unwrap();
        assert_eq!(
            by_region.as_deref(),
            Some("https://iam.ap-southeast-3.myhuaweicloud.com")
        );
        let unknown = iam_url(&global(&["--region", "xx-west-1"]), none).unwrap();
        assert_eq!(unknown.as_deref(), Some("https://iam.myhuaweicloud.com"));
        let args = [
            "--region",
            "ap-southeast-3",
            "--iam-endpoint",
            "https://iam.example.com",
        ];
        let given = iam_url(&global(&args), none).unwrap();
        assert_eq!(given.as_deref(), Some("https://iam.example.com"));
        assert_eq!(iam_url(&global(&[]), none).unwrap(), None);
    }
}
