import Testing

@testable import PolicyXML

/// Parses a string; the path in errors is `test.xml`.
func read(_ text: String) throws -> PolicyFile {
    try PolicyReader.parseDocument(Array(text.utf8), path: "test.xml")
}

/// The error for a string that must not parse.
func readError(_ bytes: [UInt8]) -> PolicyParseError? {
    do {
        _ = try PolicyReader.parseDocument(bytes, path: "test.xml")
        return nil
    } catch {
        return error
    }
}

func readError(_ text: String) -> PolicyParseError? { readError(Array(text.utf8)) }

@Suite struct ReaderTests {
    @Test func rawAttributeExpressionsKeepQuotesAndOperators() throws {
        let file = try read(
            """
            <policies>
                <inbound>
                    <set-variable name="x" value="@(context.Variables.GetValueOrDefault<string>("a", "") != "" && 1 < 2)" />
                </inbound>
            </policies>
            """)
        let element = file.root.elements[0].elements[0]
        #expect(element[attribute: "value"] == #"@(context.Variables.GetValueOrDefault<string>("a", "") != "" && 1 < 2)"#)
        #expect(file.sourceFormat == .raw)
        #expect(file.expressions.count == 1)
        #expect(file.expressions[0].position == SourcePosition(line: 3, column: 39))
    }

    @Test func rawTextExpressionWithMarkupInStrings() throws {
        let body = """
            @{
                    var body = context.Request.Body.As<JObject>(preserveContent: true);
                    return "<value>" + body["a"] + "</value>"; // </set-body>
                }
            """
        let file = try read("<policies><inbound><set-body>\(body)</set-body></inbound></policies>")
        #expect(file.root.elements[0].elements[0].text == body)
    }

