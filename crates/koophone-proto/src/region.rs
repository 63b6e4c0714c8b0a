//! Endpoints by region, found the way the official Huawei Cloud SDKs find
//! them, so a user's existing region set-up works unchanged: the variable
//! `HUAWEICLOUD_SDK_REGION_{SERVICE}_{REGION}` first, then the SDKs' table.
//! The tables live here and nowhere else.
//!
//! Reading the environment is the caller's choice: every lookup takes the
//! variable reader as a function ([`Endpoint::for_region_with`]), and only
//! [`Endpoint::for_region`] reads the process environment.

use std::fmt;

use crate::endpoint::Endpoint;
use crate::error::{InvalidInput, InvalidReason};

/// CloudDC's regions in the official SDKs' table, each served at
/// `https://clouddc.{region}.myhuaweicloud.com`.
pub const CLOUDDC_REGIONS: &[&str] = &[
    "cn-east-3",
    "cn-southwest-2",
    "cn-south-1",
    "ap-southeast-3",
];

/// IAM's regions in the official SDKs' table, each served at
/// `https://iam.{region}.myhuaweicloud.com`.
pub const IAM_REGIONS: &[&str] = &[
    "cn-north-1",
    "cn-north-2",
    "cn-north-4",
    "cn-north-9",
    "cn-north-12",
    "cn-east-2",
    "cn-east-3",
    "cn-east-4",
    "cn-east-5",
    "cn-south-1",
    "cn-south-2",
    "cn-southwest-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "af-south-1",
    "sa-brazil-1",
    "la-south-2",
    "la-north-2",
    "na-mexico-1",
    "eu-west-0",
    "my-kualalumpur-1",
    "ru-moscow-1",
    "me-east-1",
    "ae-ad-1",
    "tr-west-1",
];

/// IAM's global endpoint, which serves every region: the official SDKs'
/// default, and what [`Service::Iam`] falls back on for a region outside
/// [`IAM_REGIONS`].
pub const DEFAULT_IAM_ENDPOINT: &str = "https://iam.myhuaweicloud.com";

/// The official SDKs' variable that names IAM's endpoint for every region.
/// [`Endpoint::for_region`] does not read it (it picks by region); a caller
/// that honours it checks it first.
pub const IAM_ENDPOINT_VARIABLE: &str = "HUAWEICLOUD_SDK_IAM_ENDPOINT";

/// The longest region id accepted: real ones are under 20 characters, and a
/// variable name is built from it.
const MAX_REGION_LEN: usize = 64;

/// A Huawei Cloud service whose endpoint a region picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Service {
    /// KooPhone (cloud phones: ShowProgress, BatchPrepareInstances). No
    /// official SDK covers it, so it has no table: only the variable names
    /// its endpoints.
    KooPhone,
    /// CloudDC (ShowInstanceStatus).
    CloudDc,
    /// IAM, which issues tokens; unknown regions use [`DEFAULT_IAM_ENDPOINT`].
    Iam,
}

impl Service {
    /// The service's name in `HUAWEICLOUD_SDK_REGION_{SERVICE}_{REGION}`.
    pub fn variable_part(self) -> &'static str {
        match self {
            Service::KooPhone => "KOOPHONE",
            Service::CloudDc => "CLOUDDC",
            Service::Iam => "IAM",
        }
    }

    /// The regions of the service's official table (none for KooPhone).
    pub fn known_regions(self) -> &'static [&'static str] {
        match self {
            Service::KooPhone => &[],
            Service::CloudDc => CLOUDDC_REGIONS,
            Service::Iam => IAM_REGIONS,
        }
    }

    /// The variable that names the service's endpoint in `region`:
    /// `HUAWEICLOUD_SDK_REGION_{SERVICE}_{REGION}`, upper-case, `-` as `_`
    /// (`HUAWEICLOUD_SDK_REGION_CLOUDDC_CN_EAST_3`).
    pub fn region_variable(self, region: &str) -> String {
        let region: String = region
            .chars()
            .map(|c| {
                if c == '-' {
                    '_'
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        format!("HUAWEICLOUD_SDK_REGION_{}_{region}", self.variable_part())
    }

    /// The endpoint URL of the official table for `region`, if it is there.
    pub fn table_url(self, region: &str) -> Option<String> {
        let host = match self {
            Service::KooPhone => return None,
            Service::CloudDc => "clouddc",
            Service::Iam => "iam",
        };
        let known = self
            .known_regions()
            .iter()
            .find(|known| known.eq_ignore_ascii_case(region))?;
        Some(format!("https://{host}.{known}.myhuaweicloud.com"))
    }

    /// The endpoint URL for `region`, as the official SDKs pick it: the
    /// first entry of the comma-separated list in
    /// [`region_variable`](Service::region_variable) (read with `env`; an
    /// empty list counts as unset), then the official table, then, for IAM
    /// only, [`DEFAULT_IAM_ENDPOINT`]. The URL is not parsed here.
    ///
    /// An invalid region id, or one that nothing names, is refused with
    /// field `region` and a reason that names the variable to set.
    pub fn endpoint_url(
        self,
        region: &str,
        env: impl FnOnce(&str) -> Option<String>,
    ) -> Result<String, InvalidInput> {
        check_region(region)?;
        let variable = self.region_variable(region);
        let from_variable = env(&variable).and_then(|list| {
            list.split(',')
                .map(str::trim)
                .find(|entry| !entry.is_empty())
                .map(str::to_owned)
        });
        if let Some(url) = from_variable {
            return Ok(url);
        }
        if let Some(url) = self.table_url(region) {
            return Ok(url);
        }
        if self == Service::Iam {
            return Ok(DEFAULT_IAM_ENDPOINT.to_owned());
        }
        let table = match self.known_regions() {
            [] => format!("{self} has no built-in region table"),
            known => format!("known regions: {}", known.join(", ")),
        };
        Err(region_error(format!(
            "unknown {self} region {region}: set {variable} to its endpoint url ({table})"
        )))
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::KooPhone => "KooPhone",
            Service::CloudDc => "CloudDC",
            Service::Iam => "IAM",
        })
    }
}

