import Foundation
import Testing
import UsageAccounting

@Suite struct UtilizationTests {
    @Test func parsesHeader() {
        #expect(UtilizationHeader.parse("37.5%") == 37.5)
        #expect(UtilizationHeader.parse(" 80 ") == 80)
        #expect(UtilizationHeader.parse(nil) == nil)
        #expect(UtilizationHeader.parse("") == nil)
        #expect(UtilizationHeader.parse("abc%") == nil)
        #expect(UtilizationHeader.parse("-3%") == nil)
        #expect(UtilizationHeader.parse("nan") == nil)
    }

    @Test func retryAfterPrefersMilliseconds() {
        #expect(RetryAfter.seconds(retryAfterMs: "1500", retryAfter: "9") == 1.5)
        #expect(RetryAfter.seconds(retryAfterMs: nil, retryAfter: "2") == 2)
        #expect(RetryAfter.seconds(retryAfterMs: "x", retryAfter: nil) == nil)
    }

    @Test func coarseGateTreatsMissingDataAsUnknown() {
        var gate = CoarseUtilizationGate(targetPercent: 80, maxAge: 300)
        #expect(gate.decision(now: 0) == .unknown)
        gate.record(percent: nil, at: 10)
        #expect(gate.decision(now: 10) == .unknown)
        gate.record(percent: 50, at: 20)
        #expect(gate.decision(now: 30) == .below(50))
        #expect(gate.decision(now: 400) == .unknown)
        gate.record(percent: 85, at: 400)
        #expect(gate.decision(now: 401) == .atOrAboveTarget(85))
        gate.record(percent: 101, at: 402)
        #expect(gate.decision(now: 403) == .saturated(101))
    }
}

@Suite struct ControllerTests {
    func parameters() -> ConcurrencyController.Parameters {
        var parameters = ConcurrencyController.Parameters(targetPercent: 80)
        parameters.initial = 4
        parameters.maximum = 32
        parameters.decreaseCooldown = 1
        parameters.smoothing = 0  // raw readings, so the arithmetic below is exact
        return parameters
    }

    @Test func growsAboutOnePerRoundTripWithoutHint() {
        var controller = ConcurrencyController(parameters: parameters())
        // One round trip at limit 4 = 4 successes → +1.
        for _ in 0..<4 { controller.succeeded(utilization: nil, now: 0) }
        #expect(controller.limit > 4.9 && controller.limit < 5)
        #expect(controller.allowed(inFlight: 2, now: 0) == 2)
    }

    @Test func holdsInDeadBandAndShrinksAboveTarget() {
        var controller = ConcurrencyController(parameters: parameters())
        controller.succeeded(utilization: 79.8, now: 0)
        #expect(controller.limit == 4)
        controller.succeeded(utilization: 100, now: 2)
        #expect(controller.limit == 3.2)  // × 80/100
        // Within the cooldown a second reading over target changes nothing.
        controller.succeeded(utilization: 160, now: 2.5)
        #expect(controller.limit == 3.2)
        // Far below the target it grows again (gap/S = 1: one slot for this success).
        controller.succeeded(utilization: 40, now: 4)
        #expect(abs(controller.limit - 4.2) < 1e-9)
    }

    @Test func growsInProportionToTheGapAndNeverOvershootsInOneRoundTrip() {
        // Online traffic holds 50 points, each batch slot 2 points; limit 4 → S = 58.
        // Closing the gap to 80 needs 11 more slots; one round trip (4 successes) adds
        // 4 × 22/58 ≈ 1.5 — less than needed, more than the old fixed +1.
        var controller = ConcurrencyController(parameters: parameters())
        for _ in 0..<4 { controller.succeeded(utilization: 58, now: 0) }
        #expect(abs(controller.limit - (4 + 4 * 22.0 / 58)) < 1e-9)
        #expect(controller.limit < 4 + 11)
        // A small gap gives a small step.
        var near = ConcurrencyController(parameters: parameters())
        for _ in 0..<4 { near.succeeded(utilization: 77, now: 0) }
        #expect(near.limit > 4 && near.limit < 4.2)
        // Inside the 2-point band below the target it holds.
        var band = ConcurrencyController(parameters: parameters())
        for _ in 0..<4 { band.succeeded(utilization: 78.5, now: 0) }
        #expect(band.limit == 4)
        // Growth is at most one slot per success (doubling per round trip).
        var empty = ConcurrencyController(parameters: parameters())
        for _ in 0..<4 { empty.succeeded(utilization: 2, now: 0) }
        #expect(empty.limit == 8)
    }

