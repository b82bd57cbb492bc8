import GatewayModel

/// The Azure OpenAI data-plane operations every generated API exposes.
struct AzureOpenAIOperation: Sendable, Hashable {
    var id: String
    var displayName: String
    var method: String
    var urlTemplate: String
    var templateParameters: [String]

    static let all: [AzureOpenAIOperation] = [
        .init(id: "chat-completions", displayName: "Chat completions", method: "POST",
              urlTemplate: "/deployments/{deployment-id}/chat/completions", templateParameters: ["deployment-id"]),
        .init(id: "completions", displayName: "Completions", method: "POST",
              urlTemplate: "/deployments/{deployment-id}/completions", templateParameters: ["deployment-id"]),
        .init(id: "embeddings", displayName: "Embeddings", method: "POST",
              urlTemplate: "/deployments/{deployment-id}/embeddings", templateParameters: ["deployment-id"]),
        .init(id: "image-generations", displayName: "Image generations", method: "POST",
              urlTemplate: "/deployments/{deployment-id}/images/generations", templateParameters: ["deployment-id"]),
        .init(id: "audio-transcriptions", displayName: "Audio transcriptions", method: "POST",
              urlTemplate: "/deployments/{deployment-id}/audio/transcriptions", templateParameters: ["deployment-id"]),
        .init(id: "responses-create", displayName: "Create response", method: "POST",
              urlTemplate: "/responses", templateParameters: []),
        .init(id: "responses-get", displayName: "Get response", method: "GET",
              urlTemplate: "/responses/{response-id}", templateParameters: ["response-id"]),
        .init(id: "responses-delete", displayName: "Delete response", method: "DELETE",
              urlTemplate: "/responses/{response-id}", templateParameters: ["response-id"]),
    ]
}

extension PolicyFragment {
    /// Ids of the fragments this fragment includes (directly, in policy order, without duplicates),
    /// so a fragment is deployed after the fragments it includes.
    var includedFragments: [String] {
        var ids: [String] = []
        func visit(_ policies: [PlacedPolicy]) {
            for placed in policies { visit(placed.policy) }
        }
        func visit(_ policy: Policy) {
            switch policy {
            case .includeFragment(let id): if !ids.contains(id) { ids.append(id) }
            case .choose(let whens, let otherwise):
                for when in whens { visit(when.policies) }
                if let otherwise { visit(otherwise) }
            case .retry(_, let nested): visit(nested)
            case .node(let node): visit(node)
            default: break
            }
        }
        func visit(_ node: PolicyNode) {
            if node.name == "include-fragment", let id = node.attributes.first(where: { $0.name == "fragment-id" })?.value,
               !ids.contains(id) {
                ids.append(id)
            }
            for child in node.children { visit(child) }
        }
        visit(policies)
        return ids
    }
}