fn region_error(reason: String) -> InvalidInput {
    InvalidInput {
        field: "region",
        reason: InvalidReason::Endpoint(reason),
    }
}

/// A region id is ASCII letters, digits and `-` (`cn-north-4`): it becomes
/// part of a variable name and a host name.
fn check_region(region: &str) -> Result<(), InvalidInput> {
    let refuse = |reason| InvalidInput {
        field: "region",
        reason,
    };
    if region.is_empty() {
        return Err(refuse(InvalidReason::Empty));
    }
    if region.chars().count() > MAX_REGION_LEN {
        return Err(refuse(InvalidReason::TooLong {
            max: MAX_REGION_LEN,
            len: region.chars().count(),
        }));
    }
    let valid = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
    if !region.bytes().all(valid) || region.starts_with('-') || region.ends_with('-') {
        return Err(region_error(
            "must be ascii letters, digits and inner '-' (e.g. cn-north-4)".to_owned(),
        ));
    }
    Ok(())
}

impl Endpoint {
    /// The endpoint of `service` in `region`, looked up as
    /// [`Service::endpoint_url`] says with `env` reading the variables, and
    /// parsed as [`Endpoint::parse`] does. A variable's URL that cannot be
    /// used is refused with a reason that names the variable (never the URL).
    ///
    /// ```
    /// use koophone_proto::{Endpoint, Service};
    ///
    /// let table = Endpoint::for_region_with(Service::CloudDc, "cn-east-3", |_| None)?;
    /// assert_eq!(table.as_str(), "https://clouddc.cn-east-3.myhuaweicloud.com");
    ///
    /// let env = |name: &str| {
    ///     (name == "HUAWEICLOUD_SDK_REGION_KOOPHONE_CN_EAST_3")
    ///         .then(|| "https://koophone.example.com, https://backup.example.com".to_owned())
    /// };
    /// let named = Endpoint::for_region_with(Service::KooPhone, "cn-east-3", env)?;
    /// assert_eq!(named.as_str(), "https://koophone.example.com");
    /// # Ok::<(), koophone_proto::InvalidInput>(())
    /// ```
    pub fn for_region_with(
        service: Service,
        region: &str,
        env: impl FnOnce(&str) -> Option<String>,
    ) -> Result<Endpoint, InvalidInput> {
        let url = service.endpoint_url(region, env)?;
        Endpoint::parse(&url)
            .map_err(|e| region_error(format!("{} {}", service.region_variable(region), e.reason)))
    }

