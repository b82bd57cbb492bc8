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
        controller.succeeded(utilization: 77, now: 0)
        #expect(controller.limit == 4)
        controller.succeeded(utilization: 100, now: 2)
        #expect(controller.limit == 3.2)  // × 80/100
        // Within the cooldown a second reading over target changes nothing.
        controller.succeeded(utilization: 160, now: 2.5)
        #expect(controller.limit == 3.2)
        // Below target minus the dead band it grows again.
        controller.succeeded(utilization: 40, now: 4)
        #expect(controller.limit > 3.2)
    }

    @Test func throttlePausesHalvesAndRemembersCeiling() {
        var controller = ConcurrencyController(parameters: parameters())
        controller.throttled(retryAfter: 2, now: 10)
        #expect(controller.limit == 2)
        #expect(controller.ceiling == 4)
        #expect(controller.allowed(inFlight: 0, now: 11) == 0)
        #expect(controller.allowed(inFlight: 0, now: 12) == 2)
        // A burst of 429s from requests already in flight counts once.
        controller.throttled(retryAfter: 2, now: 10.2)
        #expect(controller.limit == 2)
        #expect(controller.limit >= 1)
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
        #expect(accountant.reportedUsage?.prompt == 7)
        #expect(accountant.reportedUsage?.completion == 2)
        #expect(accountant.reportedUsage?.cached == 3)
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
        #expect(accountant.reportedUsage?.prompt == 5)
        #expect(accountant.reportedUsage?.reasoning == 1)
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
