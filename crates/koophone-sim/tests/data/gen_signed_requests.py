#!/usr/bin/env python3
"""Generate signed_requests.json: requests to the simulator's default
scenario signed by the official Huawei Cloud Python signer, so the
simulator's AK/SK verification is checked against the official signer and
not against a signer of its own.

Each case is signed by huaweicloudsdkcore's own AK/SK code path
(`BasicCredentials.sign_request`, which adds X-Project-Id and
X-Security-Token before `Signer.sign`). Dates, keys and inputs are fixed,
so every run writes the same file. The Rust tests
(crates/koophone-sim/tests/aksk.rs) replay the cases in process and over
loopback HTTP and need no Python.

Run from the repository root:

    python3 -m venv /tmp/hwsdk
    /tmp/hwsdk/bin/pip install huaweicloudsdkcore==3.1.219
    /tmp/hwsdk/bin/python crates/koophone-sim/tests/data/gen_signed_requests.py \
        > crates/koophone-sim/tests/data/signed_requests.json

Keys: `sim-ak`/`sim-sk` is the default scenario's key pair; the tests add
the temporary pair `sim-temp-ak`/`sim-temp-sk` with security token
`sim-security-token`. `unknown-ak` and the `another-sk` secret exist nowhere,
so those cases must be refused.
"""

import json
import sys
from importlib.metadata import version
from urllib.parse import quote

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest

DATE = "20260315T101500Z"
HOST = "127.0.0.1:8080"
JSON = "application/json;charset=UTF-8"
PROGRESS = "/v1/instances/prepare-progress"
STATUS = "/v1/sim-project/instances/sim-instance/status"
PROGRESS_BODY = '{"user_id":"1008600000104285462","instance_id":"iRJEVP9"}'


def case(name, method="GET", path=STATUS, query=(), body="", ak="sim-ak", sk="sim-sk",
         project_id=None, security_token=None, headers=None):
    return {
        "name": name,
        "method": method,
        "path": path,
        "query": list(query),
        "body": body,
        "ak": ak,
        "sk": sk,
        "project_id": project_id,
        "security_token": security_token,
        "headers": headers if headers is not None else [("Content-Type", JSON),
                                                        ("User-Agent", "koophone-sim-tests")],
    }


CASES = [
    case("show progress", method="POST", path=PROGRESS, body=PROGRESS_BODY),
    case("show instance status"),
    case("show instance status with project id header", project_id="sim-project"),
    case("show instance status with a query", query=[("limit", "10"), ("marker", "a b/c")]),
    case("show instance status with an encoded segment",
         path="/v1/sim-project/instances/sim%2Dstarting/status"),
    case("show instance status without content type",
         headers=[("User-Agent", "koophone-sim-tests")]),
    case("show progress with a temporary key", method="POST", path=PROGRESS,
         body=PROGRESS_BODY, ak="sim-temp-ak", sk="sim-temp-sk",
         security_token="sim-security-token"),
    case("show progress signed with another secret", method="POST", path=PROGRESS,
         body=PROGRESS_BODY, sk="another-sk"),
    case("show instance status with an unknown key", ak="unknown-ak", sk="sim-sk"),
]


def sign(c):
    headers = dict(c["headers"])
    headers["X-Sdk-Date"] = DATE
    request = SdkRequest(
        method=c["method"],
        schema="http",
        host=HOST,
        resource_path=c["path"],
        query_params=list(c["query"]),
        header_params=headers,
        body=c["body"].encode("utf-8"),
    )
    credentials = BasicCredentials(c["ak"], c["sk"], c["project_id"])
    if c["security_token"] is not None:
        credentials.with_security_token(c["security_token"])
    signed = credentials.sign_request(request)
    wire_query = "&".join(quote(k, safe="") + "=" + quote(v, safe="") for k, v in c["query"])
    return {
        "name": c["name"],
        "method": c["method"],
        "target": c["path"] + ("?" + wire_query if wire_query else ""),
        # Every header the request carries, as the SDK left them.
        "headers": sorted(
            [k.lower(), v.encode("iso-8859-1").decode("utf-8")]
            for k, v in signed.header_params.items()
        ),
        "body": c["body"],
        "ak": c["ak"],
        "sk": c["sk"],
        "date": DATE,
    }


def main():
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    document = {
        "description": "Requests to the koophone-sim default scenario signed (SDK-HMAC-SHA256) "
                       "by the official Huawei Cloud Python SDK; regenerate with "
                       "crates/koophone-sim/tests/data/gen_signed_requests.py",
        "huaweicloudsdkcore": version("huaweicloudsdkcore"),
        "cases": [sign(c) for c in CASES],
    }
    json.dump(document, sys.stdout, ensure_ascii=False, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
