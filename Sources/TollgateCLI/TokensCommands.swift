// `tollgate tokens count` and `tollgate encodings install`.
//
// Exit codes: 0 ok; 1 failure in the input (disallowed special token, wrong
// hash, unknown token id…); 2 usage error or unreadable input.
import ArgumentParser
import Foundation
import Tokenizer

/// Writes a line to standard error.
private func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// `tollgate tokens …`
public struct TokensCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "Count tokens exactly like tiktoken (cl100k_base, o200k_base).",
        subcommands: [Count.self]
    )

    public init() {}

    /// `tollgate tokens count [--encoding E | --model M] [--ids] [--chat] [FILE|-]`
    public struct Count: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "count",
            abstract: "Print the number of tokens of a text, or of a chat-completions request with --chat.",
            discussion: """
            Reads FILE, or standard input when FILE is '-' or omitted. Invalid UTF-8 is \
            replaced by U+FFFD as Python does. Special-token text such as <|endoftext|> is \
            an error unless --allow-special lets it through (as special tokens) or \
            --ordinary counts it as ordinary text (tiktoken's encode_ordinary). Encodings \
            are read from --encodings-dir, $TOLLGATE_ENCODINGS_DIR or ~/.cache/tollgate/encodings \
            (see `tollgate encodings install`).
            """
        )

        @Option(help: "Encoding name: cl100k_base or o200k_base (default: from --model, else o200k_base).")
        var encoding: String?

        @Option(help: "Model name, e.g. gpt-4o or gpt-4; picks the encoding (and the chat rules with --chat).")
        var model: String?

        @Flag(help: "Print the token ids (space-separated) instead of the count.")
        var ids = false

        @Flag(help: "Treat the input as a chat-completions request JSON and print its prompt tokens.")
        var chat = false

        @Flag(help: "Count special-token text as ordinary text (tiktoken's encode_ordinary).")
        var ordinary = false

        @Option(name: .customLong("allow-special"), help: "Allow a special token ('all' for every one); repeatable.")
        var allowSpecial: [String] = []

        @Option(name: .customLong("encodings-dir"), help: "Directory holding <name>.tiktoken files.")
        var encodingsDir: String?

        @Flag(help: "Print elapsed_s=<seconds> of the in-process work to standard error.")
        var timing = false

        @Argument(help: "Input file, or '-' for standard input.")
        var file: String?

        public init() {}

        public func run() async throws {
            let directory = encodingsDir.map { URL(fileURLWithPath: $0, isDirectory: true) }
            if chat {
                let input = try readInput()
                try runChat(input, directory: directory)
                return
            }
            let name: EncodingName
            if let encoding {
                guard let n = EncodingName(rawValue: encoding) else {
                    printError("error: unknown encoding '\(encoding)' (known: cl100k_base, o200k_base)")
                    throw ExitCode(2)
                }
                name = n
            } else if let model {
                guard let n = Encoding.name(forModel: model) else {
                    printError("error: no encoding is known for model '\(model)'; use --encoding")
                    throw ExitCode(2)
                }
                name = n
            } else {
                name = .o200k_base
            }
            let input = try readInput()
            let enc = try loadEncoding(name, directory: directory)
            let start = Date()
            defer {
                if timing { printError("elapsed_s=\(String(format: "%.6f", Date().timeIntervalSince(start)))") }
            }
            let text = String(decoding: input, as: UTF8.self)
            let allowed: SpecialTokenSet = allowSpecial.contains("all") ? .all : .only(Set(allowSpecial))
            do {
                if ids {
                    let tokens = ordinary
                        ? enc.encodeOrdinary(text)
                        : try enc.encode(text, allowedSpecial: allowed, disallowedSpecial: .all)
                    print(tokens.map(String.init).joined(separator: " "))
                } else {
                    let n = ordinary
                        ? enc.count(text)
                        : try enc.count(text, allowedSpecial: allowed, disallowedSpecial: .all)
                    print(n)
                }
            } catch {
                printError("error: \(error)")
                throw ExitCode(1)
            }
        }

        private func readInput() throws -> Data {
            do {
                if let file, file != "-" {
                    let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: file))
                    defer { try? handle.close() }
                    return try handle.readToEnd() ?? Data()
                }
                return try FileHandle.standardInput.readToEnd() ?? Data()
            } catch {
                printError("error: cannot read \(file ?? "-"): \(error.localizedDescription)")
                throw ExitCode(2)
            }
        }

        private func runChat(_ input: Data, directory: URL?) throws {
            if ids {
                printError("error: --ids cannot be combined with --chat")
                throw ExitCode(2)
            }
            let object: [String: Any]
            do {
                guard let o = try JSONSerialization.jsonObject(with: input) as? [String: Any] else {
                    printError("error: the chat request is not a JSON object")
                    throw ExitCode(1)
                }
                object = o
            } catch let e as ExitCode {
                throw e
            } catch {
                printError("error: the chat request is not valid JSON: \(error.localizedDescription)")
                throw ExitCode(1)
            }
            guard let modelName = model ?? object["model"] as? String else {
                printError("error: --chat needs --model or a \"model\" field in the request")
                throw ExitCode(2)
            }
            let encName: EncodingName
            if let encoding {
                guard let n = EncodingName(rawValue: encoding) else {
                    printError("error: unknown encoding '\(encoding)' (known: cl100k_base, o200k_base)")
                    throw ExitCode(2)
                }
                encName = n
            } else if let n = Encoding.name(forModel: modelName) {
                encName = n
            } else {
                printError("error: no encoding is known for model '\(modelName)'; use --encoding")
                throw ExitCode(2)
            }
            let counter = ChatTokenCounter(
                encoding: try loadEncoding(encName, directory: directory), rules: ChatRules.forModel(modelName))
            do {
                let result = try counter.countRequest(object)
                for note in result.notes { printError(note) }
                print(result.tokens)
            } catch {
                printError("error: \(error)")
                throw ExitCode(1)
            }
        }

        private func loadEncoding(_ name: EncodingName, directory: URL?) throws -> Encoding {
            do {
                return try Encoding.load(name, directory: directory)
            } catch {
                printError("error: \(error)")
                if case .hashMismatch = error { throw ExitCode(1) }
                if case .malformedEncodingFile = error { throw ExitCode(1) }
                throw ExitCode(2)
            }
        }
    }
}