    /// [`Endpoint::for_region_with`] reading the process environment.
    pub fn for_region(service: Service, region: &str) -> Result<Endpoint, InvalidInput> {
        Endpoint::for_region_with(service, region, |name| std::env::var(name).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(name: &'static str, value: &'static str) -> impl FnOnce(&str) -> Option<String> {
        move |asked| (asked == name).then(|| value.to_owned())
    }

    fn unset(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_tables_follow_the_official_sdks() {
        assert_eq!(CLOUDDC_REGIONS.len(), 4);
        assert_eq!(IAM_REGIONS.len(), 27);
        for region in CLOUDDC_REGIONS {
            let endpoint = Endpoint::for_region_with(Service::CloudDc, region, unset).unwrap();
            assert_eq!(
                endpoint.as_str(),
                format!("https://clouddc.{region}.myhuaweicloud.com")
            );
        }
        for region in IAM_REGIONS {
            let endpoint = Endpoint::for_region_with(Service::Iam, region, unset).unwrap();
            assert_eq!(
                endpoint.as_str(),
                format!("https://iam.{region}.myhuaweicloud.com")
            );
        }
        // Region ids are matched without regard to case, and written lower-case.
        assert_eq!(
            Service::CloudDc.table_url("CN-East-3").as_deref(),
            Some("https://clouddc.cn-east-3.myhuaweicloud.com")
        );
    }

    #[test]
    fn the_variable_wins_over_the_table() {
        let env = only(
            "HUAWEICLOUD_SDK_REGION_CLOUDDC_CN_EAST_3",
            "https://clouddc.example.com/gw",
        );
        let endpoint = Endpoint::for_region_with(Service::CloudDc, "cn-east-3", env).unwrap();
        assert_eq!(endpoint.as_str(), "https://clouddc.example.com/gw");
        let env = only(
            "HUAWEICLOUD_SDK_REGION_IAM_CN_NORTH_4",
            "https://iam.example.com",
        );
        let endpoint = Endpoint::for_region_with(Service::Iam, "cn-north-4", env).unwrap();
        assert_eq!(endpoint.as_str(), "https://iam.example.com");
    }

    #[test]
    fn the_variable_names_service_and_region_upper_case_with_underscores() {
        assert_eq!(
            Service::KooPhone.region_variable("my-kualalumpur-1"),
            "HUAWEICLOUD_SDK_REGION_KOOPHONE_MY_KUALALUMPUR_1"
        );
        let mut asked = String::new();
        let _ = Service::CloudDc.endpoint_url("ap-southeast-3", |name| {
            asked = name.to_owned();
            None
        });
        assert_eq!(asked, "HUAWEICLOUD_SDK_REGION_CLOUDDC_AP_SOUTHEAST_3");
    }

    #[test]
    fn the_first_entry_of_a_comma_separated_list_is_used() {
        let env = only(
            "HUAWEICLOUD_SDK_REGION_KOOPHONE_CN_EAST_3",
            " https://a.example.com , https://b.example.com",
        );
        let url = Service::KooPhone.endpoint_url("cn-east-3", env).unwrap();
        assert_eq!(url, "https://a.example.com");
        let env = only(
            "HUAWEICLOUD_SDK_REGION_KOOPHONE_CN_EAST_3",
            ", https://b.example.com",
        );
        let url = Service::KooPhone.endpoint_url("cn-east-3", env).unwrap();
        assert_eq!(url, "https://b.example.com");
        // An empty list is no list: the table answers.
        let env = only("HUAWEICLOUD_SDK_REGION_CLOUDDC_CN_SOUTH_1", " , ");
        let url = Service::CloudDc.endpoint_url("cn-south-1", env).unwrap();
        assert_eq!(url, "https://clouddc.cn-south-1.myhuaweicloud.com");
    }

    #[test]
    fn an_unknown_region_is_invalid_input_naming_the_variable() {
        let e = Endpoint::for_region_with(Service::CloudDc, "xx-nowhere-9", unset).unwrap_err();
        assert_eq!(e.field, "region");
        let text = e.to_string();
        assert!(
            text.contains("HUAWEICLOUD_SDK_REGION_CLOUDDC_XX_NOWHERE_9"),
            "{text}"
        );
        assert!(text.contains("cn-east-3"), "{text}");
        // KooPhone has no table: a region the variable does not name is unknown.
        let e = Endpoint::for_region_with(Service::KooPhone, "cn-east-3", unset).unwrap_err();
        assert!(
            e.to_string()
                .contains("HUAWEICLOUD_SDK_REGION_KOOPHONE_CN_EAST_3"),
            "{e}"
        );
        // IAM's global endpoint serves every region.
        let iam = Endpoint::for_region_with(Service::Iam, "xx-nowhere-9", unset).unwrap();
        assert_eq!(iam.as_str(), DEFAULT_IAM_ENDPOINT);
    }

    #[test]
    fn a_bad_region_id_or_variable_url_is_refused_without_echoing_the_url() {
        for region in ["", "cn/east", "cn_east_3", "-cn", "cn-", "cn east", "ré-1"] {
            let e = Service::CloudDc.endpoint_url(region, unset).unwrap_err();
            assert_eq!(e.field, "region", "{region:?}");
        }
        let long = "a".repeat(65);
        assert!(matches!(
            Service::Iam.endpoint_url(&long, unset).unwrap_err().reason,
            InvalidReason::TooLong { max: 64, len: 65 }
        ));
        let env = only(
            "HUAWEICLOUD_SDK_REGION_CLOUDDC_CN_EAST_3",
            "http://user:hunter2@clouddc.example.com",
        );
        let e = Endpoint::for_region_with(Service::CloudDc, "cn-east-3", env).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("HUAWEICLOUD_SDK_REGION_CLOUDDC_CN_EAST_3"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }
}
