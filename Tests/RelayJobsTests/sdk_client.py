"""The official `openai` Python SDK as a client of Tollgate's relay (launched by RelayTests).

Checks, against the PTU simulator's own record of what it sent:
  1. non-streaming: the SDK's usage equals the simulator's, and the relay recorded the same;
  2. streaming without include_usage: the SDK receives exactly the simulator's chunks minus the usage
     chunk and the "usage": null members the relay had asked for, and never sees a usage chunk;
  3. streaming with include_usage: the SDK receives exactly the simulator's chunks, usage included;
  in 2 and 3 the recorded usage equals the simulator's.
Prints "SDK checks passed" and exits 0, or prints the mismatch and exits 1.
"""
import argparse
import json
import sys
import time
import urllib.error
import urllib.request
import uuid

import openai

parser = argparse.ArgumentParser()
parser.add_argument("--runtime", required=True)
parser.add_argument("--simulator", required=True)
parser.add_argument("--deployment", required=True)
parser.add_argument("--gateway-key", required=True)
parser.add_argument("--admin-key", required=True)
args = parser.parse_args()

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def get_json(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def simulator_log(backend_id):
    return get_json(f"{args.simulator}/_sim/requests/{backend_id}")


def relay_call(request_id):
    # The relay records a call right after its last byte is sent: poll briefly.
    for _ in range(100):
        try:
            return get_json(f"{args.runtime}/v1/relay/calls/{request_id}", {"X-Tollgate-Admin-Key": args.admin_key})
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
            time.sleep(0.05)
    raise AssertionError(f"no relay call record for {request_id}")


def client_for(request_id):
    # AzureOpenAI builds {azure_endpoint}/openai/deployments/{model}/chat/completions?api-version=…,
    # which is the relay's path when the endpoint is the runtime's /v1/relay.
    return openai.AzureOpenAI(
        azure_endpoint=f"{args.runtime}/v1/relay",
        api_key="caller-api-key",
        api_version="2024-10-21",
        max_retries=0,
        default_headers={
            "X-Tollgate-Key": args.gateway_key,
            "X-Tollgate-Product": "team-a",
            "X-Tollgate-Subscription": "team-a-prod",
            "X-Tollgate-Request-Id": request_id,
        },
    )


messages = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say something about provisioned throughput please"},
]


def expected_chunks(events, hide_usage):
    out = []
    for payload in events:
        if payload == "[DONE]":
            continue
        chunk = json.loads(payload)
        if hide_usage:
            if chunk.get("usage") is not None and chunk.get("choices") == []:
                continue
            chunk.pop("usage", None)
        out.append(chunk)
    return out


# 1. Non-streaming.
request_id = f"sdk-plain-{uuid.uuid4()}"
raw = client_for(request_id).chat.completions.with_raw_response.create(
    model=args.deployment, messages=messages, max_tokens=30
)
completion = raw.parse()
log = simulator_log(raw.headers["apim-request-id"])
check(completion.usage.prompt_tokens == log["promptTokens"], "non-streaming prompt tokens differ from the simulator's")
check(completion.usage.completion_tokens == log["completionTokensSent"], "non-streaming completion tokens differ")
call = relay_call(request_id)
check(call["accounting"] == "usage", f"non-streaming accounting is {call['accounting']}")
check(call["promptTokens"] == log["promptTokens"] and call["completionTokens"] == log["completionTokensSent"],
      "recorded non-streaming usage differs from the simulator's")

# 2. and 3. Streaming without and with include_usage.
for include_usage in (False, True):
    request_id = f"sdk-stream-{include_usage}-{uuid.uuid4()}"
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    raw = client_for(request_id).chat.completions.with_raw_response.create(
        model=args.deployment, messages=messages, max_tokens=25, stream=True, **extra
    )
    stream = raw.parse()
    received = [chunk.model_dump(exclude_unset=True, mode="json") for chunk in stream]
    log = simulator_log(raw.headers["apim-request-id"])
    check(log["includeUsage"], "the relay did not ask the backend for usage")
    expected = expected_chunks(log["events"], hide_usage=not include_usage)
    check(received == expected, f"include_usage={include_usage}: SDK chunks differ from the simulator's events\n"
          f"received={json.dumps(received)[:2000]}\nexpected={json.dumps(expected)[:2000]}")
    usage_chunks = [c for c in received if c.get("usage") is not None]
    if include_usage:
        check(len(usage_chunks) == 1, "with include_usage the SDK must see exactly one usage chunk")
        if usage_chunks:
            check(usage_chunks[0]["usage"]["completion_tokens"] == log["completionTokensSent"], "usage chunk differs")
    else:
        check(not usage_chunks and all("usage" not in c for c in received),
              "without include_usage the SDK saw usage")
    call = relay_call(request_id)
    check(call["accounting"] == "usage", f"streaming accounting is {call['accounting']}")
    check(call["promptTokens"] == log["promptTokens"], "recorded prompt tokens differ from the simulator's")
    check(call["completionTokens"] == log["completionTokensSent"], "recorded completion tokens differ")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print(f"SDK checks passed (openai {openai.__version__})")