/// `tollgate encodings …`
public struct EncodingsCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "encodings",
        abstract: "Manage the tokenizer's encoding files (cl100k_base, o200k_base).",
        subcommands: [Install.self]
    )

    public init() {}

    /// `tollgate encodings install [--from DIR] [--dir DIR] [NAME…]`
    public struct Install: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "install",
            abstract: "Download (or copy with --from) the encoding files and verify their SHA-256.",
            discussion: """
            Downloads from the official public location tiktoken uses \
            (https://openaipublic.blob.core.windows.net/encodings/<name>.tiktoken) with curl, \
            or copies <name>.tiktoken from --from DIR (an offline copy). Every file is checked \
            against its published SHA-256 before it is installed into --dir, \
            $TOLLGATE_ENCODINGS_DIR or ~/.cache/tollgate/encodings.
            """
        )

        @Option(help: "Copy the files from this directory instead of downloading them.")
        var from: String?

        @Option(help: "Install into this directory (default: $TOLLGATE_ENCODINGS_DIR or ~/.cache/tollgate/encodings).")
        var dir: String?

        @Flag(help: "Reinstall even when a valid file is already installed.")
        var force = false

        @Argument(help: "Encodings to install (default: all).")
        var names: [String] = []

        public init() {}

        public func run() async throws {
            var selected: [EncodingName] = []
            for n in names {
                guard let e = EncodingName(rawValue: n) else {
                    printError("error: unknown encoding '\(n)' (known: cl100k_base, o200k_base)")
                    throw ExitCode(2)
                }
                selected.append(e)
            }
            if selected.isEmpty { selected = EncodingName.allCases }
            let destination = dir.map { URL(fileURLWithPath: $0, isDirectory: true) } ?? Encoding.defaultDirectory()
            do {
                try FileManager.default.createDirectory(at: destination, withIntermediateDirectories: true)
            } catch {
                printError("error: cannot create \(destination.path): \(error.localizedDescription)")
                throw ExitCode(2)
            }
            var failed = false
            for name in selected {
                let target = destination.appendingPathComponent(name.fileName)
                if !force, let existing = try? Data(contentsOf: target), SHA256.hexDigest(existing) == name.sha256 {
                    print("\(name.rawValue): already installed at \(target.path)")
                    continue
                }
                let data: Data
                if let from {
                    let source = URL(fileURLWithPath: from, isDirectory: true).appendingPathComponent(name.fileName)
                    guard let d = try? Data(contentsOf: source) else {
                        printError("error: cannot read \(source.path)")
                        throw ExitCode(2)
                    }
                    data = d
                } else {
                    guard let d = download(name.downloadURL) else {
                        printError("error: download of \(name.downloadURL.absoluteString) failed")
                        failed = true
                        continue
                    }
                    data = d
                }
                let digest = SHA256.hexDigest(data)
                guard digest == name.sha256 else {
                    printError("error: \(name.fileName) has SHA-256 \(digest), expected \(name.sha256) (wrong or truncated file); not installed")
                    failed = true
                    continue
                }
                do {
                    try data.write(to: target, options: .atomic)
                } catch {
                    printError("error: cannot write \(target.path): \(error.localizedDescription)")
                    throw ExitCode(2)
                }
                print("\(name.rawValue): installed \(target.path) (sha256 \(digest))")
            }
            if failed { throw ExitCode(1) }
        }

        /// Downloads with curl (no networking dependency in the tokenizer).
        private func download(_ url: URL) -> Data? {
            let tmp = FileManager.default.temporaryDirectory
                .appendingPathComponent("tollgate-\(UUID().uuidString).tiktoken")
            defer { try? FileManager.default.removeItem(at: tmp) }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["curl", "-fsSL", "--retry", "2", "-o", tmp.path, url.absoluteString]
            do {
                try p.run()
            } catch {
                printError("error: cannot run curl: \(error.localizedDescription)")
                return nil
            }
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { return nil }
            return try? Data(contentsOf: tmp)
        }
    }
}