    @Test func smoothsReadings() throws {
        var parameters = parameters()
        parameters.smoothing = 1
        var controller = ConcurrencyController(parameters: parameters)
        controller.observe(utilization: 70, now: 0)
        #expect(controller.smoothedHint(now: 0) == 70)
        // One noisy reading 0.1 s later moves the average by about a tenth of the jump.
        controller.observe(utilization: 95, now: 0.1)
        let smoothed = try #require(controller.smoothedHint(now: 0.1))
        #expect(smoothed > 72 && smoothed < 73)
        #expect(controller.limit == 4, "a single spike over the target does not cut the limit")
        #expect(controller.currentHint(now: 0.1) == 95)
    }

    @Test func decreasesAtMostOncePerRoundTrip() {
        var controller = ConcurrencyController(parameters: parameters())
        controller.succeeded(utilization: 60, now: 0, latency: 3)
        #expect(controller.roundTrip == 3)
        #expect(controller.effectiveCooldown == 3)
        let before = controller.limit
        controller.succeeded(utilization: 100, now: 10)
        #expect(controller.limit == before * 0.8)
        controller.succeeded(utilization: 100, now: 12)  // 2 s later: inside the round trip
        #expect(controller.limit == before * 0.8)
        controller.succeeded(utilization: 100, now: 13.5)
        #expect(abs(controller.limit - before * 0.64) < 1e-9)
        // A call that started before the last decrease (at 13.5) does not make it grow.
        let cut = controller.limit
        controller.succeeded(utilization: 50, now: 14, latency: 3)
        #expect(controller.limit == cut)
        controller.succeeded(utilization: 50, now: 17, latency: 3)
        #expect(controller.limit > cut)
        // The round trip only lengthens the cooldown up to the hint's maximum age.
        controller.succeeded(utilization: 60, now: 18, latency: 1000)
        #expect(controller.effectiveCooldown == controller.parameters.hintMaxAge)
    }

    @Test func throttlePausesHalvesAndRemembersCeiling() {
        var controller = ConcurrencyController(parameters: parameters())
        controller.throttled(retryAfter: 2, now: 10)
        #expect(controller.limit == 2)
        #expect(controller.ceiling == 4)
        #expect(controller.allowed(inFlight: 0, now: 11) == 0)
        // After the retry-after the limit re-opens over one round trip (here the 1 s cooldown).
        #expect(controller.allowed(inFlight: 0, now: 12) == 1)
        #expect(controller.allowed(inFlight: 0, now: 12.5) == 2)
        // A burst of 429s from requests already in flight counts once.
        controller.throttled(retryAfter: 2, now: 10.2)
        #expect(controller.limit == 2)
        #expect(controller.limit >= 1)
    }

