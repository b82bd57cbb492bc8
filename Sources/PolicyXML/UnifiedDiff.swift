/// A line-based diff (Myers' O(ND) algorithm) and its rendering as a unified diff.
public enum UnifiedDiff {
    /// One step of an edit script.
    public enum Edit: Sendable, Hashable {
        /// Line `old` of the old text equals line `new` of the new text.
        case equal(old: Int, new: Int)
        /// Line `old` of the old text is deleted.
        case delete(old: Int)
        /// Line `new` of the new text is inserted.
        case insert(new: Int)
    }

    /// A shortest edit script turning `old` into `new`.
    public static func edits<Line: Equatable>(old: [Line], new: [Line]) -> [Edit] {
        // Strip the common prefix and suffix first: most diffs are small changes in large files.
        var prefix = 0
        while prefix < old.count && prefix < new.count && old[prefix] == new[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < old.count - prefix && suffix < new.count - prefix
            && old[old.count - 1 - suffix] == new[new.count - 1 - suffix]
        {
            suffix += 1
        }
        var script: [Edit] = (0..<prefix).map { .equal(old: $0, new: $0) }
        let a = Array(old[prefix..<(old.count - suffix)])
        let b = Array(new[prefix..<(new.count - suffix)])
        for edit in myers(a, b) {
            switch edit {
            case .equal(let i, let j): script.append(.equal(old: i + prefix, new: j + prefix))
            case .delete(let i): script.append(.delete(old: i + prefix))
            case .insert(let j): script.append(.insert(new: j + prefix))
            }
        }
        for k in 0..<suffix { script.append(.equal(old: old.count - suffix + k, new: new.count - suffix + k)) }
        return script
    }

    private static func myers<Line: Equatable>(_ a: [Line], _ b: [Line]) -> [Edit] {
        let n = a.count
        let m = b.count
        if n == 0 { return (0..<m).map { .insert(new: $0) } }
        if m == 0 { return (0..<n).map { .delete(old: $0) } }
        let maxD = n + m
        let offset = maxD + 1
        var v = [Int](repeating: 0, count: 2 * maxD + 3)
        // Frontier snapshots for the backtrack: snapshot d covers diagonals -d-1...d+1 only, so memory
        // is O(D²); past `limit` edits the texts are too different to be worth a minimal script.
        var trace: [[Int]] = []
        let limit = 1_500
        var finalD = 0
        search: for d in 0...maxD {
            if d > limit {
                return (0..<n).map { .delete(old: $0) } + (0..<m).map { .insert(new: $0) }
            }
            trace.append(Array(v[(offset - d - 1)...(offset + d + 1)]))
            for k in stride(from: -d, through: d, by: 2) {
                var x: Int
                if k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1]) {
                    x = v[offset + k + 1]
                } else {
                    x = v[offset + k - 1] + 1
                }
                var y = x - k
                while x < n && y < m && a[x] == b[y] {
                    x += 1
                    y += 1
                }
                v[offset + k] = x
                if x >= n && y >= m {
                    finalD = d
                    break search
                }
            }
        }
        // Backtrack through the saved frontiers.
        var script: [Edit] = []
        var x = n
        var y = m
        for d in stride(from: finalD, to: 0, by: -1) {
            let frontier = trace[d]
            let local = d + 1
            let k = x - y
            let previousK: Int
            if k == -d || (k != d && frontier[local + k - 1] < frontier[local + k + 1]) {
                previousK = k + 1
            } else {
                previousK = k - 1
            }
            let previousX = frontier[local + previousK]
            let previousY = previousX - previousK
            while x > previousX && y > previousY {
                x -= 1
                y -= 1
                script.append(.equal(old: x, new: y))
            }
            if x == previousX {
                y -= 1
                script.append(.insert(new: y))
            } else {
                x -= 1
                script.append(.delete(old: x))
            }
        }
        while x > 0 && y > 0 {
            x -= 1
            y -= 1
            script.append(.equal(old: x, new: y))
        }
        return script.reversed()
    }

    /// The lines of a text; a text that does not end with a newline gets the usual marker line.
    public static func lines(_ text: String) -> [Substring] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" {
            lines.removeLast()
        } else if !lines.isEmpty {
            lines.append("\\ No newline at end of file")
        }
        return lines
    }

    /// A unified diff (`---`/`+++` header, `@@` hunks with `context` lines around changes), or an
    /// empty string when the texts are equal. With `color`, ANSI colours for a terminal.
    public static func render(
        old: String, new: String, oldName: String, newName: String, context: Int = 3, color: Bool = false
    ) -> String {
        let a = lines(old)
        let b = lines(new)
        let script = edits(old: a, new: b)
        guard script.contains(where: { if case .equal = $0 { false } else { true } }) else { return "" }
        let red = color ? "\u{1B}[31m" : ""
        let green = color ? "\u{1B}[32m" : ""
        let cyan = color ? "\u{1B}[36m" : ""
        let bold = color ? "\u{1B}[1m" : ""
        let reset = color ? "\u{1B}[0m" : ""
        var output = "\(bold)--- \(oldName)\(reset)\n\(bold)+++ \(newName)\(reset)\n"
        // Group changes into hunks separated by more than 2 * context equal lines.
        var index = 0
        while index < script.count {
            guard let firstChange = script[index...].firstIndex(where: { if case .equal = $0 { false } else { true } }) else {
                break
            }
            let start = max(index, firstChange - context)
            var end = firstChange
            var lastChange = firstChange
            while end < script.count {
                if case .equal = script[end] {
                    if end - lastChange > 2 * context { break }
                } else {
                    lastChange = end
                }
                end += 1
            }
            let stop = min(script.count, lastChange + context + 1)
            let hunk = script[start..<stop]
            var oldStart = 0
            var newStart = 0
            var oldCount = 0
            var newCount = 0
            var body = ""
            for edit in hunk {
                switch edit {
                case .equal(let i, let j):
                    if oldCount == 0 && newCount == 0 { oldStart = i + 1; newStart = j + 1 }
                    oldCount += 1
                    newCount += 1
                    body += " \(a[i])\n"
                case .delete(let i):
                    if oldCount == 0 && newCount == 0 { oldStart = i + 1; newStart = position(of: edit, in: script, at: start) }
                    oldCount += 1
                    body += "\(red)-\(a[i])\(reset)\n"
                case .insert(let j):
                    if oldCount == 0 && newCount == 0 { newStart = j + 1; oldStart = position(of: edit, in: script, at: start) }
                    newCount += 1
                    body += "\(green)+\(b[j])\(reset)\n"
                }
            }
            if oldCount == 0 { oldStart -= 1 }
            if newCount == 0 { newStart -= 1 }
            output += "\(cyan)@@ -\(range(oldStart, oldCount)) +\(range(newStart, newCount)) @@\(reset)\n" + body
            index = stop
        }
        return output
    }

    private static func range(_ start: Int, _ count: Int) -> String {
        count == 1 ? "\(start)" : "\(start),\(count)"
    }

    /// For a hunk that starts with a change on one side, the 1-based line on the other side where it applies.
    private static func position(of edit: Edit, in script: [Edit], at index: Int) -> Int {
        var old = 0
        var new = 0
        for step in script[..<index] {
            switch step {
            case .equal: old += 1; new += 1
            case .delete: old += 1
            case .insert: new += 1
            }
        }
        if case .delete = edit { return new + 1 }
        return old + 1
    }
}
