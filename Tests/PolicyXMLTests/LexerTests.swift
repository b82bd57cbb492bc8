import Testing

@testable import PolicyXML

@Suite struct LexerTests {
    /// The expression found at the start of `text` (text may continue after it).
    private func lexed(_ text: String) throws -> String {
        try ExpressionLexer.expression(atStartOf: text)
    }

    @Test(arguments: [
        // Plain balancing, generics and named values.
        ("@(context.User.Id)", "@(context.User.Id)"),
        ("@(x.As<JObject>()[\"a\"])tail", "@(x.As<JObject>()[\"a\"])"),
        ("@{ if (a) { return 1; } return 2; }</set-body>", "@{ if (a) { return 1; } return 2; }"),
        ("@({{retry-count}} + 1)\"", "@({{retry-count}} + 1)"),
        ("@{ var x = {{a-b.c_d}}; return x; }", "@{ var x = {{a-b.c_d}}; return x; }"),
        // Regular strings: brackets, quotes and escapes inside.
        ("@(\"a)b\" + c)\" />", "@(\"a)b\" + c)"),
        ("@(\"a\\\")b\")x", "@(\"a\\\")b\")"),
        ("@(\"{{not-a-brace\")x", "@(\"{{not-a-brace\")"),
        // Verbatim strings with doubled quotes and line breaks.
        ("@(@\"a\"\")b\")x", "@(@\"a\"\")b\")"),
        ("@(@\"line1\n)line2\")x", "@(@\"line1\n)line2\")"),
        // Interpolated strings, nested, with literal braces and format specifiers.
        ("@($\"x{(a)}y\")z", "@($\"x{(a)}y\")"),
        ("@($\"a{ $\"b{c(\")\")}\" }d\")z", "@($\"a{ $\"b{c(\")\")}\" }d\")"),
        ("@($\"{{x)\")z", "@($\"{{x)\")"),
        ("@($\"{d:yyyy-MM-dd}\")z", "@($\"{d:yyyy-MM-dd}\")"),
        ("@($@\"a\"\"{b}\"\")\")z", "@($@\"a\"\"{b}\"\")\")"),
        ("@(@$\"a\n{b}\n)\")z", "@(@$\"a\n{b}\n)\")"),
        // Character literals.
        ("@(c == ')')x", "@(c == ')')"),
        ("@(c == '\\'' || c == '(')x", "@(c == '\\'' || c == '(')"),
        ("@(c == '\\u0029')x", "@(c == '\\u0029')"),
        // Comments.
        ("@{ // ) } \"\n return 1; }x", "@{ // ) } \"\n return 1; }"),
        ("@{ /* } ) \" */ return 1; }x", "@{ /* } ) \" */ return 1; }"),
    ])
    func findsTheEnd(input: String, expected: String) throws {
        #expect(try lexed(input) == expected)
    }

    @Test(arguments: [
        ("@(a", 0, "never closed"),
        ("@{ return (1; }", 14, "unexpected '}'; expected ')'"),
        ("@(a]", 3, "unexpected ']'"),
        ("@(\"abc)", 2, "unterminated string literal"),
        ("@(\"abc\n\")", 2, "unterminated string literal"),
        ("@(@\"abc)", 2, "unterminated verbatim string literal"),
        ("@(c == 'a)", 7, "unterminated character literal"),
        ("@{ /* }", 3, "unterminated comment"),
        ("@($\"a{b", 0, "never closed"),
        ("@($\"a\nb\")", 5, "newline in interpolated string"),
        ("(a)", 0, "expected '@(' or '@{'"),
    ])
    func reportsUnbalancedInput(input: String, offset: Int, message: String) {
        #expect {
            _ = try ExpressionLexer.expression(atStartOf: input)
        } throws: { error in
            guard let error = error as? ExpressionLexError else { return false }
            return error.offset == offset && error.message.contains(message)
        }
    }

    @Test func deepNestingDoesNotOverflow() throws {
        let deep = "@(" + String(repeating: "(", count: 200_000)
        #expect(throws: ExpressionLexError.self) { try ExpressionLexer.expression(atStartOf: deep) }
        let balanced = "@(" + String(repeating: "(", count: 100_000) + String(repeating: ")", count: 100_001)
        #expect(try ExpressionLexer.expressionLength(in: Array(balanced.utf8), from: 0) == balanced.utf8.count)
    }

    @Test func reportsWhereTheInnermostBracketOpened() {
        #expect {
            _ = try ExpressionLexer.expression(atStartOf: "@{ if (a) { x(")
        } throws: { error in
            (error as? ExpressionLexError)?.relatedOffset == 13
        }
    }
}