    @Test func repeated429sOnReEntryLengthenThePause() {
        var controller = ConcurrencyController(parameters: parameters())  // cooldown (≈ round trip) 1 s
        controller.throttled(retryAfter: 0.2, now: 10)
        #expect(controller.pausedUntil == 10.2)
        // Another 429 from a call already in flight: same pause, no streak.
        controller.throttled(retryAfter: 0.2, now: 10.05)
        #expect(controller.throttleStreak == 0)
        // A 429 on a call started after the pause: + half a round trip, then doubled, at most two.
        controller.throttled(retryAfter: 0.2, now: 10.3)
        #expect(controller.throttleStreak == 1)
        #expect(abs(controller.pausedUntil - 11.0) < 1e-9)
        controller.throttled(retryAfter: 0.2, now: 11.1)
        #expect(abs(controller.pausedUntil - 12.3) < 1e-9)
        controller.throttled(retryAfter: 0.2, now: 12.4)
        #expect(abs(controller.pausedUntil - 14.6) < 1e-9)
        // Long after: the streak starts over.
        controller.throttled(retryAfter: 0.2, now: 30)
        #expect(controller.throttleStreak == 0)
        #expect(abs(controller.pausedUntil - 30.2) < 1e-9)
    }

    @Test func staleHintIsUnknown() {
        var controller = ConcurrencyController(parameters: parameters())
        controller.observe(utilization: 79, now: 0)
        #expect(controller.currentHint(now: 1) == 79)
        #expect(controller.currentHint(now: 100) == nil)
        #expect(controller.allowed(inFlight: 0, now: 100) == 4)
    }

    @Test func saturatedHintStopsNewRequests() {
        var controller = ConcurrencyController(parameters: parameters())
        controller.observe(utilization: 120, now: 0)
        #expect(controller.allowed(inFlight: 0, now: 0.1) == 0)
    }

    @Test func holdsNewStartsHalfWayBetweenTargetAndFull() {
        var controller = ConcurrencyController(parameters: parameters())
        #expect(controller.holdPercent == 90)
        controller.observe(utilization: 91, now: 0)
        let cut = controller.limit
        #expect(controller.allowed(inFlight: 0, now: 0.1) == 0)
        controller.observe(utilization: 70, now: 2)
        #expect(controller.allowed(inFlight: 0, now: 2) == Int(cut.rounded(.down)))
    }

    @Test func staysWithinBounds() {
        var controller = ConcurrencyController(parameters: parameters())
        for step in 0..<50 { controller.throttled(retryAfter: 0, now: Double(step) * 2) }
        #expect(controller.limit == 1)
        for _ in 0..<10_000 { controller.succeeded(utilization: nil, now: 200) }
        #expect(controller.limit == 32)
    }
}

@Suite struct BackoffAndJobsTests {
    @Test func backoffHonorsRetryAfterWithBoundedJitter() {
        let backoff = RetryBackoff(base: 0.5, cap: 60)
        #expect(backoff.delay(attempt: 1, retryAfter: 2, random: 0) == 2)
        #expect(backoff.delay(attempt: 1, retryAfter: 2, random: 1) == 2.4)
        #expect(backoff.delay(attempt: 1, retryAfter: 30, random: 1) == 31)
        #expect(backoff.delay(attempt: 3, retryAfter: nil, random: 1) == 2)
        #expect(backoff.delay(attempt: 40, retryAfter: nil, random: 1) == 60)
        #expect(backoff.delay(attempt: 3, retryAfter: nil, random: 0) == 0)
    }

    @Test func jobOutcomes() {
        let backoff = RetryBackoff()
        #expect(JobOutcome.decide(status: 200, attempts: 1, maxAttempts: 3, retryAfter: nil, backoff: backoff, random: 0) == .succeed)
        #expect(JobOutcome.decide(status: 429, attempts: 9, maxAttempts: 3, retryAfter: 1.5, backoff: backoff, random: 0) == .retry(after: 1.5))
        #expect(JobOutcome.decide(status: 503, attempts: 1, maxAttempts: 3, retryAfter: nil, backoff: backoff, random: 1) == .retry(after: 0.5))
        #expect(JobOutcome.decide(status: 503, attempts: 3, maxAttempts: 3, retryAfter: nil, backoff: backoff, random: 1) == .fail("backend answered 503 on 3 attempts"))
        #expect(JobOutcome.decide(status: nil, attempts: 3, maxAttempts: 3, retryAfter: nil, backoff: backoff, random: 1) == .fail("backend unreachable on 3 attempts"))
        #expect(JobOutcome.decide(status: 400, attempts: 1, maxAttempts: 3, retryAfter: nil, backoff: backoff, random: 1) == .fail("backend answered 400"))
    }

