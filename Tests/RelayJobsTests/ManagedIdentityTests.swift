import AsyncHTTPClient
import Foundation
import GatewayModel
@testable import GatewayRuntime
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing
import UsageAccounting

// Managed identity and the Azure Monitor coarse gate, offline. Neither the managed-identity
// endpoints (App Service/Container Apps `IDENTITY_ENDPOINT`, VM IMDS at 169.254.169.254) nor the
// Metrics REST API exist on a developer machine or in CI, so these tests run a loopback HTTP server
// that speaks the documented protocols and inject its URL; that is the only way to test this offline.

/// One request the fake Azure saw.
struct SeenRequest: Sendable {
    var path: String
    var query: [String: String]
    var headers: [String: String]
}

/// A loopback server standing in for the managed-identity endpoints, ARM's Metrics API and an
/// Azure OpenAI deployment.
final class FakeAzure: Sendable {
    let seen = Mutex<[SeenRequest]>([])
    /// Metrics answer body (JSON) and status.
    let metrics = Mutex<(status: Int, body: String)>((200, #"{"value":[]}"#))
    /// Status of the token endpoints (200: a token).
    let tokenStatus = Mutex(200)
    let tokenCounter = Mutex(0)
    static let identityHeader = "secret-identity-header-value"

    func requests(_ path: String) -> [SeenRequest] { seen.withLock { $0.filter { $0.path == path } } }

    func record(_ request: Request) -> SeenRequest {
        var query: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { query[String(key)] = String(value) }
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let seenRequest = SeenRequest(path: request.uri.path, query: query, headers: headers)
        seen.withLock { $0.append(seenRequest) }
        return seenRequest
    }

    func tokenResponse(expiresInField: Bool) -> Response {
        let status = tokenStatus.withLock { $0 }
        guard status == 200 else {
            return Response(status: .init(code: status), body: .init(byteBuffer: ByteBuffer(string: #"{"error":"invalid_request"}"#)))
        }
        let number = tokenCounter.withLock { value -> Int in value += 1; return value }
        let expires = Int(Date().timeIntervalSince1970) + 3600
        // App Service (2019-08-01) answers expires_on in seconds since 1970; IMDS adds expires_in.
        let body = expiresInField
            ? #"{"access_token":"imds-token-\#(number)","expires_in":"3599","expires_on":"\#(expires)","token_type":"Bearer","resource":"r"}"#
            : #"{"access_token":"app-token-\#(number)","expires_on":"\#(expires)","token_type":"Bearer","resource":"r","client_id":"c"}"#
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/msi/token") { request, _ -> Response in
            let seen = self.record(request)
            guard seen.headers["x-identity-header"] == Self.identityHeader, seen.query["api-version"] == "2019-08-01",
                seen.query["resource"] != nil
            else { return Response(status: .badRequest) }
            return self.tokenResponse(expiresInField: false)
        }
        router.get("/metadata/identity/oauth2/token") { request, _ -> Response in
            let seen = self.record(request)
            guard seen.headers["metadata"] == "true", seen.query["api-version"] == "2018-02-01", seen.query["resource"] != nil else {
                return Response(status: .badRequest)
            }
            return self.tokenResponse(expiresInField: true)
        }
        router.get("/subscriptions/{rest}/**") { request, _ -> Response in
            _ = self.record(request)
            let (status, body) = self.metrics.withLock { $0 }
            return Response(status: .init(code: status), body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        router.post("/openai/deployments/{name}/chat/completions") { request, _ -> Response in
            _ = self.record(request)
            let body = #"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":2,"total_tokens":13}}"#
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        return router
    }
}

func withFakeAzure<T>(_ fake: FakeAzure, _ body: (Int) async throws -> T) async throws -> T {
    var logger = Logger(label: "fake-azure")
    logger.logLevel = .warning
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let app = Application(
        router: fake.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
    let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
    let task = Task { try await group.run() }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else { throw CancellationError() }
    defer { task.cancel() }
    do {
        let result = try await body(port)
        await group.triggerGracefulShutdown()
        return result
    } catch {
        await group.triggerGracefulShutdown()
        throw error
    }
}

@Suite struct ManagedIdentityTests {
    @Test func detectsTheProtocolFromTheEnvironment() {
        #expect(ManagedIdentityEndpoint.detect(environment: [:]) == .imds())
        #expect(ManagedIdentityEndpoint.detect(environment: ["IDENTITY_ENDPOINT": "http://x/msi/token"]) == .imds())
        #expect(
            ManagedIdentityEndpoint.detect(environment: ["IDENTITY_ENDPOINT": "http://x/msi/token", "IDENTITY_HEADER": "h"])
                == .appService(endpoint: "http://x/msi/token", header: "h"))
        #expect(ManagedIdentityEndpoint.detect(environment: ["TOLLGATE_IMDS_ENDPOINT": "http://y/t"]) == .imds(endpoint: "http://y/t"))
    }

    @Test func appServiceProtocolAndCache() async throws {
        let fake = FakeAzure()
        try await withFakeAzure(fake) { port in
            let clock = Mutex(Date())
            let provider = ManagedIdentityTokenProvider(
                endpoint: .appService(endpoint: "http://127.0.0.1:\(port)/msi/token", header: FakeAzure.identityHeader),
                clientId: "11111111-2222-3333-4444-555555555555", client: httpClient, now: { clock.withLock { $0 } })
            let first = try await provider.token(resource: "https://management.azure.com/")
            #expect(first == "app-token-1")
            // Cached: no second request, also for concurrent callers.
            async let a = provider.token(resource: "https://management.azure.com/")
            async let b = provider.token(resource: "https://management.azure.com/")
            #expect(try await [a, b] == ["app-token-1", "app-token-1"])
            #expect(fake.requests("/msi/token").count == 1)
            let seen = try #require(fake.requests("/msi/token").first)
            #expect(seen.query["resource"] == "https://management.azure.com/")
            #expect(seen.query["client_id"] == "11111111-2222-3333-4444-555555555555")
            // Another resource is another token.
            #expect(try await provider.token(resource: "https://cognitiveservices.azure.com") == "app-token-2")
            // Shortly before expires_on (inside the 5-minute margin) it is fetched again.
            clock.withLock { $0 = $0.addingTimeInterval(3600 - 200) }
            #expect(try await provider.token(resource: "https://management.azure.com/") == "app-token-3")
            #expect(fake.requests("/msi/token").count == 3)
        }
    }

    @Test func imdsProtocolAndErrors() async throws {
        let fake = FakeAzure()
        try await withFakeAzure(fake) { port in
            let provider = ManagedIdentityTokenProvider(
                endpoint: .imds(endpoint: "http://127.0.0.1:\(port)/metadata/identity/oauth2/token"), client: httpClient)
            fake.tokenStatus.withLock { $0 = 400 }
            await #expect(throws: ManagedIdentityError.self) { try await provider.token(resource: "https://management.azure.com/") }
            // A failure is not cached.
            fake.tokenStatus.withLock { $0 = 200 }
            #expect(try await provider.token(resource: "https://management.azure.com/") == "imds-token-1")
            let seen = try #require(fake.requests("/metadata/identity/oauth2/token").last)
            #expect(seen.headers["metadata"] == "true")
            #expect(seen.query["client_id"] == nil)
            // Unreachable endpoint: an error whose message names neither token nor secret.
            let dead = ManagedIdentityTokenProvider(
                endpoint: .appService(endpoint: "http://127.0.0.1:1/msi/token", header: FakeAzure.identityHeader), client: httpClient,
                timeoutSeconds: 1)
            do {
                _ = try await dead.token(resource: "r")
                Issue.record("expected an error")
            } catch {
                #expect(!"\(error)".contains(FakeAzure.identityHeader))
            }
        }
    }

    @Test func parsesExpiryForms() throws {
        let now = Date(timeIntervalSince1970: 1_000_000)
        let onSeconds = try ManagedIdentityTokenProvider.parse(Data(#"{"access_token":"t","expires_on":"1003600"}"#.utf8), now: now)
        #expect(onSeconds.expiresOn == Date(timeIntervalSince1970: 1_003_600))
        let onNumber = try ManagedIdentityTokenProvider.parse(Data(#"{"access_token":"t","expires_on":1003600}"#.utf8), now: now)
        #expect(onNumber.expiresOn == Date(timeIntervalSince1970: 1_003_600))
        let inOnly = try ManagedIdentityTokenProvider.parse(Data(#"{"access_token":"t","expires_in":"600"}"#.utf8), now: now)
        #expect(inOnly.expiresOn == now.addingTimeInterval(600))
        #expect(throws: ManagedIdentityError.self) { try ManagedIdentityTokenProvider.parse(Data(#"{"expires_in":1}"#.utf8), now: now) }
        // A 10-minute token is refreshed at half its life at the latest, not on every call.
        #expect(inOnly.usable(at: now.addingTimeInterval(200), margin: 300))
        #expect(!inOnly.usable(at: now.addingTimeInterval(301), margin: 300))
    }
}

@Suite struct CoarseGateWiringTests {
    static let account = "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/a"

    func metricsAnswer(minutesAgo: Double, maximum: Double) -> String {
        let formatter = ISO8601DateFormatter()
        let stamp = formatter.string(from: Date().addingTimeInterval(-minutesAgo * 60))
        let older = formatter.string(from: Date().addingTimeInterval(-(minutesAgo + 1) * 60))
        return """
            {"value":[{"name":{"value":"AzureOpenAIProvisionedManagedUtilizationV2"},"timeseries":[{"data":[
              {"timeStamp":"\(older)","maximum":12.0},{"timeStamp":"\(stamp)","maximum":\(maximum)}]}]}]}
            """
    }

    @Test func settingsPerDeployment() throws {
        let settings = try #require(try AzureMonitorSettings.load(environment: [
            "TOLLGATE_PTU_METRICS_RESOURCE_ID": "subscriptions/s/x/accounts/default/",
            "TOLLGATE_PTU_METRICS_RESOURCE_IDS": "gpt-4o-ptu=/subscriptions/s/x/accounts/ptu, other = /subscriptions/s/x/accounts/o",
            "TOLLGATE_PTU_METRICS_INTERVAL_S": "30", "TOLLGATE_PTU_METRICS_MAX_AGE_S": "240",
        ]))
        #expect(settings.resourceId(for: "gpt-4o-ptu") == "/subscriptions/s/x/accounts/ptu")
        #expect(settings.resourceId(for: "other") == "/subscriptions/s/x/accounts/o")
        #expect(settings.resourceId(for: "third") == "/subscriptions/s/x/accounts/default")
        #expect(settings.interval == 30 && settings.maxAge == 240)
        #expect(throws: ConfigurationError.self) { try AzureMonitorSettings.load(environment: ["TOLLGATE_PTU_METRICS_RESOURCE_IDS": "nope"]) }
        #expect(throws: ConfigurationError.self) {
            try AzureMonitorSettings.load(environment: ["TOLLGATE_PTU_METRICS_RESOURCE_ID": "/x", "TOLLGATE_PTU_METRICS_INTERVAL_S": "-1"])
        }
        #expect(try AzureMonitorSettings.load(environment: [:]) == nil)
    }

    /// Poller → managed identity (IMDS protocol) → Metrics API → the deployment's coarse gate.
    @Test func pollerFeedsTheGateWithAManagedIdentityToken() async throws {
        let fake = FakeAzure()
        try await withFakeAzure(fake) { port in
            var settings = RelaySettings()
            settings.azureMonitor = try AzureMonitorSettings.load(environment: [
                "TOLLGATE_PTU_METRICS_RESOURCE_IDS": "gpt-4o-ptu=\(Self.account)", "TOLLGATE_PTU_METRICS_URL": "http://127.0.0.1:\(port)",
            ])
            let monitor = try #require(settings.azureMonitor)
            let deployment = RuntimeConfigurationDeployment.make(name: "gpt-4o-ptu", target: 80)
            let signals = PTUSignals(deployments: [deployment], settings: settings)
            let identity = ManagedIdentityTokenProvider(
                endpoint: .imds(endpoint: "http://127.0.0.1:\(port)/metadata/identity/oauth2/token"), client: httpClient)
            var logger = Logger(label: "poller")
            logger.logLevel = .critical
            let poller = AzureMonitorPoller(
                settings: monitor, deployments: ["gpt-4o-ptu"], signals: signals, client: httpClient, identity: identity, logger: logger)

            // No data yet: unknown.
            await poller.poll()
            #expect(signals.update("gpt-4o-ptu") { controller, now in controller.coarse.decision(now: now) } == .unknown)
            let query = try #require(fake.seen.withLock { $0.last(where: { $0.path.hasPrefix("/subscriptions/") }) })
            #expect(query.path == Self.account + "/providers/Microsoft.Insights/metrics")
            #expect(query.headers["authorization"] == "Bearer imds-token-1")
            #expect(query.query["metricnames"] == "AzureOpenAIProvisionedManagedUtilizationV2")
            #expect(query.query["aggregation"] == "Maximum")
            #expect(query.query["interval"] == "PT1M")
            #expect(query.query["$filter"] == "ModelDeploymentName eq 'gpt-4o-ptu'")
            #expect(fake.requests("/metadata/identity/oauth2/token").first?.query["resource"] == "https://management.azure.com/")

            // A fresh point (2 minutes old, the usual lag) above 100%: saturated, nothing starts.
            fake.metrics.withLock { $0 = (200, metricsAnswer(minutesAgo: 2, maximum: 104)) }
            await poller.poll()
            #expect(signals.update("gpt-4o-ptu") { controller, now in controller.coarse.decision(now: now) } == .saturated(104))
            #expect(signals.update("gpt-4o-ptu") { controller, now in controller.allowed(inFlight: 0, now: now) } == 0)
            #expect(fake.requests("/metadata/identity/oauth2/token").count == 1, "token cached between polls")

            // A stale point (20 minutes old, e.g. the metric stopped flowing) is unknown, not "go" and not its value.
            let stale = PTUSignals(deployments: [deployment], settings: settings)
            let stalePoller = AzureMonitorPoller(
                settings: monitor, deployments: ["gpt-4o-ptu"], signals: stale, client: httpClient, identity: identity, logger: logger)
            fake.metrics.withLock { $0 = (200, metricsAnswer(minutesAgo: 20, maximum: 104)) }
            await stalePoller.poll()
            #expect(stale.update("gpt-4o-ptu") { controller, now in controller.coarse.decision(now: now) } == .unknown)

            // A failed query records nothing.
            fake.metrics.withLock { $0 = (500, "{}") }
            await stalePoller.poll()
            #expect(stale.update("gpt-4o-ptu") { controller, now in controller.coarse.decision(now: now) } == .unknown)
        }
    }

    /// Batch calls carry a managed-identity bearer token for Azure OpenAI when configured.
    @Test func batchCallsUseTheManagedIdentity() async throws {
        let fake = FakeAzure()
        try await withFakeAzure(fake) { port in
            var settings = try RelaySettings.load(environment: [
                "IDENTITY_ENDPOINT": "http://127.0.0.1:\(port)/msi/token", "IDENTITY_HEADER": FakeAzure.identityHeader,
                "TOLLGATE_BACKEND_MANAGED_IDENTITY": "on", "TOLLGATE_DISPATCH_POLL_MS": "20",
            ])
            settings.replicaId = "mi-test"
            #expect(throws: ConfigurationError.self) {
                try RelaySettings.load(environment: ["TOLLGATE_BACKEND_MANAGED_IDENTITY": "on", "TOLLGATE_BACKEND_API_KEY": "k"])
            }
            // The generated Container App sets AZURE_CLIENT_ID; the Tollgate variable wins when both are set.
            #expect(try RelaySettings.load(environment: ["AZURE_CLIENT_ID": "from-azure"]).managedIdentityClientId == "from-azure")
            #expect(try RelaySettings.load(environment: ["AZURE_CLIENT_ID": "from-azure", "TOLLGATE_MANAGED_IDENTITY_CLIENT_ID": "mine"])
                .managedIdentityClientId == "mine")
            #expect(try RelaySettings.load(environment: [:]).managedIdentityClientId == nil)
            var configuration = try runtimeConfiguration(simulatorPort: port, ptuName: "gpt-4o-ptu-mi")
            configuration.deployments = configuration.deployments.map {
                var copy = $0
                copy.endpoint = "http://127.0.0.1:\(port)/openai"
                return copy
            }
            try await withRuntime(configuration: configuration, tokenCounter: nil, relaySettings: settings) { runtimePort, _ in
                for index in 0..<3 {
                    let result = try await send(
                        "http://127.0.0.1:\(runtimePort)/v1/jobs",
                        json: ["deployment": "gpt-4o-ptu-mi", "product": "team-a", "request": chatRequest(salt: "mi\(index)")])
                    #expect(result.status == 202)
                }
                let done = try await eventually(seconds: 20) {
                    let list = try await send(.GET, "http://127.0.0.1:\(runtimePort)/v1/jobs?deployment=gpt-4o-ptu-mi").json
                    return (list?["counts"] as? [String: Int])?["succeeded"] == 3
                }
                #expect(done)
                let calls = fake.requests("/openai/deployments/gpt-4o-ptu-mi/chat/completions")
                #expect(calls.count == 3)
                #expect(calls.allSatisfy { $0.headers["authorization"] == "Bearer app-token-1" && $0.headers["api-key"] == nil })
                let tokenRequests = fake.requests("/msi/token")
                #expect(tokenRequests.count == 1)
                #expect(tokenRequests.first?.query["resource"] == "https://cognitiveservices.azure.com")
            }
        }
    }
}

enum RuntimeConfigurationDeployment {
    static func make(name: String, target: Int) -> GatewayModel.RuntimeConfiguration.DeploymentConfiguration {
        .init(name: name, model: "gpt-4o", sku: "ProvisionedManaged", capacity: 50, endpoint: "http://127.0.0.1:1/openai", targetUtilizationPercent: target)
    }
}
