import Testing

@testable import PolicyXML

@Suite struct DiffTests {
    private func tree(_ text: String) throws -> XMLElement { try read(text).root }

    @Test func attributeOrderWhitespaceAndCommentsAreIgnored() throws {
        let old = try tree(
            """
            <policies>
                <inbound>
                    <!-- a comment -->
                    <set-header name="x" exists-action="override">
                        <value>@(context.User.Id)</value>
                    </set-header>
                </inbound>
            </policies>
            """)
        let new = try tree(
            #"<policies><inbound><set-header exists-action="override"   name="x"><value>  @(context.User.Id)</value></set-header></inbound></policies>"#
        )
        #expect(SemanticDiff.compare(old, new).isEmpty)
        #expect(Canonicalizer.canonicalText(old) == Canonicalizer.canonicalText(new))
    }

    @Test func escapedAndRawFormsAreTheSame() throws {
        let raw = try tree(#"<policies><inbound><set-variable name="a" value="@(x["k"] < 1)" /></inbound></policies>"#)
        let escaped = try tree(#"<policies><inbound><set-variable name="a" value="@(x[&quot;k&quot;] &lt; 1)" /></inbound></policies>"#)
        #expect(SemanticDiff.compare(raw, escaped).isEmpty)
    }

    @Test func pathsNameTheChangedPolicy() throws {
        let old = try tree(
            """
            <policies><inbound><choose>
                <when condition="@(a)"><base /></when>
                <when condition="@(b)"><set-header name="x" exists-action="override"><value>1</value></set-header></when>
            </choose></inbound></policies>
            """)
        let new = try tree(
            """
            <policies><inbound><choose>
                <when condition="@(a)"><base /></when>
                <when condition="@(b)"><set-header name="x" exists-action="append"><value>1</value></set-header></when>
            </choose></inbound></policies>
            """)
        let changes = SemanticDiff.compare(old, new)
        #expect(changes.count == 1)
        #expect(changes.first?.path == "inbound/choose[1]/when[2]/set-header[@name='x']")
        #expect(changes.first?.kind == .attributeChanged)
        #expect(changes.first?.attribute == "exists-action")
        #expect(changes.first?.old == "override")
        #expect(changes.first?.new == "append")
        #expect(changes.first?.newLine == 3)
    }

    @Test func expressionTextChangesAreReported() throws {
        let old = try tree("<policies><inbound><set-body>@{ return \"a\"; }</set-body></inbound></policies>")
        let new = try tree("<policies><inbound><set-body>@{ return \"b\"; }</set-body></inbound></policies>")
        let changes = SemanticDiff.compare(old, new)
        #expect(changes.map(\.kind) == [.textChanged])
        #expect(changes.first?.isExpression == true)
        #expect(changes.first?.path == "inbound/set-body[1]")
        // Whitespace inside an expression is part of it: byte for byte.
        let spaced = try tree("<policies><inbound><set-body>@{ return  \"a\"; }</set-body></inbound></policies>")
        #expect(SemanticDiff.compare(old, spaced).count == 1)
    }

    @Test func addedRemovedAndAttributeChanges() throws {
        let old = try tree(#"<policies><inbound><base /><rate-limit calls="10" renewal-period="60" /></inbound><outbound /></policies>"#)
        let new = try tree(
            #"<policies><inbound><base /><rate-limit calls="10" retry-after-header-name="x" /><set-header name="h" exists-action="delete" /></inbound><on-error /></policies>"#
        )
        let changes = SemanticDiff.compare(old, new)
        #expect(changes.contains { $0.kind == .attributeAdded && $0.attribute == "retry-after-header-name" && $0.path == "inbound/rate-limit[1]" })
        #expect(changes.contains { $0.kind == .attributeRemoved && $0.attribute == "renewal-period" })
        #expect(changes.contains { $0.kind == .added && $0.path == "inbound/set-header[@name='h']" })
        #expect(changes.contains { $0.kind == .removed && $0.path == "outbound" })
        #expect(changes.contains { $0.kind == .added && $0.path == "on-error" })
        #expect(changes.count == 5)
    }

    @Test func rootChange() throws {
        let changes = SemanticDiff.compare(try tree("<policies />"), try tree("<fragment />"))
        #expect(changes.map(\.kind) == [.rootChanged])
    }

    @Test func textAndCDATAAreTheSame() throws {
        let a = try tree("<policies><inbound><set-body>a &lt; b</set-body></inbound></policies>")
        let b = try tree("<policies><inbound><set-body><![CDATA[a < b]]></set-body></inbound></policies>")
        #expect(SemanticDiff.compare(a, b).isEmpty)
        #expect(Canonicalizer.canonicalText(a) == Canonicalizer.canonicalText(b))
    }
}

@Suite struct UnifiedDiffTests {
    @Test func equalTextsRenderNothing() {
        #expect(UnifiedDiff.render(old: "a\nb\n", new: "a\nb\n", oldName: "x", newName: "y").isEmpty)
    }

    @Test func rendersHunksWithContext() {
        let old = (1...20).map { "line \($0)" }.joined(separator: "\n") + "\n"
        var newLines = (1...20).map { "line \($0)" }
        newLines[4] = "changed 5"
        newLines.insert("inserted", at: 15)
        let new = newLines.joined(separator: "\n") + "\n"
        let expected = """
            --- old
            +++ new
            @@ -2,7 +2,7 @@
             line 2
             line 3
             line 4
            -line 5
            +changed 5
             line 6
             line 7
             line 8
            @@ -13,6 +13,7 @@
             line 13
             line 14
             line 15
            +inserted
             line 16
             line 17
             line 18

            """
        #expect(UnifiedDiff.render(old: old, new: new, oldName: "old", newName: "new") == expected)
    }

    @Test func emptySidesAndMissingFinalNewline() {
        #expect(UnifiedDiff.render(old: "", new: "a\n", oldName: "o", newName: "n") == "--- o\n+++ n\n@@ -0,0 +1 @@\n+a\n")
        #expect(UnifiedDiff.render(old: "a", new: "a\n", oldName: "o", newName: "n").contains("\\ No newline at end of file"))
    }

    @Test func colourIsOptional() {
        let coloured = UnifiedDiff.render(old: "a\n", new: "b\n", oldName: "o", newName: "n", color: true)
        #expect(coloured.contains("\u{1B}[31m-a"))
        #expect(coloured.contains("\u{1B}[32m+b"))
    }

    /// Random edits: the script rebuilds both sides and is as short as a longest common subsequence allows.
    @Test func editScriptsAreMinimal() {
        var random = SplitMix64(seed: 7)
        for _ in 0..<300 {
            let a = (0..<Int(random.next() % 30)).map { _ in Int(random.next() % 4) }
            let b = (0..<Int(random.next() % 30)).map { _ in Int(random.next() % 4) }
            let script = UnifiedDiff.edits(old: a, new: b)
            var rebuiltOld: [Int] = []
            var rebuiltNew: [Int] = []
            var equal = 0
            for edit in script {
                switch edit {
                case .equal(let i, let j):
                    #expect(a[i] == b[j])
                    rebuiltOld.append(a[i]); rebuiltNew.append(b[j]); equal += 1
                case .delete(let i): rebuiltOld.append(a[i])
                case .insert(let j): rebuiltNew.append(b[j])
                }
            }
            #expect(rebuiltOld == a)
            #expect(rebuiltNew == b)
            #expect(equal == lcsLength(a, b))
        }
    }

    private func lcsLength(_ a: [Int], _ b: [Int]) -> Int {
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                table[i][j] = a[i] == b[j] ? table[i + 1][j + 1] + 1 : max(table[i + 1][j], table[i][j + 1])
            }
        }
        return table[0][0]
    }
}

@Suite struct FormatterTests {
    @Test func canonicalLayoutKeepsExpressionsCommentsAndDeclaration() throws {
        let source = """
            <?xml version="1.0" encoding="utf-8"?>
            <!-- header -->
            <policies>
              <inbound>
                  <base/>   <!--  keep   me  -->
                <set-variable   name="a"  value="@(x["y"] < 2)"/>
                <set-body>@{
                return "<b>";
            }</set-body>
              </inbound>
            </policies>
            """
        let formatted = try PolicyFormatter.format(Array(source.utf8), path: "t.xml")
        let expected = """
            <?xml version="1.0" encoding="utf-8"?>
            <!-- header -->
            <policies>
                <inbound>
                    <base />
                    <!--  keep   me  -->
                    <set-variable name="a" value="@(x["y"] < 2)" />
                    <set-body>@{
                return "<b>";
            }</set-body>
                </inbound>
            </policies>

            """
        #expect(formatted == expected)
        #expect(try PolicyFormatter.format(Array(formatted.utf8), path: "t.xml") == formatted)
    }