    @Test func stateMachine() {
        #expect(JobStatus.queued.canTransition(to: .dispatched))
        #expect(JobStatus.dispatched.canTransition(to: .dispatched))
        #expect(!JobStatus.succeeded.canTransition(to: .queued))
        #expect(!JobStatus.dispatched.canTransition(to: .cancelled))
        #expect(JobStatus.allCases.filter(\.isTerminal) == [.succeeded, .failed, .expired, .cancelled])
    }
}

@Suite struct StreamAccountingTests {
    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func splitterKeepsEveryByteAcrossPushes() {
        let stream = "data: {\"a\":1}\n\ndata: {\"b\":2}\r\n\r\nevent: x\ndata: [DONE]\n\n"
        var splitter = SSEEventSplitter()
        var events: [[UInt8]] = []
        for byte in bytes(stream) { events += splitter.push([byte]) }
        #expect(events.count == 3)
        #expect(events.flatMap { $0 } == bytes(stream))
        #expect(SSEEvent(bytes: events[2]).name == "x")
        #expect(SSEEvent(bytes: events[2]).data == "[DONE]")
    }

    @Test func eventFieldsWithCRLFCommentsAndSeveralDataLines() {
        let event = SSEEvent(bytes: bytes(": keep-alive\r\nevent: update\r\ndata: {\"a\":\r\ndata:1}\r\nid: 7\r\ndata\r\n\r\n"))
        #expect(event.name == "update")
        #expect(event.data == "{\"a\":\n1}\n")
        #expect(event.dataLines == 3)
        #expect(SSEEvent(bytes: bytes(": only a comment\n\n")).data == nil)
        #expect(SSEEvent(bytes: bytes("data:  two spaces\n\n")).data == " two spaces")
    }

