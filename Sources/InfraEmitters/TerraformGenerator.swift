import GatewayModel

extension TerraformEmitter {
    static let root = "infrastructure/terraform"

    static func files(for plan: InfraPlan) -> [String: String] {
        [:]
    }
}
