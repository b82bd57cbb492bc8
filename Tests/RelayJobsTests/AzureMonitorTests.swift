import Foundation
@testable import GatewayRuntime
import Testing

@Suite struct AzureMonitorGateTests {
    @Test func buildsTheMetricsQuery() throws {
        let settings = try #require(try AzureMonitorSettings.load(environment: [
            "TOLLGATE_PTU_METRICS_RESOURCE_ID": "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/a",
            "TOLLGATE_PTU_METRICS_URL": "https://management.azure.com/",
        ]))
        let url = try #require(AzureMonitorPoller.queryURL(
            settings: settings, deployment: "gpt-4o-ptu", now: Date(timeIntervalSince1970: 1_800_000_000)))
        #expect(url.hasPrefix("https://management.azure.com/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/a/providers/Microsoft.Insights/metrics?"))
        #expect(url.contains("metricnames=AzureOpenAIProvisionedManagedUtilizationV2"))
        #expect(url.contains("aggregation=Maximum"))
        #expect(url.contains("interval=PT1M"))
        #expect(url.removingPercentEncoding?.contains("$filter=ModelDeploymentName eq 'gpt-4o-ptu'") == true)
        #expect(try AzureMonitorSettings.load(environment: [:]) == nil)
    }

    @Test func readsTheNewestMaximumAndTreatsEmptyAsUnknown() {
        let answer = """
            {"value":[{"name":{"value":"AzureOpenAIProvisionedManagedUtilizationV2"},"timeseries":[{"data":[
              {"timeStamp":"2026-11-22T10:00:00Z","maximum":41.5},{"timeStamp":"2026-11-22T10:02:00Z","maximum":77.0},
              {"timeStamp":"2026-11-22T10:03:00Z"}]}]}]}
            """
        #expect(AzureMonitorPoller.latestMaximum(Data(answer.utf8)) == 77)
        #expect(AzureMonitorPoller.latestMaximum(Data(#"{"value":[{"timeseries":[]}]}"#.utf8)) == nil)
        #expect(AzureMonitorPoller.latestMaximum(Data("not json".utf8)) == nil)
    }
}