    @Test func insertsIncludeUsageWithoutTouchingOtherBytes() throws {
        let body = bytes(#"{"messages":[{"role":"user","content":"hi"}],"stream":true,"temperature":0.7}"#)
        let edited = try #require(StreamOptions.requestingUsage(body))
        #expect(String(decoding: edited, as: UTF8.self) == #"{"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}],"stream":true,"temperature":0.7}"#)
        let existing = bytes(#"{"stream":true,"stream_options":{"include_usage":false}}"#)
        let rewritten = try #require(StreamOptions.requestingUsage(existing))
        let inspected = try #require(StreamOptions.inspect(rewritten))
        #expect(inspected.includeUsage)
        #expect(StreamOptions.inspect(bytes("[1]")) == nil)
    }

    @Test func inspectsRequestsWithoutParsingThemWhole() throws {
        func inspect(_ text: String) -> StreamOptions.Request? { StreamOptions.inspect(bytes(text)) }
        #expect(inspect(#"{"messages":[{"role":"user","content":"a \"stream\": true }"}],"stream":true}"#)
            == .init(stream: true, includeUsage: false, model: nil))
        #expect(inspect(#" { "stream" : false , "stream_options" : { "include_usage" : true } , "model" : "gpt-4o" } "#)
            == .init(stream: false, includeUsage: true, model: "gpt-4o"))
        #expect(inspect(#"{"model":"a\/b\u00e9","stream_options":{"x":[1,{"include_usage":false}],"include_usage":false}}"#)
            == .init(stream: false, includeUsage: false, model: "a/bé"))
        #expect(inspect("{}") == .init(stream: false, includeUsage: false, model: nil))
        for bad in ["", "[1]", "{", #"{"a":1"#, #"{"a":1}x"#, #"{"a" 1}"#, #"{"a":}"#, "nope"] {
            #expect(inspect(bad) == nil, "\(bad)")
        }
        // A body that already has stream_options is rewritten through a parse; one without is edited in place.
        let edited = try #require(StreamOptions.requestingUsage(bytes(#"{ "stream":true }"#)))
        #expect(String(decoding: edited, as: UTF8.self) == #"{"stream_options":{"include_usage":true}, "stream":true }"#)
    }

    @Test func removesNullUsageMember() {
        func edit(_ text: String) -> String? {
            StreamOptions.removingNullMember("usage", from: bytes(text)).map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(edit(#"{"a":1,"usage":null,"b":{"usage":null}}"#) == #"{"a":1,"b":{"usage":null}}"#)
        #expect(edit(#"{"a":"x\"usage\":null","usage":null}"#) == #"{"a":"x\"usage\":null"}"#)
        #expect(edit(#"{"usage":null}"#) == "{}")
        #expect(edit(#"{"usage": null, "a":[1,{"b":2}]}"#) == #"{"a":[1,{"b":2}]}"#)
        #expect(edit(#"{"usage":{"x":1}}"#) == nil)
        #expect(edit(#"{"a":{"usage":null}}"#) == nil)
    }

    @Test func hidesInjectedUsageAndCountsDeltas() {
        var accountant = StreamAccountant(hideUsage: true)
        let chunk = "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"},\"index\":0}],\"id\":\"c\",\"usage\":null}\n\n"
        let usage = "data: {\"choices\":[],\"id\":\"c\",\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,\"total_tokens\":9,\"prompt_tokens_details\":{\"cached_tokens\":3}}}\n\n"
        let out = accountant.process(bytes(chunk))
        #expect(out.map { String(decoding: $0, as: UTF8.self) } == "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"},\"index\":0}],\"id\":\"c\"}\n\n")
        #expect(accountant.process(bytes(usage)) == nil)
        #expect(accountant.process(bytes("data: [DONE]\n\n")) == bytes("data: [DONE]\n\n"))
        #expect(accountant.completionText == "Hello")
        #expect(accountant.reportedUsage?.promptTokens == 7)
        #expect(accountant.reportedUsage?.completionTokens == 2)
        #expect(accountant.reportedUsage?.cachedTokens == 3)
        #expect(accountant.finished)

        var visible = StreamAccountant(hideUsage: false)
        #expect(visible.process(bytes(chunk)) == bytes(chunk))
        #expect(visible.process(bytes(usage)) == bytes(usage))
    }

    @Test func readsResponsesAPIEvents() {
        var accountant = StreamAccountant(hideUsage: false)
        _ = accountant.process(bytes("event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi there\"}\n\n"))
        _ = accountant.process(bytes("event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":2,\"output_tokens_details\":{\"reasoning_tokens\":1}}}}\n\n"))
        #expect(accountant.completionText == "Hi there")
        #expect(accountant.reportedUsage?.promptTokens == 5)
        #expect(accountant.reportedUsage?.reasoningTokens == 1)
    }
}

@Suite struct CoarseGateInControllerTests {
    @Test func coarseFigureHoldsGrowthAndUnknownDoesNot() {
        var parameters = ConcurrencyController.Parameters(targetPercent: 80)
        parameters.initial = 4
        parameters.coarseMaxAge = 100
        var controller = ConcurrencyController(parameters: parameters)
        controller.recordCoarse(percent: nil, now: 0)
        controller.succeeded(utilization: nil, now: 0)
        #expect(controller.limit > 4, "unknown never blocks (nor opens) anything")
        let before = controller.limit
        controller.recordCoarse(percent: 85, now: 1)
        controller.succeeded(utilization: nil, now: 2)
        #expect(controller.limit == before)
        controller.recordCoarse(percent: 100, now: 3)
        #expect(controller.allowed(inFlight: 0, now: 4) == 0)
        // Stale: unknown again.
        #expect(controller.allowed(inFlight: 0, now: 500) == 4)
    }
}
