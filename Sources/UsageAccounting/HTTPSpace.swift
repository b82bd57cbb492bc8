extension String {
    /// The value without leading and trailing spaces and tabs: HTTP's optional whitespace around a
    /// header value. A byte scan, for the hot paths that read headers on every call.
    public func trimmingHTTPSpace() -> String {
        let bytes = utf8
        guard let first = bytes.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }) else { return "" }
        let last = bytes.lastIndex(where: { $0 != 0x20 && $0 != 0x09 })!
        if first == bytes.startIndex && last == bytes.index(before: bytes.endIndex) { return self }
        return String(self[first...last])
    }
}