    @Test func wellFormedFilesStayWellFormed() throws {
        let source = #"<policies><inbound><set-variable name="a" value="@(x[&quot;y&quot;] &lt; 2)" /></inbound></policies>"#
        let formatted = try PolicyFormatter.format(Array(source.utf8), path: "t.xml")
        #expect(formatted.contains(#"value="@(x[&quot;y&quot;] &lt; 2)""#))
        #expect(try read(formatted).sourceFormat == .escaped)
    }
}

@Suite struct FormatterSourceTests {
    @Test func expressionsKeepTheirSourceBytes() throws {
        let source = """
            <policies>
              <inbound>
                <get-authorization-context provider-id='@(context.Request.Headers["p"][0])' ignore-error='false' />
                <set-variable name="a" value="@(x &gt; 1 &amp;&amp; y)" />
              </inbound>
            </policies>
            """
        let formatted = try PolicyFormatter.format(Array(source.utf8), path: "t.xml")
        #expect(formatted.contains(#"provider-id='@(context.Request.Headers["p"][0])' ignore-error="false""#))
        #expect(formatted.contains(#"value="@(x &gt; 1 &amp;&amp; y)""#))
        let again = try read(formatted)
        #expect(again.sourceFormat == .escaped)
        #expect(SemanticDiff.compare(try read(source).root, again.root).isEmpty)
    }

    @Test func compilerOutputIsUnchangedByDefault() {
        let tree = XMLElement("policies", children: [.element(XMLElement("inbound", children: [.element(XMLElement("set-header", attributes: [XMLAttribute("name", "a")], text: "@(x < \"y\")"))]))])
        #expect(XMLWriter().write(tree) == "<policies>\n    <inbound>\n        <set-header name=\"a\">@(x < \"y\")</set-header>\n    </inbound>\n</policies>\n")
        #expect(XMLWriter(format: .escaped).write(tree).contains("@(x &lt; \"y\")"))
    }
}

@Suite struct LargeDiffTests {
    @Test func veryDifferentLargeTextsStayCheap() {
        let old = (0..<3_000).map { "old \($0)" }.joined(separator: "\n") + "\n"
        let new = (0..<3_000).map { "new \($0)" }.joined(separator: "\n") + "\n"
        let rendered = UnifiedDiff.render(old: old, new: new, oldName: "a", newName: "b")
        #expect(rendered.hasPrefix("--- a\n+++ b\n@@ -1,3000 +1,3000 @@\n-old 0\n"))
    }
}