    @Test func singleQuotedAttributeWithDoubleQuotesInside() throws {
        let file = try read(#"<policies><inbound><set-header name="a" exists-action='override'><value>x</value></set-header><set-variable name="b" value='@(x["y"])' /></inbound></policies>"#)
        #expect(file.root.elements[0].elements[1][attribute: "value"] == #"@(x["y"])"#)
        #expect(file.sourceFormat == .escaped)
    }

    @Test func escapedExpressionsAreDecoded() throws {
        let file = try read(
            """
            <policies><inbound><choose><when condition="@(a &lt; b &amp;&amp; c == &quot;x&quot;)">\
            <set-variable name="v" value="@{&#10;  // it's a comment&#10;  return 1;&#10;}" /></when></choose></inbound></policies>
            """)
        let when = file.root.elements[0].elements[0].elements[0]
        #expect(when[attribute: "condition"] == #"@(a < b && c == "x")"#)
        #expect(when.elements[0][attribute: "value"] == "@{\n  // it's a comment\n  return 1;\n}")
        #expect(file.sourceFormat == .escaped)
    }

    @Test func multiLineAttributeExpressionKeepsLineBreaksAndFoldsCRLF() throws {
        let file = try read("<policies>\r\n<inbound><set-variable name=\"a\" value=\"@{\r\n  return \"x\";\r\n}\" />\r\n</inbound></policies>")
        #expect(file.root.elements[0].elements[0][attribute: "value"] == "@{\n  return \"x\";\n}")
        #expect(file.expressions[0].source.contains("\r\n"))
    }

    @Test func namedValuesAnywhere() throws {
        let file = try read(
            #"<policies><inbound><retry count="{{retries}}" interval="1"><set-variable name="a" value="@("{{nv}}" + {{other}})" /></retry></inbound></policies>"#
        )
        let retry = file.root.elements[0].elements[0]
        #expect(retry[attribute: "count"] == "{{retries}}")
        #expect(retry.elements[0][attribute: "value"] == #"@("{{nv}}" + {{other}})"#)
    }

    @Test func positionsOfElementsAndAttributes() throws {
        let file = try read(
            """
            <policies>
              <inbound>
                <set-body>@{
                  return "é<";
                }</set-body>   <set-header name="h"
                    exists-action="override" />
              </inbound>
            </policies>
            """)
        #expect(file.root.position == SourcePosition(line: 1, column: 1))
        let inbound = file.root.elements[0]
        #expect(inbound.position == SourcePosition(line: 2, column: 3))
        let header = inbound.elements[1]
        #expect(header.position == SourcePosition(line: 5, column: 20))
        #expect(header.attributes[0].position == SourcePosition(line: 5, column: 32))
        #expect(header.attributes[1].position == SourcePosition(line: 6, column: 9))
    }

    @Test func declarationAndCommentsAroundTheRootAreKept() throws {
        let file = try read("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- top -->\n<fragment><base-x /></fragment>\n<!-- end -->\n")
        #expect(file.declaration == "<?xml version=\"1.0\" encoding=\"utf-8\"?>")
        #expect(file.leadingComments == [" top "])
        #expect(file.trailingComments == [" end "])
        #expect(file.root.name == "fragment")
    }

    @Test func commentsAndCDATAAreByteExact() throws {
        let file = try read("<policies><inbound><!-- a <b> & \"c\" --><set-body><![CDATA[{{ x }} <y> & ]]></set-body></inbound></policies>")
        let inbound = file.root.elements[0]
        #expect(inbound.children[0] == .comment(" a <b> & \"c\" "))
        #expect(inbound.elements[0].children == [.cdata("{{ x }} <y> & ")])
    }

    @Test func byteOrderMarkIsAccepted() throws {
        let file = try PolicyReader.parse([0xEF, 0xBB, 0xBF] + Array("<policies />".utf8), path: "bom.xml")
        #expect(file.name == "policies")
    }

    // MARK: Errors

    @Test func doctypeIsRejected() {
        let error = readError("<?xml version=\"1.0\"?>\n<!DOCTYPE policies [<!ENTITY x \"y\">]>\n<policies>&x;</policies>")
        #expect(error?.kind == .doctype)
        #expect(error?.line == 2)
        #expect(error?.column == 1)
        #expect(error?.description.hasPrefix("test.xml:2:1: error: DOCTYPE") == true)
    }

    @Test func undefinedEntitiesAreRejected() {
        let error = readError("<policies>\n  <inbound>&xxe;</inbound>\n</policies>")
        #expect(error?.kind == .doctype)
        #expect(error?.line == 2)
    }

    @Test func invalidUTF8IsRejectedWithItsPosition() {
        let bytes = Array("<policies>\n<inbound>\n  <x a=\"".utf8) + [0xC3, 0x28] + Array("\" />\n</inbound></policies>".utf8)
        let error = readError(bytes)
        #expect(error?.kind == .encoding)
        #expect(error?.line == 3)
        #expect(error?.column == 9)
    }

    @Test func utf16IsRejected() {
        #expect(readError([0xFF, 0xFE, 0x3C, 0x00])?.kind == .encoding)
    }

    @Test func truncatedUTF8IsRejected() {
        #expect(readError(Array("<policies>".utf8) + [0xE2, 0x82])?.kind == .encoding)
    }

    @Test func unclosedElementIsReportedWhereItOpens() {
        let error = readError(
            """
            <policies>
                <inbound>
                    <set-header name="a" exists-action="override">
                        <value>x</value>
                </inbound>
            </policies>
            """)
        #expect(error?.kind == .tagMismatch)
        #expect(error?.line == 3)
        #expect(error?.notes.first?.contains("test.xml:5:5") == true)
    }

    @Test func mismatchedEndTagIsReportedWhereItIs() {
        let error = readError("<policies>\n  <inbound>\n    <base />\n  </outbound>\n</policies>")
        #expect(error?.kind == .tagMismatch)
        #expect(error?.line == 4)
        #expect(error?.column == 3)
        #expect(error?.message.contains("</outbound>") == true)
    }

    @Test func fileEndingInsideAnElement() {
        let error = readError("<policies>\n  <inbound>\n    <base />\n")
        #expect(error?.kind == .tagMismatch)
        #expect(error?.line == 2)
    }

    @Test func unbalancedExpressionIsReportedAtItsStart() {
        let error = readError("<policies>\n  <inbound>\n    <set-variable name=\"a\" value=\"@(foo(1)\" />\n  </inbound>\n</policies>")
        #expect(error?.kind == .expression)
        #expect(error?.line == 3)
        #expect(error?.column == 35)
        #expect(error?.message.contains("not complete before the closing quote") == true)
        #expect(error?.message.contains("never closed") == true)
        #expect(error?.notes.contains { $0.contains("test.xml:3:43: the attribute value ends here") } == true)
        let attributeAtEnd = readError("<policies>\n  <inbound>\n    <set-variable name=\"a\" value=\"@(foo(1)\" />")
        #expect(attributeAtEnd?.kind == .expression)
        #expect(attributeAtEnd?.line == 3)
    }

    @Test func unterminatedStringInsideExpression() {
        let error = readError("<policies><inbound><set-body>@{\n  return \"abc;\n}</set-body></inbound></policies>")
        #expect(error?.kind == .expression)
        #expect(error?.line == 2)
        #expect(error?.column == 10)
    }

    @Test func libxml2ErrorsAreMappedBackThroughMultiLineExpressions() {
        // The placeholder is shorter than the expression; the error column must still be the original one.
        let error = readError("<policies><inbound><set-body>@{\n  return \"<x>\";\n}</set-body><set-header name=\"a&b\" /></inbound></policies>")
        #expect(error?.kind == .syntax)
        #expect(error?.line == 3)
        #expect((error?.column ?? 0) >= 30)
    }

    @Test func wrongRootIsReported() {
        let error = readError("<policy><inbound /></policy>")
        #expect(error?.kind == .structure)
        #expect(error?.message.contains("<policies> or <fragment>") == true)
    }

    @Test func emptyFileIsReported() {
        #expect(readError("  \n")?.kind == .structure)
    }

    @Test func processingInstructionsInsideAreRejected() {
        let error = readError("<policies>\n  <?pi x?></policies>")
        #expect(error?.kind == .structure)
        #expect(error?.line == 2)
        #expect(error?.column == 3)
        #expect(readError("<?xml version=\"1.0\"?>\n<?xml-stylesheet href=\"a\"?>\n<policies />")?.line == 2)
    }

    /// The error handler is per parser context: parallel parses never mix up their errors.
    @Test func parallelParsesKeepTheirOwnErrors() async {
        await withTaskGroup(of: Bool.self) { group in
            for index in 0..<64 {
                group.addTask {
                    if index % 2 == 0 {
                        let error = readError("<policies>\n\(String(repeating: "\n", count: index))<a b=\"1\" b=\"2\" /></policies>")
                        return error?.line == index + 2 && error?.kind == .syntax
                    }
                    return (try? read("<policies><inbound><set-body>@(\"\(index)\")</set-body></inbound></policies>")) != nil
                }
            }
            for await ok in group { #expect(ok) }
        }
    }
}

@Suite struct CommentErrorTests {
    @Test func unclosedCommentFollowedByAnotherComment() {
        let error = readError("<!-- one\n<!-- two -->\n<policies />")
        #expect(error?.kind == .syntax)
        #expect(error?.line == 2)
        #expect(error?.column == 3)
        #expect(error?.notes.first?.contains("test.xml:1:1") == true)
    }

    @Test func commentNeverClosed() {
        #expect(readError("<policies>\n<!-- x\n</policies>")?.line == 2)
    }
}

/// Inputs the fuzz test found; each must either be rejected or survive a write/read round trip.
@Suite struct FuzzRegressionTests {
    private func roundTrips(_ text: String) throws -> Bool {
        let file = try read(text)
        for format in XMLWriter.Format.allCases {
            let again = try read(PolicyFormatter.format(file, as: format))
            if !SemanticDiff.compare(file.root, again.root).isEmpty { return false }
        }
        return true
    }

    @Test func valueThatOnlyStartsLikeAnExpressionIsRejected() {
        let error = readError(#"<policies><inbound><when condition="@(a)b() &lt;= 3)" /></inbound></policies>"#)
        #expect(error?.kind == .expression)
        #expect(error?.message.contains("attribute 'condition'") == true)
        #expect(readError("<policies><inbound><set-body>@(a) + @(b)</set-body></inbound></policies>")?.kind == .expression)
    }

    @Test func carriageReturnEndsAStringLiteral() {
        #expect(readError("<policies><inbound><set-body>@(\"a\rb\")</set-body></inbound></policies>")?.kind == .expression)
    }

    @Test func referenceThatBreaksTheExpressionWhenDecodedIsKeptAsWritten() throws {
        let text = #"<policies><inbound><set-header name="a" exists-action="override"><value>@("Be&#10;arer " + x)</value></set-header></inbound></policies>"#
        let file = try read(text)
        #expect(file.root.elements[0].elements[0].elements[0].text == #"@("Be&#10;arer " + x)"#)
        #expect(file.sourceFormat == .raw)
        #expect(try roundTrips(text))
    }

    @Test func isPolicyExpressionNeedsOneCompleteExpression() {
        #expect("@(a)".isPolicyExpression)
        #expect(" @{ return 1; } ".isPolicyExpression)
        #expect(!"@(a) + @(b)".isPolicyExpression)
        #expect(!"@{ // x }".isPolicyExpression)
        #expect(!"(a)".isPolicyExpression)
    }
}

@Suite struct ScaleTests {
    /// Large inputs with many ampersands, comments and expressions are read in linear time.
    @Test func largeInputsStayFast() throws {
        let expression = "@(" + String(repeating: "a && ", count: 20_000) + "b)"
        var text = "<policies><inbound>"
        for index in 0..<2_000 {
            text += "<!-- \(index) --><set-variable name=\"v\(index)\" value=\"@(context.Variables[\"x\"] &lt; \(index))\" />\n"
        }
        text += "<set-body>\(expression)</set-body></inbound></policies>"
        let clock = ContinuousClock()
        let started = clock.now
        let file = try read(text)
        #expect(file.root.elements[0].elements.count == 2_001)
        #expect(file.expressions.count == 2_001)
        #expect(clock.now - started < .seconds(5))
    }
}

@Suite struct WhitespaceAroundExpressionTests {
    @Test func whitespaceAroundAnAttributeExpressionIsNotPartOfIt() throws {
        let escaped = try read(#"<policies><inbound><dimension name="ip" value="@(context.Request.IpAddress)&#10;" /></inbound></policies>"#)
        let raw = try read("<policies><inbound><dimension name=\"ip\" value=\"  @(context.Request.IpAddress)\n\" /></inbound></policies>")
        #expect(escaped.root.elements[0].elements[0][attribute: "value"] == "@(context.Request.IpAddress)")
        #expect(raw.root.elements[0].elements[0][attribute: "value"] == "@(context.Request.IpAddress)")
    }
}
