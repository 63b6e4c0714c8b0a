#!/usr/bin/env python3
"""Generate tests/vectors/signing.json with the official Huawei Cloud Python signer.

Each case is signed by huaweicloudsdkcore's own code path for AK/SK requests
(`BasicCredentials.sign_request`, which adds X-Project-Id and X-Security-Token
and then runs `Signer.sign`). The canonical request and the string to sign are
recorded by wrapping `Signer._process_string_to_sign` without changing what it
returns. Everything is fixed (dates, keys, inputs), so the output is the same
on every run; the Rust tests in crates/koophone-proto/tests/signing.rs compare
against it byte for byte and need no Python.

Run from the repository root:

    python3 -m venv /tmp/hwsdk
    /tmp/hwsdk/bin/pip install huaweicloudsdkcore==3.1.219
    /tmp/hwsdk/bin/python tests/vectors/gen_signing.py > tests/vectors/signing.json

Each case gives the request twice: as the SDK takes it (`resource_path`, the
raw `query_params` pairs, `header_params`) and as the Rust signer takes it
(`url`, whose query is percent-encoded, possibly differently from the
canonical form, and `headers`). `expected` is what the SDK produced.

The SDK looks up `Content-Type` with that exact spelling (it always writes it
so); the cases spell it that way, and vary the case of every other name.
"""

import binascii
import json
import sys
from importlib.metadata import version
from urllib.parse import quote, unquote, urlsplit

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer import signer as signer_module

AK = "HPUAFAKEACCESSKEY001"
SK = "fakeSecretKey0123456789abcdefghijklmnopqr"
DATE = "20261124T060211Z"
KOOPHONE = "https://koophone.cn-east-3.myhuaweicloud.com"
CLOUDDC = "https://clouddc.cn-north-4.myhuaweicloud.com"
JSON_HEADERS = [("Content-Type", "application/json;charset=UTF-8"),
                ("User-Agent", "huaweicloud-usdk-python/3.0")]
PROGRESS_BODY = '{"user_id": "1008600000104285462", "instance_id": "iRJEVP9"}'


def case(name, **kw):
    c = {
        "name": name,
        "method": "GET",
        "base": KOOPHONE,
        "resource_path": "/v1/instances",
        "query_params": [],
        "raw_query": None,
        "header_params": list(JSON_HEADERS),
        "body": "",
        "body_hex": None,
        "ak": AK,
        "sk": SK,
        "project_id": None,
        "security_token": None,
        "date": DATE,
    }
    unknown = set(kw) - set(c)
    assert not unknown, unknown
    c.update(kw)
    return c


def plain(*pairs):
    return [("User-Agent", "koophone/0.1.0")] + list(pairs)


CASES = [
    # The two operations of this project, as the SDKs would send them.
    case("show progress", method="POST", resource_path="/v1/instances/prepare-progress",
         body=PROGRESS_BODY),
    case("show instance status", base=CLOUDDC,
         resource_path="/v1/0a1b2c3d4e5f60718293a4b5c6d7e8f9/instances/i-7bd3a/status"),
    case("show instance status with project id header", base=CLOUDDC,
         resource_path="/v1/0a1b2c3d4e5f60718293a4b5c6d7e8f9/instances/i-7bd3a/status",
         project_id="0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
    case("show progress with security token", method="POST",
         resource_path="/v1/instances/prepare-progress", body=PROGRESS_BODY,
         security_token="gQpjbi1ub3J0aC00iIbzoiN0cmF0ZWd5IjoiZmFrZSJ9fQ=="),
    case("project id and security token", method="POST",
         resource_path="/v1/instances/prepare-progress", body=PROGRESS_BODY,
         project_id="f3c1b2a0", security_token="temporary-session-token-value"),

    # Methods.
    case("put with json body", method="PUT", resource_path="/v1/instances/i-1",
         body='{"name":"phone-1"}'),
    case("delete without body", method="DELETE", resource_path="/v1/instances/i-1"),
    case("patch with body", method="PATCH", resource_path="/v1/instances/i-1",
         body='{"desc":""}'),
    case("lower-case method is upper-cased in the canonical request", method="patch",
         resource_path="/v1/instances/i-1", body='{"a":1}'),
    case("head", method="HEAD", resource_path="/v1/instances"),
    case("options", method="OPTIONS", resource_path="/v1/instances", header_params=plain()),

    # Paths.
    case("root path", resource_path="/"),
    case("trailing slash kept", resource_path="/v1/instances/"),
    case("empty segments kept", resource_path="//v1//instances//x"),
    case("dot segments are not normalised", resource_path="/v1/./instances/../x"),
    case("sub-delimiters in a segment are encoded", resource_path="/v1/a:b@c;d=e,f+g$h!i*j'k(l)"),
    case("unreserved characters stay", resource_path="/v1/A-Z_a.z~0-9"),
    case("encoded slash becomes a separator", resource_path="/v1/a%2Fb/c"),
    case("encoded space", resource_path="/v1/my%20phone"),
    case("lower-case escapes are upper-cased", resource_path="/v1/%3a%7e%2f%41"),
    case("encoded unreserved characters are decoded", resource_path="/v1/%41%42%2D%5F%2E%7E"),
    case("raw non-ascii segment", resource_path="/v1/instances/中文/状态"),
    case("percent-encoded non-ascii segment", resource_path="/v1/instances/%E4%B8%AD%E6%96%87"),
    case("emoji and accents", resource_path="/v1/caf%C3%A9/😀"),
    case("invalid utf-8 escapes become replacement characters",
         resource_path="/v1/%FF%C3%28/%E4%B8/%ED%A0%80"),
    case("escape next to raw non-ascii", resource_path="/v1/%E4%B8中/x%C3"),
    case("malformed escapes stay literal", resource_path="/v1/%zz/%4/100%"),
    case("double-encoded escape decodes once", resource_path="/v1/a%252Fb"),

    # Queries.
    case("single query parameter", query_params=[("limit", "10")]),
    case("parameters sorted by key", query_params=[("offset", "0"), ("limit", "10"),
                                                   ("Marker", "m")]),
    case("repeated key sorted by value", query_params=[("id", "c"), ("id", "a"), ("id", "b")]),
    case("repeated identical pairs kept", query_params=[("tag", "x"), ("tag", "x")]),
    case("empty value", query_params=[("verbose", ""), ("a", "1")]),
    case("key without '=' on the wire gets an empty value", query_params=[("flag", ""), ("b", "2")],
         raw_query="flag&b=2"),
    case("reserved characters in keys and values",
         query_params=[("q", "a b&c=d/e?f"), ("path", "/v1/x"), ("plus", "1+1")]),
    case("sorted by raw value, not encoded value", query_params=[("k", "{a}"), ("k", "_a")]),
    case("sorted by raw key, not encoded key", query_params=[("a`", "1"), ("a_", "2")]),
    case("non-ascii keys sort after ascii", query_params=[("é", "1"), ("~", "2"), ("z", "3")]),
    case("non-ascii values", query_params=[("name", "手机"), ("emoji", "😀")]),
    case("wire form with lower-case escapes and encoded tilde",
         query_params=[("x", "a~b"), ("y", "c d")], raw_query="y=c%20d&x=a%7eb"),
    case("wire form with unencoded sub-delimiters",
         query_params=[("f", "a:b,c"), ("g", "*")], raw_query="g=*&f=a:b,c"),
    case("empty pairs on the wire are dropped", query_params=[("a", "1"), ("b", "2")],
         raw_query="&a=1&&b=2&"),
    case("query and body", method="POST", resource_path="/v1/instances/action",
         query_params=[("dry_run", "true")], body='{"action":"reboot"}'),

    # Headers.
    case("mixed-case header names",
         header_params=[("Content-Type", "application/json"), ("X-Custom-HEADER", "Value"),
                        ("x-lower", "v"), ("X-UPPER", "V")]),
    case("surrounding spaces and tabs are trimmed",
         header_params=[("Content-Type", "application/json"), ("X-Spaced", "  padded value \t"),
                        ("X-Inner", "a  b")]),
    case("unicode whitespace is trimmed",
         header_params=[("Content-Type", "application/json"), ("X-Nbsp", "\u00a0value\u3000")]),
    case("non-ascii header value",
         header_params=[("Content-Type", "application/json"), ("X-Label", "ç中 ☃")]),
    case("empty header value",
         header_params=[("Content-Type", "application/json"), ("X-Empty", "")]),
    case("names with underscores are not signed",
         header_params=[("Content-Type", "application/json"), ("X_Trace_Id", "abc"),
                        ("X-Trace-Id", "def")]),
    case("explicit host header is signed as given", base="http://127.0.0.1:8080",
         header_params=[("Content-Type", "application/json"), ("Host", "koophone.example.com")]),
    case("host with port", base="https://iam.example.com:8443"),
    case("ipv6 host", base="http://[::1]:8443"),
    case("no content type", header_params=plain()),
    case("no headers at all", header_params=[]),

    # Bodies and content types.
    case("non-json content type sends unsigned payload", method="POST",
         resource_path="/v1/upload", body="plain text body",
         header_params=plain(("Content-Type", "text/plain"))),
    case("unsigned payload header with an empty body", method="POST", resource_path="/v1/upload",
         header_params=plain(("Content-Type", "text/plain"))),
    case("content type case matters to the sdk", method="POST", resource_path="/v1/x",
         body='{"a":1}', header_params=plain(("Content-Type", "Application/JSON"))),
    case("bson is signed", method="POST", resource_path="/v1/x", body_hex="0500000000",
         header_params=plain(("Content-Type", "application/bson"))),
    case("binary body with json content type", method="POST", resource_path="/v1/x",
         body_hex="00ff10fe80"),
    case("octet stream", method="PUT", resource_path="/v1/blob", body_hex="deadbeef",
         header_params=plain(("Content-Type", "application/octet-stream"))),
    case("preset content hash is used", method="POST", resource_path="/v1/x", body='{"a":1}',
         header_params=[("Content-Type", "application/json"),
                        ("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD")]),
    case("large body", method="POST", resource_path="/v1/x",
         body=json.dumps({"items": [{"id": i, "name": "x" * 20} for i in range(300)]})),
    case("non-ascii json body", method="POST", resource_path="/v1/x",
         body='{"name":"云手机","emoji":"😀"}'),

    # Keys and dates.
    case("another key pair", ak="AKIDEXAMPLE00000000Z", sk="s3cr3t/with+symbols=="),
    case("non-ascii secret key", sk="clé-secrète-中"),
    case("unix epoch", date="19700101T000000Z"),
    case("leap day", date="20240229T235959Z"),
    case("end of 2099", date="20991231T235959Z"),
]


def wire_query(c):
    if c["raw_query"] is not None:
        return c["raw_query"]
    return "&".join(quote(k, safe="") + "=" + quote(v, safe="") for k, v in c["query_params"])


def decode_wire_query(raw):
    pairs = []
    for piece in raw.split("&"):
        if not piece:
            continue
        key, _, value = piece.partition("=")
        pairs.append((unquote(key), unquote(value)))
    return pairs


def body_bytes(c):
    if c["body_hex"] is not None:
        return binascii.unhexlify(c["body_hex"])
    return c["body"].encode("utf-8")


def sign(c, captured):
    assert not any(k.lower() == "content-type" and k != "Content-Type" for k, _ in c["header_params"])
    raw_query = wire_query(c)
    assert sorted(decode_wire_query(raw_query)) == sorted(c["query_params"]), c["name"]
    headers = dict(c["header_params"])
    headers["X-Sdk-Date"] = c["date"]
    request = SdkRequest(
        method=c["method"],
        schema=urlsplit(c["base"]).scheme,
        host=urlsplit(c["base"]).netloc,
        resource_path=c["resource_path"],
        query_params=list(c["query_params"]),
        header_params=headers,
        body=body_bytes(c),
    )
    credentials = BasicCredentials(c["ak"], c["sk"], c["project_id"])
    if c["security_token"] is not None:
        credentials.with_security_token(c["security_token"])
    captured.clear()
    signed = credentials.sign_request(request)
    final_headers = sorted(
        # The SDK hands requests latin-1 strings holding the UTF-8 bytes.
        [k.lower(), v.encode("iso-8859-1").decode("utf-8")]
        for k, v in signed.header_params.items()
    )
    url = c["base"] + c["resource_path"] + ("?" + raw_query if raw_query else "")
    out = {
        "name": c["name"],
        "request": {
            "method": c["method"],
            "url": url,
            "headers": [list(h) for h in c["header_params"]],
            "ak": c["ak"],
            "sk": c["sk"],
            "project_id": c["project_id"],
            "security_token": c["security_token"],
            "date": c["date"],
        },
        "sdk_input": {
            "host": request.host,
            "resource_path": c["resource_path"],
            "query_params": [list(p) for p in c["query_params"]],
        },
        "expected": {
            "canonical_request": captured["canonical_request"],
            "string_to_sign": captured["string_to_sign"],
            "authorization": signed.header_params["Authorization"],
            "uri": signed.uri,
            "headers": final_headers,
        },
    }
    if c["body_hex"] is not None:
        out["request"]["body_hex"] = c["body_hex"]
    else:
        out["request"]["body"] = c["body"]
    return out


def main():
    captured = {}
    original = signer_module.Signer._process_string_to_sign

    def recording(self, canonical_request, time):
        string_to_sign = original(self, canonical_request, time)
        captured["canonical_request"] = canonical_request
        captured["string_to_sign"] = string_to_sign
        return string_to_sign

    signer_module.Signer._process_string_to_sign = recording
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    cases = [sign(c, captured) for c in CASES]
    document = {
        "description": "SDK-HMAC-SHA256 signatures produced by the official Huawei Cloud "
                       "Python SDK; regenerate with tests/vectors/gen_signing.py",
        "generator": "tests/vectors/gen_signing.py",
        "huaweicloudsdkcore": version("huaweicloudsdkcore"),
        "cases": cases,
    }
    json.dump(document, sys.stdout, ensure_ascii=False, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
